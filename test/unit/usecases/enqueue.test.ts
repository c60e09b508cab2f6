import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { escapedJsonBytes } from '../../../shared/domain/pack.ts';
import {
  LAMBDA_PAYLOAD_BYTES,
  SQS_EVENT_RECORD_OVERHEAD_BYTES,
  SQS_MAX_MESSAGE_BYTES,
} from '../../../shared/pipeline/load-batching.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordEnvelope } from '../../../shared/records/envelope.ts';
import { parseLoadMessage } from '../../../shared/records/messages.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { enqueueRecords } from '../../../shared/usecases/enqueue.ts';

const PIPELINE = 'users';
const SCOPE = 'RUN#run-1';

const pipeline = (over: Partial<PipelineInput> = {}) =>
  pipelineSchema.parse({
    name: PIPELINE,
    source: { type: 'postgres', connection: { secret: 'esync/users-db' }, table: 'users', key: ['id'] },
    target: { type: 'dynamodb' },
    ...over,
  });

/** A user of about 1 KB as JSON, quotes and a non-ASCII name included, as the benchmark's. */
function user(id: number): RecordEnvelope {
  const at = new Date(Date.UTC(2026, 10, 1) + id * 1000).toISOString();
  return makeEnvelope({
    key: String(id),
    op: 'upsert',
    version: `${at}#${id}`,
    ts: at,
    data: {
      id,
      email: `user${id}@example.com`,
      name: `Zoë "${id}" Müller`,
      bio: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6'.repeat(22),
      updated_at: at,
    },
    provenance: { pipeline: PIPELINE, runId: 'run-1', initial: true },
  });
}

/** Deps that keep what Extract registers and sends, for a pipeline in the catalog. */
function capturingDeps(p: ReturnType<typeof pipeline>) {
  const sent: { entries: number; bytes: number; bodies: string[] }[] = [];
  const registered: number[] = [];
  const deps = {
    catalog: { get: () => p },
    config: { queueUrlPrefix: 'https://sqs.local/000000000000/', stage: 'dev', dataBucket: 'data' },
    state: {
      ledger: {
        register: async (_scope: string, entries: readonly unknown[]) => {
          registered.push(entries.length);
        },
      },
    },
    clients: {
      sqs: {
        send: async (command: { input: { Entries: { MessageBody: string }[] } }) => {
          const bodies = command.input.Entries.map((e) => e.MessageBody);
          sent.push({
            entries: bodies.length,
            bytes: bodies.reduce((n, b) => n + Buffer.byteLength(b), 0),
            bodies,
          });
          return { Successful: [], Failed: [] };
        },
      },
    },
  } as unknown as Deps;
  return { deps, sent, registered };
}

/** The SQS event Lambda would get for `bodies`, its fields at the sizes AWS gives them. */
function sqsEvent(bodies: readonly string[]): SQSEvent {
  const record = (body: string, i: number): SQSRecord => ({
    messageId: `059f36b4-87a3-44ab-83d2-66${String(i).padStart(10, '0')}`,
    receiptHandle: 'AQEB'.padEnd(400, 'x'),
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1764000000000',
      SenderId: 'AROAEXAMPLE:esync-dev-extract',
      ApproximateFirstReceiveTimestamp: '1764000000001',
      AWSTraceHeader: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1',
    },
    messageAttributes: {},
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:esync-dev-users-load',
    awsRegion: 'us-east-1',
  });
  return { Records: bodies.map(record) };
}

describe('enqueueRecords', () => {
  it('keeps load.batchSize messages within Lambda’s payload limit when the queue would take larger ones', async () => {
    // Prepare
    const p = pipeline({ batch: { size: 1000 }, load: { batchSize: 10 } });
    const { deps, sent } = capturingDeps(p);
    const records = Array.from({ length: 3000 }, (_, i) => user(i + 1));

    // Act
    const result = await enqueueRecords(deps, PIPELINE, SCOPE, records);

    // Assess
    const bodies = sent.flatMap((s) => s.bodies);
    const largest = [...bodies].sort((a, b) => escapedJsonBytes(b) - escapedJsonBytes(a)).slice(0, 10);
    expect(Buffer.byteLength(JSON.stringify(sqsEvent(largest)))).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
    for (const body of bodies) {
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(SQS_MAX_MESSAGE_BYTES);
      expect(10 * (escapedJsonBytes(body) + SQS_EVENT_RECORD_OVERHEAD_BYTES)).toBeLessThanOrEqual(
        LAMBDA_PAYLOAD_BYTES,
      );
    }
    // Full: each message but the last would have gone over its share with one more record.
    const share = LAMBDA_PAYLOAD_BYTES / 10 - SQS_EVENT_RECORD_OVERHEAD_BYTES;
    const oneRecord = escapedJsonBytes(JSON.stringify(records[0])) + 1;
    for (const body of bodies.slice(0, -1)) expect(escapedJsonBytes(body) + oneRecord).toBeGreaterThan(share);
    expect(result).toMatchObject({ records: 3000, messages: bodies.length, claimChecks: 0 });
  });

  it('holds a webhook pipeline’s messages to the share of the batch size its source gives (10), not the polled default', async () => {
    // Prepare
    const p = pipeline({
      source: { type: 'webhook', key: ['id'] },
      triggers: { webhook: { signature: 'standard-webhooks', secret: 'hook' } },
      batch: { size: 1000 },
    });
    const { deps, sent } = capturingDeps(p);
    const records = Array.from({ length: 6000 }, (_, i) => user(i + 1));

    // Act
    await enqueueRecords(deps, PIPELINE, SCOPE, records);

    // Assess
    expect(p.load.batchSize).toBe(10);
    const bodies = sent.flatMap((s) => s.bodies);
    for (const body of bodies)
      expect(10 * (escapedJsonBytes(body) + SQS_EVENT_RECORD_OVERHEAD_BYTES)).toBeLessThanOrEqual(
        LAMBDA_PAYLOAD_BYTES,
      );
    const largest = [...bodies].sort((a, b) => escapedJsonBytes(b) - escapedJsonBytes(a)).slice(0, 10);
    expect(largest).toHaveLength(10);
    expect(Buffer.byteLength(JSON.stringify(sqsEvent(largest)))).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
  });

  it('sends the default pipeline’s 1 KB records 500 to a message, two messages making an invocation within the limit', async () => {
    // Prepare
    const p = pipeline();
    const { deps, sent, registered } = capturingDeps(p);
    const records = Array.from({ length: 2300 }, (_, i) => user(i + 1));

    // Act
    await enqueueRecords(deps, PIPELINE, SCOPE, records);

    // Assess
    const bodies = sent.flatMap((s) => s.bodies);
    const counts = bodies.map((b) => {
      const parsed = parseLoadMessage(JSON.parse(b));
      return parsed.success && parsed.data.kind === 'records' ? parsed.data.records.length : 0;
    });
    expect(counts).toEqual([p.batch.size, p.batch.size, p.batch.size, p.batch.size, 300]);
    expect(registered.reduce((n, r) => n + r, 0)).toBe(bodies.length);
    for (let i = 0; i + p.load.batchSize <= bodies.length; i++)
      expect(
        Buffer.byteLength(JSON.stringify(sqsEvent(bodies.slice(i, i + p.load.batchSize)))),
      ).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
    for (const batch of sent) {
      expect(batch.entries).toBeLessThanOrEqual(10);
      expect(batch.bytes).toBeLessThanOrEqual(SQS_MAX_MESSAGE_BYTES);
    }
  });
});
