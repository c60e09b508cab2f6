import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { expect } from 'vitest';
import { handler as awaitLoadHandler } from '../../../functions/await-load/handler.ts';
import { handler as cleanupHandler } from '../../../functions/cleanup/handler.ts';
import { handler as discoverHandler } from '../../../functions/discover/handler.ts';
import { handler as extractHandler } from '../../../functions/extract/handler.ts';
import { handler as loadHandler } from '../../../functions/load/handler.ts';
import { handler as planHandler } from '../../../functions/plan/handler.ts';
import { handler as verifyHandler } from '../../../functions/verify/handler.ts';
import { verifySteps } from '../../support/verify-steps.ts';
import type { FunctionsHarness } from './harness.ts';

/**
 * The phases of a batch run on a functions harness, each invoked as the state machine invokes
 * it: the payload crosses as JSON, and so does the result.
 */

const sfnEvents = path.join(import.meta.dirname, '..', '..', '..', 'events', 'sfn');
export const sample = (name: string) =>
  JSON.parse(readFileSync(path.join(sfnEvents, name), 'utf8')) as Record<string, unknown>;

export interface RunRef {
  readonly pipeline: string;
  readonly runId: string;
  readonly executionArn: string;
}

export function newRun(pipeline: string): RunRef {
  const runId = `${pipeline}-${randomUUID().slice(0, 8)}`;
  return {
    pipeline,
    runId,
    executionArn: `arn:aws:states:us-east-1:000000000000:execution:esync-dev-${pipeline}-sm:${runId}`,
  };
}

export interface Partition {
  id: string;
  spec: Record<string, unknown>;
}
export interface PlanOutput {
  partitionCount: number;
  partitions: Partition[];
  manifest?: { bucket: string; key: string };
  window: { from: unknown; to: unknown };
}
export interface ExtractOutput {
  done: boolean;
  continuation: { cursor: { values: (string | number)[]; key: string }; seq: number } | null;
  extracted: number;
  messages: number;
}
export interface AwaitLoadOutput {
  done: boolean;
  extracted: number;
  accounted: number;
  pendingMessages: number;
}

/** A Lambda invocation as Step Functions makes it: the payload crosses as JSON, and so does the result. */
export async function invoke<T>(
  fn: (event: unknown, context: Context) => Promise<unknown>,
  payload: unknown,
  context: Context,
): Promise<T> {
  return JSON.parse(JSON.stringify(await fn(JSON.parse(JSON.stringify(payload)), context))) as T;
}

/** The phase steps of batch runs on the harness `h()` returns (started by a beforeAll). */
export function batchSteps(h: () => FunctionsHarness) {
  const discover = (run: RunRef) =>
    invoke<Record<string, unknown>>(
      discoverHandler,
      { ...sample('discover.json'), ...run },
      h().context('discover'),
    );
  const plan = (run: RunRef) =>
    invoke<PlanOutput>(planHandler, { ...sample('plan.json'), ...run }, h().context('plan'));
  const extract = (
    run: RunRef,
    partition: Partition,
    continuation: ExtractOutput['continuation'] = null,
    context = h().context('extract', 900),
  ) =>
    invoke<ExtractOutput>(
      extractHandler,
      { ...sample('extract.json'), ...run, partition, ...(continuation ? { continuation } : {}) },
      context,
    );
  const awaitLoad = (run: RunRef) =>
    invoke<AwaitLoadOutput>(
      awaitLoadHandler,
      { ...sample('await-load.json'), ...run },
      h().context('await-load'),
    );
  const verify = (run: RunRef) =>
    verifySteps(
      (payload) =>
        invoke(
          verifyHandler,
          { ...sample(`verify-${String(payload.step)}.json`), ...payload },
          h().context('verify', 900),
        ),
      (key) => h().readJson(key),
      { ...run },
    );
  const cleanup = (run: RunRef) =>
    invoke<Record<string, unknown>>(
      cleanupHandler,
      { ...sample('cleanup.json'), ...run },
      h().context('cleanup'),
    );

  /** Discover, Plan and Extract of every partition (following continuations), as the state machine runs them. */
  async function extractRun(pipeline: string): Promise<RunRef> {
    const run = newRun(pipeline);
    await discover(run);
    const planned = await plan(run);
    for (const partition of planned.partitions) {
      let out = await extract(run, partition);
      while (!out.done) out = await extract(run, partition, out.continuation);
    }
    return run;
  }

  /** The Load function consuming the pipeline's queue until it is empty, as the SQS event source does. */
  async function drainIntoLoad(pipeline: string): Promise<void> {
    for (;;) {
      const messages = await h().receiveAll(h().queueUrl(pipeline));
      if (messages.length === 0) return;
      for (let i = 0; i < messages.length; i += 10) {
        const batch = messages.slice(i, i + 10);
        const response = (await loadHandler(
          h().sqsEvent(pipeline, batch),
          h().context('load'),
        )) as SQSBatchResponse;
        expect(response.batchItemFailures).toEqual([]);
        await h().deleteMessages(h().queueUrl(pipeline), batch);
      }
    }
  }

  /** A run through Execute: every extracted record loaded and accounted for. */
  async function syncedRun(pipeline: string): Promise<RunRef> {
    const run = await extractRun(pipeline);
    await drainIntoLoad(pipeline);
    expect(await awaitLoad(run)).toMatchObject({ done: true });
    return run;
  }

  return { discover, plan, extract, awaitLoad, verify, cleanup, extractRun, drainIntoLoad, syncedRun };
}
