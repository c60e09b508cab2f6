import { beforeAll, describe, expect, it } from 'vitest';
import { type LoadProfile, profileLoad } from './load-profile.ts';

/** Two invocations of 10 messages of 10 records each per pipeline. */
const INVOCATIONS = 2;
const PER_MESSAGE = 10;
const PER_INVOCATION = 10 * PER_MESSAGE;

describe('the Load profile on the local stack', () => {
  let profiles: LoadProfile[];

  beforeAll(async () => {
    profiles = await profileLoad({ invocations: INVOCATIONS, recordsPerMessage: PER_MESSAGE });
  }, 120_000);

  it('profiles a PutItem per record and batched inserts, every message loaded', () => {
    // Assess
    expect(profiles.map((p) => [p.pipeline, p.recordsPerInvocation, p.failedMessages])).toEqual([
      ['users-sync-puts', 100, 0],
      ['users-sync', 100, 0],
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
