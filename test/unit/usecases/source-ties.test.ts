import { describe, expect, it } from 'vitest';
import { SOURCE_REREADERS } from '../../../shared/connectors/sources/rereaders.ts';
import type { SourceRereader, SourceRow, TargetState } from '../../../shared/connectors/types.ts';
import { ConnectorError } from '../../../shared/errors.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import { makeEnvelope, type RecordData } from '../../../shared/records/envelope.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { timestampVersion, versionAfter } from '../../../shared/records/version.ts';
import type { Log } from '../../../shared/usecases/deps.ts';
import { type PreparedChange, settleTiesAtSource } from '../../../shared/usecases/source-ties.ts';

const SECOND = '2026-05-15T15:20:18Z';
const LATER = '2026-05-15T15:20:19Z';

const issue = (title: string, updatedAt = SECOND): RecordData => ({
  id: 7,
  number: 1,
  title,
  updated_at: updatedAt,
});

function change(data: RecordData, channel: 'webhook' | 'poll' = 'webhook'): PreparedChange {
  const record = makeEnvelope({
    key: '7',
    op: 'upsert',
    version: timestampVersion(String(data.updated_at), '7', channel),
    ts: String(data.updated_at),
    data,
    provenance: { pipeline: 'issues', deliveryId: 'd-1' },
  });
  return { record, data, hash: contentHash(data) };
}

const heldAs = (c: PreparedChange): TargetState => ({
  version: c.record.version,
  hash: c.hash,
  deleted: false,
});

/** A source whose API answers `now` for the record (a poll's version), or fails. */
function api(now: RecordData | Error): SourceRereader & { asked: RecordData[] } {
  const asked: RecordData[] = [];
  return {
    asked,
    async reread(data) {
      asked.push({ ...data });
      if (now instanceof Error) throw now;
      const version = timestampVersion(String(now.updated_at), '7', 'poll');
      return {
        data: now,
        deleted: false,
        cursor: { values: [], key: '7' },
        version,
        ts: String(now.updated_at),
      } satisfies SourceRow;
    },
  };
}

function logged(): Log & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, error() {}, warn: (message) => warnings.push(message) };
}

const prepare = (data: RecordData) =>
  typeof data.title === 'string' ? { data, hash: contentHash(data) } : undefined;

describe('settleTiesAtSource', () => {
  it('loads what the API says now in place of a change tied with the stored one, after both tied versions', async () => {
    // Prepare: "opened" is stored, "edited" of the same second arrives.
    const stored = change(issue('opened'));
    const incoming = change(issue('edited'));
    const source = api(issue('edited, as the API says'));

    // Act
    const ties = await settleTiesAtSource([incoming], {
      rereader: source,
      held: new Map([['7', heldAs(stored)]]),
      prepare,
      log: logged(),
    });

    // Assess
    expect(ties).toEqual({ keys: new Set(['7']), reread: 1 });
    expect(source.asked).toEqual([issue('edited')]);
    expect(incoming.data).toEqual(issue('edited, as the API says'));
    expect(incoming.hash).toBe(contentHash(issue('edited, as the API says')));
    expect(incoming.record.version).toBe(versionAfter(stored.record.version));
    expect(incoming.record.data).toEqual(issue('edited, as the API says'));
    expect(incoming.record.provenance).toEqual({ pipeline: 'issues', deliveryId: 'd-1' });
  });

  it('takes a poll and a delivery of the same second as a tie, and the version after the newer of them', async () => {
    const stored = change(issue('polled'), 'poll');
    const incoming = change(issue('delivered'), 'webhook');

    await settleTiesAtSource([incoming], {
      rereader: api(issue('delivered')),
      held: new Map([['7', heldAs(stored)]]),
      prepare,
      log: logged(),
    });

    expect(incoming.record.version).toBe(versionAfter(stored.record.version));
    expect(incoming.record.version > stored.record.version).toBe(true);
  });

  it("gives the API's record its own version when it was changed after the tie", async () => {
    const incoming = change(issue('edited'));
    const now = issue('edited again', LATER);

    await settleTiesAtSource([incoming], {
      rereader: api(now),
      held: new Map([['7', heldAs(change(issue('opened')))]]),
      prepare,
      log: logged(),
    });

    expect(incoming.record.version).toBe(timestampVersion(LATER, '7', 'poll'));
    expect(incoming.data).toEqual(now);
  });

  it('keeps the held version when the API agrees with what the target holds, so nothing changes', async () => {
    const stored = change(issue('opened'));
    const incoming = change(issue('edited'));

    await settleTiesAtSource([incoming], {
      rereader: api(issue('opened')),
      held: new Map([['7', heldAs(stored)]]),
      prepare,
      log: logged(),
    });

    expect(incoming.record.version).toBe(stored.record.version);
    expect(incoming.hash).toBe(stored.hash);
  });

  it('leaves the change to the version rule, counted as a tie, when the API fails, lags or answers invalid data', async () => {
    const cases: Array<[string, SourceRereader]> = [
      ['fails', api(new ConnectorError('github source', 'GET .../issues/1 found nothing (HTTP 404)'))],
      ['lags', api(issue('older', '2026-05-15T15:20:17Z'))],
      ['invalid', api({ id: 7, number: 1, updated_at: SECOND })],
    ];
    for (const [what, rereader] of cases) {
      const incoming = change(issue('edited'));
      const before = { ...incoming };
      const log = logged();

      const ties = await settleTiesAtSource([incoming], {
        rereader,
        held: new Map([['7', heldAs(change(issue('opened')))]]),
        prepare,
        log,
      });

      expect({ what, ties, incoming }).toEqual({
        what,
        ties: { keys: new Set(['7']), reread: 0 },
        incoming: before,
      });
      expect({ what, warned: log.warnings.length }).toEqual({ what, warned: what === 'fails' ? 1 : 0 });
    }
  });

  it('reads nothing for a duplicate, a change of another second, a delete, a tombstone or a new key', async () => {
    const stored = change(issue('opened'));
    const source = api(issue('never asked'));
    const deleted = { ...change(issue('gone')), data: null };
    deleted.record = { ...deleted.record, op: 'delete', data: null };
    const changes = [change(issue('opened')), change(issue('edited', LATER)), deleted];

    const ties = await settleTiesAtSource(changes, {
      rereader: source,
      held: new Map([['7', heldAs(stored)]]),
      prepare,
      log: logged(),
    });
    const onTombstone = await settleTiesAtSource([change(issue('edited'))], {
      rereader: source,
      held: new Map([['7', { ...heldAs(stored), deleted: true }]]),
      prepare,
      log: logged(),
    });
    const onNewKey = await settleTiesAtSource([change(issue('edited'))], {
      rereader: source,
      held: new Map(),
      prepare,
      log: logged(),
    });

    for (const counted of [ties, onTombstone, onNewKey])
      expect(counted).toEqual({ keys: new Set(), reread: 0 });
    expect(source.asked).toEqual([]);
  });

  it('counts a tie without reading when the source has no API', async () => {
    const incoming = change(issue('edited'));
    const before = { ...incoming };

    const ties = await settleTiesAtSource([incoming], {
      rereader: undefined,
      held: new Map([['7', heldAs(change(issue('opened')))]]),
      prepare,
      log: logged(),
    });

    expect(ties).toEqual({ keys: new Set(['7']), reread: 0 });
    expect(incoming).toEqual(before);
  });
});

describe('SOURCE_REREADERS', () => {
  it('gives a re-reader for a github source only', async () => {
    const context = {} as Parameters<typeof SOURCE_REREADERS.create>[1];
    const github = pipelineSchema.parse({
      name: 'issues',
      source: { type: 'github', owner: 'o', repo: 'r', key: ['id'] },
      target: { type: 'dynamodb' },
    });
    const webhook = pipelineSchema.parse({
      name: 'hooks',
      source: { type: 'webhook', mapping: 'github', key: ['kind', 'id'] },
      triggers: { webhook: { signature: 'github', secret: 's' } },
      target: { type: 'dynamodb' },
    });

    const githubRereader = await SOURCE_REREADERS.loadAndCreate(github.source, {
      ...context,
      pipeline: github,
    });
    const webhookRereader = await SOURCE_REREADERS.loadAndCreate(webhook.source, {
      ...context,
      pipeline: webhook,
    });

    expect(typeof githubRereader?.reread).toBe('function');
    expect(webhookRereader).toBeUndefined();
  });
});
