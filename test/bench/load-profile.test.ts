import { beforeAll, describe, expect, it } from 'vitest';
import { type LoadProfile, profileLoad } from './load-profile.ts';
import { benchPipeline } from './records.ts';

/** Two invocations per pipeline, each of the pipeline's `load.batchSize` messages of 10 records. */
const INVOCATIONS = 2;
const PER_MESSAGE = 10;
const PER_INVOCATION = benchPipeline().load.batchSize * PER_MESSAGE;

describe('the Load profile on the local stack', () => {
  let profiles: LoadProfile[];

  beforeAll(async () => {
    profiles = await profileLoad({ invocations: INVOCATIONS, recordsPerMessage: PER_MESSAGE });
  }, 120_000);

  it('profiles a PutItem per record and batched inserts, every message loaded', () => {
    // Assess
    expect(profiles.map((p) => [p.pipeline, p.recordsPerInvocation, p.failedMessages])).toEqual([
      ['users-sync-puts', PER_INVOCATION, 0],
      ['users-sync', PER_INVOCATION, 0],
    ]);
  });

  it("counts the requests per record: a PutItem each, or one BatchExecuteStatement per 25 of an invocation's records across its messages, and a ledger completion per message", () => {
    // Assess
    const perRecord = (p: LoadProfile | undefined) =>
      Object.fromEntries((p?.requests ?? []).map((r) => [r.what, r.perRecord]));
    expect(perRecord(profiles[0])).toEqual({ 'target PutItem': 1, 'state UpdateItem': 1 / PER_MESSAGE });
    expect(perRecord(profiles[1])).toEqual({
      'target BatchExecuteStatement': Math.ceil(PER_INVOCATION / 25) / PER_INVOCATION,
      'state UpdateItem': 1 / PER_MESSAGE,
    });
  });

  it('splits the wall time into the handler thread CPU by owner and the time it did not run', () => {
    for (const p of profiles) {
      // Assess
      const cpu = Object.values(p.cpuMs).reduce((sum, ms) => sum + ms, 0);
      expect(cpu).toBeGreaterThan(0);
      expect(p.cpuMs.esync).toBeGreaterThan(0);
      expect(p.cpuMs.sdk).toBeGreaterThan(0);
      expect(cpu + p.waitingMs).toBeCloseTo(p.wallMs, 3);
      expect(p.serverCpuMs).toBeGreaterThanOrEqual(0);
    }
  });
});
