import pg from 'pg';
import { pgTypeParsers } from './pg-values.ts';

/**
 * A pg pool that reads canonical values (pg-values.ts). Connectors import this module with their
 * first connection (`await import`), so pg is a chunk that a function serving no PostgreSQL
 * pipeline never loads. A connection the server drops while idle
 * emits `error` on the pool, which discards it; the next query opens a new one (and reports a
 * server still gone as its own error), so the event must not crash the process.
 */
export function canonicalPool(config: Omit<pg.PoolConfig, 'types'>): pg.Pool {
  const pool = new pg.Pool({ ...config, types: pgTypeParsers });
  pool.on('error', () => undefined);
  return pool;
}
