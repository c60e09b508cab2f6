import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineFiles } from '../../shared/pipeline/load.ts';
import { expectedReasons, type RecordFuzzReport, runRecordFuzz } from '../support/fuzz-records.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RECORDS = 400;
const SEED = Number(process.env.ESYNC_FUZZ_SEED ?? 20261122);

let report: RecordFuzzReport;
beforeAll(async () => {
  report = await runRecordFuzz({ rootDir: ROOT, count: RECORDS, seed: SEED });
}, 60_000);

const failures = () => `seed ${SEED}:\n  ${report.failures.join('\n  ')}`;

describe('records generated against the validation rules of pipelines/users-sync.yaml', () => {
  it('breaks every rule of the pipeline and leaves enough records valid', () => {
    for (const reason of ['email:required', 'email:format', 'age:type', 'age:range', 'status:enum'])
      expect(report.reasonCounts[reason], reason).toBeGreaterThan(0);
    expect(report.generated - report.expectedInvalid).toBeGreaterThan(RECORDS / 5);
  });

  it('accounts for every record: loaded plus quarantined equals generated', () => {
    expect(report.loaded + report.quarantined).toBe(report.generated);
    expect(report.skipped).toBe(0);
    expect(report.unaccounted, failures()).toBe(0);
  });

  it('quarantines each invalid record with every reason it fails, and only those', () => {
    expect(report.quarantined).toBe(report.expectedInvalid);
    expect(report.wrongReasons, failures()).toBe(0);
  });

  it('loads each valid record with its masked field hashed and its dropped field gone', () => {
    expect(report.loaded).toBe(report.generated - report.expectedInvalid);
    expect(report.badLoads, failures()).toBe(0);
  });
});

describe('the reasons oracle', () => {
  it('reads the rules as documented: required only for missing values, type before format and range, strict enum', async () => {
    const { pipelines } = await loadPipelineFiles([path.join(ROOT, 'pipelines/users-sync.yaml')]);
    const rules = pipelines[0]?.validation ?? [];

    expect([...expectedReasons(rules, { email: 'a@b.co', age: 30, status: 'active' })]).toEqual([]);
    expect([...expectedReasons(rules, { age: null, status: null })]).toEqual(['email:required']);
    expect([...expectedReasons(rules, { email: 7, age: '30', status: 'Active' })]).toEqual([
      'email:format',
      'age:type',
      'status:enum',
    ]);
    expect([...expectedReasons(rules, { email: 'a b@c.d', age: 151, status: 1 })]).toEqual([
      'email:format',
      'age:range',
      'status:enum',
    ]);
  });
});
