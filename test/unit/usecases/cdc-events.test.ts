import { describe, expect, it } from 'vitest';
import type { TargetConnector, TargetSnapshotRecord } from '../../../shared/connectors/types.ts';
import { ConfigError, ValidationError } from '../../../shared/errors.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { positionVersion } from '../../../shared/records/version.ts';
import { recordsOfChangeEvent } from '../../../shared/usecases/cdc-events.ts';
import type { Deps } from '../../../shared/usecases/deps.ts';

const pipeline = (source: Partial<Extract<PipelineInput['source'], { type: 'cdc' }>> = {}) =>
  pipelineSchema.parse({
    name: 'items',
    source: { type: 'cdc', key: ['id'], ...source },
    triggers: { cdc: { pattern: { source: ['esync.cdc'] } } },
    target: { type: 'dynamodb' },
  });

/** Deps whose target lists `live` (or fails listing with `error`), and records whether it was closed. */
function depsListing(live: readonly string[], error?: Error) {
  const closed: boolean[] = [];
  const target = {
    snapshot: async function* (): AsyncIterable<TargetSnapshotRecord[]> {
      if (error) throw error;
      yield live.map((key) => ({ key, version: 'p:1', hash: 'h' }));
    },
    close: async () => {
      closed.push(true);
    },
  } as unknown as TargetConnector;
  return { deps: { createTarget: () => target } as unknown as Deps, closed };
}

const truncate = {
  kind: 'truncate' as const,
  truncate: {
    table: 'items',
    version: positionVersion(300, 7),
    ts: '2026-01-01T00:00:00.000Z',
    deliveryId: 'evt-9',
  },
};

describe('change events in the load path', () => {
  it('turns a truncate into a delete of every live target record at the truncate position', async () => {
    // Prepare
    const { deps, closed } = depsListing(['a', 'b']);

    // Act
    const { records } = await recordsOfChangeEvent(deps, pipeline(), truncate);

    // Assess
    expect(records.map((r) => [r.key, r.op, r.version, r.data])).toEqual([
      ['a', 'delete', positionVersion(300, 7), null],
      ['b', 'delete', positionVersion(300, 7), null],
    ]);
    expect(records[0]?.provenance).toEqual({ pipeline: 'items', deliveryId: 'evt-9' });
    expect(closed).toEqual([true]);
  });

  it('refuses a truncate under source.truncate quarantine, saying how to apply it', async () => {
    // Prepare
    const { deps } = depsListing(['a']);

    // Act
    const refused = recordsOfChangeEvent(deps, pipeline({ truncate: 'quarantine' }), truncate);

    // Assess
    await expect(refused).rejects.toThrow(ValidationError);
    await expect(refused).rejects.toThrow(
      /truncate of table items was not applied: .*set source\.truncate: delete and put the event on the bus again/,
    );
  });

  it('refuses a truncate whose target cannot list its records, naming why', async () => {
    // Prepare
    const { deps, closed } = depsListing([], new ConfigError('the http target cannot list the records'));

    // Act
    const refused = recordsOfChangeEvent(deps, pipeline(), truncate);

    // Assess
    await expect(refused).rejects.toThrow(/cannot be applied: the http target cannot list the records/);
    expect(closed).toEqual([true]);
  });

  it('passes changes through and names an ignored kind', async () => {
    // Prepare
    const { deps } = depsListing([]);

    // Act
    const ignored = await recordsOfChangeEvent(deps, pipeline(), { kind: 'ignored', ignored: 'heartbeat' });

    // Assess
    expect(ignored).toEqual({ records: [], ignored: 'heartbeat' });
  });
});
