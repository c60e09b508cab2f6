import { SendMessageCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadQueueName } from '../../shared/naming.ts';
import { keys } from '../../shared/state/keys.ts';
import { createKeyedTable } from '../support/dynamodb-tables.ts';
import { putStockChanges } from '../support/e2e-events.ts';
import {
  callApi,
  createProject,
  E2E_PRINCIPAL,
  type E2eProject,
  type E2eStack,
  eventually,
  listKeys,
  readObject,
  scanTable,
  startE2eStack,
} from '../support/e2e-stack.ts';

const PIPELINE = 'stock-mirror';
/** The table the pipeline writes; the test creates it only once the message is dead-lettered. */
const MIRROR_TABLE = 'e2e-stock-mirror';
const MAX_RECEIVES = 2;

// A CDC pipeline writing a table nobody created yet: every load of its messages fails.
const PIPELINE_YAML = `
name: ${PIPELINE}
source:
  type: cdc
  format: debezium
  key: [sku]
triggers:
  cdc:
    pattern:
      source: [esync.cdc]
      detail-type: [mirror.change]
target:
  type: dynamodb
  table: ${MIRROR_TABLE}
dlq:
  maxReceiveCount: ${MAX_RECEIVES}
load:
  timeoutSeconds: 5
  batchingWindowSeconds: 0
  maxConcurrency: 2
  batchSize: 10
`;

interface DlqAnswer {
  readonly depth: { readonly visible: number; readonly inFlight: number };
  readonly messages: readonly { readonly receiveCount: number; readonly body: { readonly kind: string } }[];
}

const dlqDepth = async (e2e: E2eStack) => {
  const answer = await callApi<DlqAnswer>(e2e.stack, 'GET', `/pipelines/${PIPELINE}/dlq?limit=0`);
  return answer.body.depth.visible + answer.body.depth.inFlight;
};

describe('dead letters on the local stack', () => {
  let project: E2eProject;
  let e2e: E2eStack;
  let loadQueueUrl: string;

  beforeAll(async () => {
    project = createProject({ [PIPELINE]: PIPELINE_YAML });
    e2e = await startE2eStack(project, {});
    loadQueueUrl = e2e.stack.resources.find((r) => r.name === PIPELINE)?.loadQueueUrl ?? '';
    // The template derives a 30 s visibility timeout from the 5 s load timeout; shortening it
    // only makes the redeliveries come sooner, the redrive policy still decides.
    await e2e.clients.sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: loadQueueUrl, Attributes: { VisibilityTimeout: '1' } }),
    );
  });

  afterAll(async () => {
    await e2e?.stop();
    project?.remove();
  });

  it('moves a message that keeps failing to the DLQ after maxReceiveCount and loads it once redriven through the API after the fix', async () => {
    // Prepare
    const since = new Date().toISOString().slice(0, 10);
    const source = e2e.stack.eventSources.get(loadQueueName('dev', PIPELINE));
    const change = { sku: 'MIRROR-1', lsn: 42, after: { quantity: 3, price: 9, location: 'C3' } };

    // Act
    await putStockChanges(e2e.clients, e2e.stack.env.ESYNC_EVENT_BUS ?? '', [change], 'mirror.change');
    await eventually('the message to reach the DLQ', async () =>
      (await dlqDepth(e2e)) === 1 ? true : undefined,
    );
    const deadLetters = await callApi<DlqAnswer>(e2e.stack, 'GET', `/pipelines/${PIPELINE}/dlq`);
    const statsWhenDead = { ...source?.stats };
    const ledger = await e2e.state.ledger.totals(keys.ledgerScopeOfStream(PIPELINE, since));

    await createKeyedTable(e2e.clients.dynamodb, MIRROR_TABLE);
    const redrive = await callApi(e2e.stack, 'POST', `/pipelines/${PIPELINE}/dlq/redrive`, {
      reason: 'target table created',
    });
    const item = await eventually('the redriven change to be loaded', async () =>
      (await scanTable(e2e.clients, MIRROR_TABLE)).get(change.sku),
    );
    await e2e.stack.idle();

    // Assess
    // Load received it exactly maxReceiveCount times and never deleted it (a batch whose every
    // message failed is a failed invocation: Powertools throws rather than list them all).
    expect(statsWhenDead).toMatchObject({ received: MAX_RECEIVES, deleted: 0 });
    expect((statsWhenDead.failedInvocations ?? 0) + (statsWhenDead.itemFailures ?? 0)).toBe(MAX_RECEIVES);
    expect(deadLetters.body.messages).toEqual([
      expect.objectContaining({
        receiveCount: expect.any(Number),
        body: expect.objectContaining({ kind: 'event' }),
      }),
    ]);
    expect(ledger).toMatchObject({ extracted: 1, loaded: 0, deadLettered: 1 });
    expect(redrive.status).toBe(202);
    expect(redrive.body).toMatchObject({ pipeline: PIPELINE, approximateMessages: 1 });
    expect(item).toMatchObject({ sku: change.sku, ...change.after });
    expect(await dlqDepth(e2e)).toBe(0);
    const audit = await e2e.state.audit.list(PIPELINE);
    expect(audit).toContainEqual(
      expect.objectContaining({ action: 'dlq.redrive', who: E2E_PRINCIPAL, why: 'target table created' }),
    );
  });

  it('quarantines an undecodable message with its reason instead of dead-lettering it', async () => {
    // Prepare
    const body = '{"not": "a change event or a records batch"}';

    // Act
    await e2e.clients.sqs.send(new SendMessageCommand({ QueueUrl: loadQueueUrl, MessageBody: body }));
    await e2e.stack.idle();
    const quarantined = await listKeys(e2e.clients, e2e.dataBucket, `quarantine/${PIPELINE}/`);

    // Assess
    expect(quarantined).toHaveLength(1);
    const object = JSON.parse(await readObject(e2e.clients, e2e.dataBucket, quarantined[0] ?? '')) as {
      entries: { raw: string; reasons: { rule: string; message: string }[] }[];
    };
    expect(object.entries).toEqual([
      {
        raw: body,
        reasons: [{ rule: 'decode', message: expect.stringContaining('neither a records batch') }],
      },
    ]);
    expect(await dlqDepth(e2e)).toBe(0);
  });
});
