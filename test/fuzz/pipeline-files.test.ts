import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkPipelineCase,
  PIPELINE_MUTATIONS,
  type PipelineFuzzReport,
  runPipelineFuzz,
} from '../support/fuzz-pipelines.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CASES = 350;
const SEED = Number(process.env.ESYNC_FUZZ_SEED ?? 20261122);

let report: PipelineFuzzReport;
beforeAll(async () => {
  report = await runPipelineFuzz({ rootDir: ROOT, count: CASES, seed: SEED });
}, 60_000);

const failures = () =>
  `seed ${SEED}:\n${report.failures.map((f) => `  [${f.kind}] ${f.description}\n      ${f.defects.join('\n      ')}`).join('\n')}`;

describe('pipeline files broken in generated ways', () => {
  it('breaks the example pipelines every way: deleted keys, wrong types, unknown keys, bad cron, bad regex, broken YAML, flipped bytes', () => {
    for (const kind of PIPELINE_MUTATIONS) expect(report.byKind[kind].cases, kind).toBeGreaterThan(0);
    expect(report.rejected).toBeGreaterThan(CASES / 2);
  });

  it('never throws while loading one', () => {
    expect(report.threw, failures()).toBe(0);
  });

  it('rejects each that must be rejected, with problems naming the file, the line and the field', () => {
    expect(report.failed, failures()).toBe(0);
  });
});

describe('pipeline fuzz harness', () => {
  const valid =
    'name: p\nsource:\n  type: webhook\n  key: [id]\ntarget:\n  type: dynamodb\ntriggers:\n  webhook:\n    signature: github\n    secret: s\n';

  it('counts an accepted file that must be rejected as a defect', () => {
    const result = checkPipelineCase({
      kind: 'bad-cron',
      file: 'p.yaml',
      text: valid,
      field: 'triggers.schedule',
      mustReject: true,
      description: 'valid file posing as broken',
    });

    expect(result).toEqual({ outcome: 'valid', problems: [], defects: ['accepted'] });
  });

  it('counts a rejection that does not name the broken field as a defect', () => {
    const result = checkPipelineCase({
      kind: 'wrong-type',
      file: 'p.yaml',
      text: valid.replace('name: p', 'name: 42'),
      field: 'target.type',
      mustReject: true,
      description: 'problem elsewhere',
    });

    expect(result.outcome).toBe('rejected');
    expect(result.defects.join('\n')).toMatch(/no problem names target\.type/);
  });
});
