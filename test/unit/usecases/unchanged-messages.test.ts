import { describe, expect, it } from 'vitest';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';
import { loadFingerprint, recordRunEnd, vouchingChain } from '../../../shared/usecases/unchanged-messages.ts';

const pipeline = (over: Partial<PipelineInput> = {}) =>
  pipelineSchema.parse({
    name: 'users',
    source: {
      type: 'postgres',
      connection: { secret: 'esync/users-db' },
      table: 'users',
      key: ['id'],
      cursor: ['updated_at'],
    },
    target: { type: 'dynamodb' },
    validation: [{ field: 'email', required: true }],
    ...over,
  });

/** Deps whose checkpoint repository holds the last verified run in memory. */
function depsWithVerifiedRun(runId?: string) {
  const state = { verified: runId };
  const checkpoints = {
    verifiedRun: async () => state.verified,
    setVerifiedRun: async (_pipeline: string, id: string) => {
      state.verified = id;
    },
    forgetVerifiedRun: async () => {
      state.verified = undefined;
    },
  };
  const deps = { state: { checkpoints }, now: () => new Date('2026-12-07T13:00:00.000Z') } as unknown as Deps;
  return { deps, state };
}

describe('loadFingerprint', () => {
  it('changes with the rules that decide what a record writes, so a record refused before is sent again once valid', () => {
    // Prepare
    const base = pipeline();

    // Act
    const others = [
      pipeline({ validation: [{ field: 'email', required: false }] }),
      pipeline({ transform: { drop: ['email'] } }),
      pipeline({ target: { type: 'dynamodb', batchInserts: false } }),
      pipeline({ conflict: { strategy: 'latest-timestamp', timestampField: 'updated_at' } }),
      pipeline({ batch: { size: 50 } }),
    ].map(loadFingerprint);

    // Assess
    expect(new Set([loadFingerprint(base), ...others]).size).toBe(others.length + 1);
    expect(loadFingerprint(pipeline({ description: 'renamed in the docs' }))).toBe(loadFingerprint(base));
  });
});

describe('vouchingChain', () => {
  it('names the last verified run when the pipeline verifies every key and never lets a difference pass', async () => {
    // Prepare
    const { deps } = depsWithVerifiedRun('run-1');

    // Act
    const full = await vouchingChain(deps, pipeline());
    const sampled = await vouchingChain(deps, pipeline({ verify: { mode: 'sample', sampleRate: 0.5 } }));
    const warning = await vouchingChain(deps, pipeline({ verify: { onMismatch: 'warn' } }));

    // Assess
    expect(full).toEqual({ fingerprint: loadFingerprint(pipeline()), scope: 'RUN#run-1' });
    expect([sampled, warning]).toEqual([undefined, undefined]);
  });

  it('digests every message but names no run when none vouches', async () => {
    // Act
    const chain = await vouchingChain(depsWithVerifiedRun().deps, pipeline());

    // Assess
    expect(chain).toEqual({ fingerprint: loadFingerprint(pipeline()) });
  });
});

describe('recordRunEnd', () => {
  it('keeps a run whose full Verify passed and forgets the verified run after any other outcome', async () => {
    // Prepare
    const { deps, state } = depsWithVerifiedRun('run-0');

    // Act
    await recordRunEnd(deps, pipeline(), { runId: 'run-1', verify: { status: 'passed' } });
    const afterPassed = state.verified;
    await recordRunEnd(deps, pipeline(), { runId: 'run-2', verify: { status: 'repaired' } });
    const afterRepaired = state.verified;
    await recordRunEnd(deps, pipeline({ verify: { mode: 'sample' } }), {
      runId: 'run-3',
      verify: { status: 'passed' },
    });

    // Assess
    expect([afterPassed, afterRepaired, state.verified]).toEqual(['run-1', undefined, undefined]);
  });
});
