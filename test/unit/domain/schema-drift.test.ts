import { describe, expect, it } from 'vitest';
import {
  acceptedAfter,
  describeDrift,
  diffSchema,
  discardedFields,
  discardFields,
  driftChanges,
  type SchemaField,
} from '../../../shared/domain/schema-drift.ts';

const field = (name: string, type: string, nullable = true): SchemaField => ({ name, type, nullable });
const ACCEPTED = [field('id', 'integer', false), field('qty', 'integer'), field('fax', 'text')];
const CURRENT = [field('id', 'integer', false), field('qty', 'bigint'), field('phone', 'text')];

describe('diffSchema', () => {
  it('finds the columns added, removed and retyped since the accepted schema', () => {
    const drift = diffSchema(ACCEPTED, CURRENT);

    expect(drift).toEqual({
      added: [field('phone', 'text')],
      removed: [field('fax', 'text')],
      typeChanged: [{ name: 'qty', from: 'integer', to: 'bigint' }],
    });
    expect(driftChanges(drift)).toBe(3);
  });

  it('finds no drift in the same columns in another order, or with another nullability', () => {
    const drift = diffSchema(ACCEPTED, [field('fax', 'text', false), ...ACCEPTED.slice(0, 2)]);

    expect(driftChanges(drift)).toBe(0);
  });

  it('says each change in words', () => {
    expect(describeDrift(diffSchema(ACCEPTED, CURRENT))).toBe(
      'added phone (text); removed fax (text); qty changed type from integer to bigint',
    );
  });
});

describe('the policies', () => {
  const drift = diffSchema(ACCEPTED, CURRENT);

  it('discard leaves out the added columns only', () => {
    expect(discardedFields(drift)).toEqual(['phone']);
  });

  it('evolve accepts the current schema', () => {
    expect(acceptedAfter('evolve', ACCEPTED, CURRENT)).toEqual(CURRENT);
  });

  it('freeze keeps the accepted schema, so the next run meets the same drift', () => {
    expect(acceptedAfter('freeze', ACCEPTED, CURRENT)).toEqual(ACCEPTED);
  });

  it('discard accepts the removal and the new type but not the added column', () => {
    const accepted = acceptedAfter('discard', ACCEPTED, CURRENT);

    expect(accepted).toEqual([field('id', 'integer', false), field('qty', 'bigint')]);
    expect(diffSchema(accepted, CURRENT)).toEqual({
      added: [field('phone', 'text')],
      removed: [],
      typeChanged: [],
    });
  });
});

describe('discardFields', () => {
  it('removes the fields a record has and counts them', () => {
    const data: Record<string, unknown> = { id: 1, phone: '555', note: null };

    expect(discardFields(data, ['phone', 'note', 'absent'])).toBe(2);
    expect(data).toEqual({ id: 1 });
  });

  it('leaves a record without those fields as it was', () => {
    const data: Record<string, unknown> = { id: 1 };

    expect(discardFields(data, ['phone'])).toBe(0);
    expect(data).toEqual({ id: 1 });
  });
});
