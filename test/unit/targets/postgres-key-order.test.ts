import { describe, expect, it } from 'vitest';
import { keyOrderOf } from '../../../shared/connectors/targets/postgres/key-order.ts';
import type { KeyRange } from '../../../shared/domain/key-range.ts';

const jsonbKey = [{ name: 'key', type: 'text' }];
const jsonbRange = (range: KeyRange) => keyOrderOf(jsonbKey, { jsonb: true, width: 1, range }).range?.(1);

describe('keyOrderOf', () => {
  it('reads a typed range of a jsonb table through a cast guarded by the key text, other keys left to the caller', () => {
    // Act
    const decimal = jsonbRange({ after: ['1.5'], upTo: ['9007199254740993.25'], kinds: ['decimal'] });
    const timestamp = jsonbRange({
      after: null,
      upTo: ['2026-01-01T00:00:00.000001Z'],
      kinds: ['timestamp'],
    });
    const date = jsonbRange({ after: ['1999-12-31'], upTo: null, kinds: ['date'] });

    // Assess
    expect(decimal?.sql).toMatch(
      /^\(\(CASE WHEN "key" ~ '.+' THEN "key"::numeric END\) IS NULL OR \(.+ > \$1::numeric AND .+ <= \$2::numeric\)\)$/,
    );
    expect(decimal?.params).toEqual(['1.5', '9007199254740993.25']);
    expect(timestamp?.sql).toContain(`THEN "key"::timestamp END) <= $1::timestamp`);
    expect(date?.sql).toContain(`THEN "key" END) COLLATE "C" > $1::text`);
  });

  it('reads a jsonb table whole for a bound its cast would refuse, and for bytes or composite keys', () => {
    // Act
    const infinite = jsonbRange({ after: ['-Infinity'], upTo: ['0.5'], kinds: ['float'] });
    const bc = jsonbRange({ after: ['0044-03-15 BC'], upTo: null, kinds: ['date'] });
    const bytes = jsonbRange({ after: ['AA=='], upTo: null, kinds: ['bytes'] });
    const composite = keyOrderOf(jsonbKey, {
      jsonb: true,
      width: 2,
      range: { after: ['a', 1], upTo: null, kinds: ['text', 'integer'] },
    }).range;

    // Assess
    expect([infinite, bc, bytes, composite]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('bounds a bytea key column by the bytes of its base64', () => {
    // Act
    const order = keyOrderOf([{ name: 'id', type: 'bytea' }], {
      jsonb: false,
      width: 1,
      range: { after: ['AAE='], upTo: ['/w=='], kinds: ['bytes'] },
    });

    // Assess
    expect(order.range?.(3)).toEqual({
      sql: `("id" > decode($3, 'base64') AND "id" <= decode($4, 'base64'))`,
      params: ['AAE=', '/w=='],
    });
  });
});
