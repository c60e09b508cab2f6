import { describe, expect, it } from 'vitest';
import {
  type DebeziumOptions,
  debeziumVersion,
  decodeDebeziumMessage,
} from '../../../shared/cdc/debezium.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { contentHash } from '../../../shared/records/hash.ts';
import { compareVersions, lsnToBigInt, streamVersion } from '../../../shared/records/version.ts';

const options = { pipeline: 'customers', keyFields: ['id'] };

/** The change records of a Debezium message (none for another kind). */
function decodeDebeziumEvent(value: unknown, opts: DebeziumOptions) {
  const decoding = decodeDebeziumMessage(value, opts);
  return decoding.kind === 'changes' ? decoding.records : [];
}

/** A Debezium PostgreSQL change event shaped as the connector documentation shows it. */
function postgresEvent(op: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const row = { id: 1004, first_name: 'Anne', last_name: 'Kretchmar', email: 'annek@noanswer.org' };
  return {
    before: op === 'c' || op === 'r' ? null : { ...row, first_name: 'Anne Marie' },
    after: op === 'd' ? null : row,
    source: {
      version: '2.7.0.Final',
      connector: 'postgresql',
      name: 'PostgreSQL_server',
      ts_ms: 1559033904863,
      snapshot: op === 'r' ? 'true' : 'false',
      db: 'postgres',
      sequence: '["24023119","24023128"]',
      schema: 'public',
      table: 'customers',
      txId: 555,
      lsn: 24023128,
      xmin: null,
    },
    op,
    ts_ms: 1559033904961,
    ...overrides,
  };
}

/** A Debezium MySQL change event at a binlog position. */
function mysqlEvent(file: string, pos: number, row = 0, id = 1): Record<string, unknown> {
  return {
    before: null,
    after: { id, name: 'x' },
    source: {
      connector: 'mysql',
      ts_ms: 1700000000000,
      file,
      pos,
      row,
      server_id: 223344,
      db: 'inventory',
      table: 'customers',
    },
    op: 'c',
    ts_ms: 1700000000100,
  };
}

/** The error `act` throws. */
function thrown(act: () => unknown): Error {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  throw new Error('nothing was thrown');
}

describe('Debezium events', () => {
  it('decodes a create into an upsert keyed from after, versioned by the LSN', () => {
    // Act
    const [record] = decodeDebeziumEvent(postgresEvent('c'), options);

    // Assess
    expect(record).toEqual({
      key: '1004',
      op: 'upsert',
      version: streamVersion(1559033904863, 24023128),
      ts: '2019-05-28T08:58:24.863Z',
      data: { id: 1004, first_name: 'Anne', last_name: 'Kretchmar', email: 'annek@noanswer.org' },
      hash: contentHash({
        id: 1004,
        first_name: 'Anne',
        last_name: 'Kretchmar',
        email: 'annek@noanswer.org',
      }),
      provenance: { pipeline: 'customers' },
    });
  });

  it('decodes updates and snapshot reads into upserts', () => {
    // Act
    const ops = ['u', 'r'].flatMap((op) => decodeDebeziumEvent(postgresEvent(op), options)).map((r) => r.op);

    // Assess
    expect(ops).toEqual(['upsert', 'upsert']);
  });

  it('decodes a delete into a delete keyed from before', () => {
    // Act
    const [record] = decodeDebeziumEvent(postgresEvent('d'), options);

    // Assess
    expect(record).toMatchObject({ key: '1004', op: 'delete', data: null, hash: 'deleted' });
  });

  it('reads an LSN given as text', () => {
    // Act
    const [record] = decodeDebeziumEvent(
      postgresEvent('c', { source: { ts_ms: 1, lsn: '16/B374D848' } }),
      options,
    );

    // Assess
    expect(record?.version).toBe(streamVersion(1, lsnToBigInt('16/B374D848')));
  });

  it('orders changes of one millisecond by their log position, not by their arrival', () => {
    // Prepare: the newer change arrives first.
    const newer = postgresEvent('u', { source: { ts_ms: 200, lsn: 5000 } });
    const older = postgresEvent('u', { source: { ts_ms: 200, lsn: 4000 } });

    // Act
    const [first] = decodeDebeziumEvent(newer, options);
    const [late] = decodeDebeziumEvent(older, options);

    // Assess
    expect(compareVersions(late?.version ?? '', first?.version ?? '')).toBeLessThan(0);
  });

  it('orders changes by commit time before log position, so a restarted log never looks stale', () => {
    // Act: after a MySQL failover the binlog position restarts lower.
    const a = debeziumVersion({ file: 'mysql-bin.000090', pos: 400, ts_ms: 1000 });
    const b = debeziumVersion({ file: 'mysql-bin.000001', pos: 4, ts_ms: 1001 });

    // Assess
    expect(compareVersions(a, b)).toBeLessThan(0);
  });

  it('orders MySQL changes by binlog file, then position, then row', () => {
    // Act
    const versions = [
      mysqlEvent('mysql-bin.000003', 900_000, 0),
      mysqlEvent('mysql-bin.000003', 900_000, 1),
      mysqlEvent('mysql-bin.000004', 4, 0),
      mysqlEvent('mysql-bin.000010', 4, 0),
    ].map((event) => decodeDebeziumEvent(event, options)[0]?.version ?? '');

    // Assess
    expect([...versions].sort(compareVersions)).toEqual(versions);
    expect(new Set(versions).size).toBe(4);
  });

  it('falls back to a numeric sequence, or the last position of a PostgreSQL sequence array', () => {
    // Act
    const numeric = debeziumVersion({ sequence: 981, ts_ms: 5 });
    const array = debeziumVersion({ sequence: '["24023119","24023128"]', ts_ms: 5 });

    // Assess
    expect(numeric).toBe(streamVersion(5, 981));
    expect(array).toBe(streamVersion(5, 24023128));
  });

  it('refuses an event without any source position', () => {
    // Act
    const error = thrown(() =>
      decodeDebeziumEvent(postgresEvent('c', { source: { ts_ms: 1, table: 'customers' } }), options),
    );

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(
      /no source position \(source\.lsn, source\.file \+ source\.pos, or source\.sequence\)/,
    );
  });

  it('refuses an unusable position with the reason', () => {
    // Act
    const error = thrown(() =>
      decodeDebeziumEvent(postgresEvent('c', { source: { ts_ms: 1, lsn: 'ZZ/1' } }), options),
    );

    // Assess
    expect(error.message).toMatch(/unusable source position: not a PostgreSQL LSN/);
  });

  it('unwraps the JSON converter envelope and an EventBridge event, taking the event id as delivery id', () => {
    // Prepare
    const wrapped = { schema: { type: 'struct' }, payload: postgresEvent('c') };
    const bridged = {
      version: '0',
      id: 'evt-123',
      'detail-type': 'customers.change',
      source: 'debezium',
      detail: wrapped,
    };

    // Act
    const [fromConverter] = decodeDebeziumEvent(wrapped, options);
    const [fromBus] = decodeDebeziumEvent(bridged, options);

    // Assess
    expect(fromConverter?.key).toBe('1004');
    expect(fromBus?.provenance).toEqual({ pipeline: 'customers', deliveryId: 'evt-123' });
  });

  it('refuses a malformed event naming the field', () => {
    // Act
    const badOp = thrown(() => decodeDebeziumEvent(postgresEvent('x'), options));
    const noSource = thrown(() => decodeDebeziumEvent({ op: 'c', after: { id: 1 } }, options));

    // Assess
    expect(badOp).toBeInstanceOf(ValidationError);
    expect((badOp as ValidationError).issues[0]?.path).toBe('op');
    expect(noSource.message).toMatch(/debezium event is malformed: source/);
  });

  it('refuses a delete without before, saying how to get one', () => {
    // Act
    const error = thrown(() => decodeDebeziumEvent(postgresEvent('d', { before: null }), options));

    // Assess
    expect(error.message).toMatch(/no `before`.*REPLICA IDENTITY/);
  });

  it('refuses a row without the key field', () => {
    // Act
    const noKey = thrown(() => decodeDebeziumEvent(postgresEvent('c', { after: { name: 'x' } }), options));

    // Assess
    expect(noKey.message).toBe('debezium event after: key field "id" is missing or empty');
  });

  it('decodes a truncate into the table and its position, for the load path to apply', () => {
    // Act
    const decoding = decodeDebeziumMessage(postgresEvent('t', { before: null, after: null }), options);

    // Assess
    expect(decoding).toEqual({
      kind: 'truncate',
      truncate: {
        table: 'customers',
        version: streamVersion(1559033904863, 24023128),
        ts: '2019-05-28T08:58:24.863Z',
      },
    });
  });

  it('ignores a logical decoding message, counted as a message', () => {
    // Act
    const decoding = decodeDebeziumMessage(postgresEvent('m', { before: null, after: null }), options);

    // Assess
    expect(decoding).toEqual({ kind: 'ignored', ignored: 'message' });
  });
});
