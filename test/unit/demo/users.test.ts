import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { faultField, type UserFault, userRow, usersTableSql } from '../../../demo/users.ts';
import { createValidator } from '../../../shared/domain/validation.ts';
import { loadPipelineFiles } from '../../../shared/pipeline/load.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FAULTS: readonly UserFault[] = ['email-format', 'email-missing', 'age-range', 'status-enum'];

async function usersSyncValidator() {
  const { pipelines } = await loadPipelineFiles(['pipelines/users-sync.yaml'], { cwd: repoRoot });
  return createValidator(pipelines[0]?.validation ?? []);
}

describe('userRow', () => {
  it('makes a row that passes the users-sync validation rules when it has no fault', async () => {
    const validate = await usersSyncValidator();

    const rows = [1, 2, 3, 59, 1000].map((id) => userRow(id, new Date('2026-11-01T00:00:00Z')));

    expect(rows.map((row) => validate({ ...row }))).toEqual(rows.map(() => []));
    expect(rows[0]).toMatchObject({
      id: 1,
      email: 'user1@example.com',
      updated_at: '2026-11-01T00:00:00.000Z',
    });
  });

  it.each(FAULTS)('breaks only the rule of its field with the fault %s', async (fault) => {
    const validate = await usersSyncValidator();

    const reasons = validate({ ...userRow(7, new Date('2026-11-01T00:00:00Z'), [fault]) });

    expect(reasons.map((reason) => reason.field)).toEqual([faultField(fault)]);
  });
});

describe('usersTableSql', () => {
  it('adds the extra columns before deleted', () => {
    expect(usersTableSql(['bio text'])).toMatch(/internal_notes text,\s+bio text,\s+deleted boolean/);
    expect(usersTableSql()).toMatch(/internal_notes text,\s+deleted boolean/);
  });
});
