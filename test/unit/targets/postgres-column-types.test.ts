import { describe, expect, it } from 'vitest';
import { columnHolds, postgresColumnFor } from '../../../shared/connectors/targets/postgres/column-types.ts';

describe('postgresColumnFor', () => {
  it.each([
    ['integer', 'integer'],
    ['numeric(12,2)', 'numeric(12,2)'],
    ['character varying(20)', 'character varying(20)'],
    ['timestamp with time zone', 'timestamp with time zone'],
    ['bigint[]', 'bigint[]'],
    ['mood', 'text'],
    ['citext', 'text'],
    ['mood[]', 'jsonb'],
  ])('keeps a PostgreSQL source column %s as %s', (type, column) => {
    expect(postgresColumnFor('postgres', type)).toBe(column);
  });

  it.each([
    ['tinyint(1)', 'smallint'],
    ['int(11)', 'integer'],
    ['int(10) unsigned', 'bigint'],
    ['bigint(20) unsigned', 'numeric(20,0)'],
    ['decimal(10,2)', 'numeric(10,2)'],
    ['varchar(255)', 'character varying(255)'],
    ["enum('a','b')", 'text'],
    ['json', 'jsonb'],
    ['datetime(3)', 'timestamp(3) without time zone'],
    ['blob', 'bytea'],
  ])('maps a MySQL source column %s to %s', (type, column) => {
    expect(postgresColumnFor('mysql', type)).toBe(column);
  });

  it('stores what another source calls a type as jsonb, which holds any value', () => {
    expect(postgresColumnFor('s3', 'string')).toBe('jsonb');
  });
});

describe('columnHolds', () => {
  it.each([
    ['bigint', 'integer'],
    ['numeric', 'bigint'],
    ['numeric(12,2)', 'integer'],
    ['numeric(12,4)', 'numeric(10,2)'],
    ['double precision', 'real'],
    ['text', 'character varying(20)'],
    ['character varying(50)', 'character varying(20)'],
    ['text', 'uuid'],
    ['jsonb', 'timestamp with time zone'],
    ['timestamp with time zone', 'timestamp(3) with time zone'],
  ])('a %s column holds %s values', (column, type) => {
    expect(columnHolds(column, type)).toBe(true);
  });

  it.each([
    ['integer', 'bigint'],
    ['numeric(6,2)', 'double precision'],
    ['double precision', 'numeric(6,2)'],
    ['numeric(10,2)', 'numeric(10,4)'],
    ['character varying(20)', 'text'],
    ['uuid', 'text'],
    ['text', 'integer'],
    ['timestamp without time zone', 'timestamp with time zone'],
    ['timestamp(3) with time zone', 'timestamp with time zone'],
  ])('a %s column does not hold every %s value', (column, type) => {
    expect(columnHolds(column, type)).toBe(false);
  });
});
