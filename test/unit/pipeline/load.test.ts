import { describe, expect, it } from 'vitest';
import { createRecordExpressions } from '../../../shared/domain/expressions.ts';
import { createRecordKeyOf } from '../../../shared/domain/record-key.ts';
import { formatProblem, type Problem, parsePipelineText } from '../../../shared/pipeline/load.ts';
import { SECTION_EXAMPLES } from '../../../shared/pipeline/reference.ts';

/** A valid pipeline; tests append or replace lines to break one thing at a time. */
const VALID = `name: users-sync
source:
  type: postgres
  connection:
    secret: esync/demo/users-db
  table: users
  key: [id]
  cursor: [updated_at]
target:
  type: dynamodb
triggers:
  schedule: rate(15 minutes)
`;

function problemsOf(text: string): string[] {
  return parsePipelineText(text, 'pipelines/p.yaml').problems.map(formatProblem);
}

describe('parsePipelineText', () => {
  it('returns the pipeline with defaults applied and no problems for a valid file', () => {
    // Act
    const { pipeline, problems } = parsePipelineText(VALID, 'p.yaml');

    // Assess
    expect(problems).toEqual([]);
    expect(pipeline?.name).toBe('users-sync');
    expect(pipeline?.source).toMatchObject({
      type: 'postgres',
      schema: 'public',
      pageSize: 1000,
      lookbackSeconds: 0,
      deletes: { mode: 'none' },
      connection: { secret: 'esync/demo/users-db', ssl: 'verify-full' },
    });
    expect(pipeline?.conflict).toEqual({ strategy: 'source-wins', fields: {} });
    expect(pipeline?.batch).toEqual({ size: 500, maxBytes: 1_048_576 });
    expect(pipeline?.verify).toEqual({ mode: 'full', sampleRate: 0.1, onMismatch: 'fail' });
  });

  it('reports a YAML syntax error with its position and no schema noise', () => {
    // Prepare
    const text = 'name: x\nsource: [1, 2\ntarget: {}\n';

    // Act
    const { pipeline, problems } = parsePipelineText(text, 'p.yaml');

    // Assess
    expect(pipeline).toBeUndefined();
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.message.startsWith('YAML syntax error: '))).toBe(true);
    expect(problems[0]).toMatchObject({ file: 'p.yaml', line: 3, col: 1, path: '' });
  });

  it('reports a duplicate key in a mapping as a YAML error on the second occurrence', () => {
    expect(problemsOf('name: a\nname: b\n')).toEqual([
      'pipelines/p.yaml:2:1 YAML syntax error: Map keys must be unique',
    ]);
  });

  it('reports an alias without an anchor where the alias is written', () => {
    expect(problemsOf('name: x\nsource: *missing\n')).toEqual([
      expect.stringMatching(/^pipelines\/p\.yaml:2:9 YAML error: .*missing/),
    ]);
  });

  it('reports a value of the wrong type at the value, naming what was expected and what was found', () => {
    // Prepare
    const text = VALID.replace('key: [id]', 'key: id');

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual(['pipelines/p.yaml:7:8 source.key expected a list, got the string `id`']);
  });

  it('reports an unknown key at the key, with a did-you-mean for a close known key', () => {
    // Prepare
    const text = VALID.replace('  table: users', '  tabel: users');

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual([
      'pipelines/p.yaml:3:3 source.table missing required key `table`',
      'pipelines/p.yaml:6:3 source.tabel unknown key `tabel`; did you mean `table`?',
    ]);
  });

  it('lists the allowed keys when an unknown key is close to none', () => {
    const problems = problemsOf(`${VALID}extract:\n  speed: 3\n`);

    expect(problems).toEqual([
      'pipelines/p.yaml:14:3 extract.speed unknown key `speed`; allowed keys: partitions, manifestThreshold',
    ]);
  });

  it('reports every unknown key, each at its own line', () => {
    const problems = problemsOf(`${VALID}sorce: 1\ntargte: 2\n`);

    expect(problems).toEqual([
      'pipelines/p.yaml:13:1 sorce unknown key `sorce`; did you mean `source`?',
      'pipelines/p.yaml:14:1 targte unknown key `targte`; did you mean `target`?',
    ]);
  });

  it('names the valid source types for an unknown source type', () => {
    const problems = problemsOf(VALID.replace('type: postgres', 'type: postgress'));

    expect(problems).toEqual([
      'pipelines/p.yaml:3:9 source.type unknown source type `postgress`; valid source types: postgres, mysql, s3, github, http, dynamodb, webhook, cdc, kafka, custom; did you mean `postgres`?',
    ]);
  });

  it('names the valid target types for an unknown target type', () => {
    const problems = problemsOf(VALID.replace('type: dynamodb', 'type: redis'));

    expect(problems).toEqual([
      'pipelines/p.yaml:10:9 target.type unknown target type `redis`; valid target types: dynamodb, s3, postgres, http, custom',
    ]);
  });

  it('reports an alerts.notify email or SNS topic that is not one, at its own line', () => {
    const problems = problemsOf(
      `${VALID}alerts:\n  notify:\n    emails: [oncall-at-example.com]\n    snsTopics: [pager]\n`,
    );

    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^pipelines\/p\.yaml:15:14 alerts\.notify\.emails\[0\] an email address, e.g. oncall@example.com$/,
    );
    expect(problems[1]).toMatch(
      /^pipelines\/p\.yaml:16:17 alerts\.notify\.snsTopics\[0\] an SNS topic ARN, e.g. arn:aws:sns:/,
    );
  });

  it('reports a bad cron expression at the schedule line', () => {
    const problems = problemsOf(VALID.replace('rate(15 minutes)', 'cron(0 * * *)'));

    expect(problems).toEqual([
      'pipelines/p.yaml:12:13 triggers.schedule a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got 4',
    ]);
  });

  it('reports a cron field out of range', () => {
    const problems = problemsOf(VALID.replace('rate(15 minutes)', 'cron(0 25 * * ? *)'));

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^pipelines\/p\.yaml:12:13 triggers\.schedule cron expression is not valid: .*25/,
    );
  });

  it('accepts a valid six-field cron expression', () => {
    const { problems } = parsePipelineText(VALID.replace('rate(15 minutes)', 'cron(0 * * * ? *)'), 'p.yaml');

    expect(problems).toEqual([]);
  });

  it('reports a regular expression that does not compile at the format line', () => {
    // Prepare
    const text = `${VALID}validation:\n  - field: email\n    required: true\n  - field: code\n    format: '[a-z'\n`;

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^pipelines\/p\.yaml:17:13 validation\[1\]\.format regular expression does not compile: /,
    );
  });

  it('reports a missing required key at the enclosing mapping', () => {
    // Prepare
    const text = VALID.replace('    secret: esync/demo/users-db\n', '    ssl: require\n');

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual(['pipelines/p.yaml:5:5 source.connection.secret missing required key `secret`']);
  });

  it('reports missing top-level keys at the first key of the file', () => {
    const problems = problemsOf('# a comment first\nname: lonely\n');

    expect(problems).toEqual([
      'pipelines/p.yaml:2:1 source missing required key `source`',
      'pipelines/p.yaml:2:1 target missing required key `target`',
    ]);
  });

  it('reports an empty value at its key rather than the end of the line', () => {
    const problems = problemsOf(VALID.replace('table: users', 'table:'));

    expect(problems).toEqual(['pipelines/p.yaml:6:3 source.table expected a string, got an empty value']);
  });

  it('reports an enum value with the allowed values and a did-you-mean', () => {
    const text = `${VALID}conflict:\n  strategy: field-merge\n  fields:\n    price: lates\n`;

    expect(problemsOf(text)).toEqual([
      'pipelines/p.yaml:16:12 conflict.fields.price expected one of source, target, latest, max, min, manual; got `lates`; did you mean `latest`?',
    ]);
  });

  it('reports a number out of range with the bound and the value', () => {
    expect(problemsOf(`${VALID}extract:\n  partitions: 0\n`)).toEqual([
      'pipelines/p.yaml:14:15 extract.partitions must be ≥ 1, got 0',
    ]);
  });

  it('reports cross-field rules at the field they concern', () => {
    expect(problemsOf(`${VALID}conflict:\n  strategy: latest-timestamp\n`)).toEqual([
      'pipelines/p.yaml:14:3 conflict.timestampField strategy latest-timestamp needs timestampField',
    ]);
  });

  it('reports every problem of a file at once, in file order', () => {
    // Prepare
    const text = `name: Bad_Name
source:
  type: postgres
  connection: { secret: esync/demo/users-db }
  table: users
  key: []
  cursor: updated_at
target:
  type: dynamodb
triggers:
  schedule: every hour
`;

    // Act
    const problems = problemsOf(text);

    // Assess
    expect(problems).toEqual([
      'pipelines/p.yaml:1:7 name a pipeline name is lower-kebab-case, e.g. users-sync',
      'pipelines/p.yaml:6:8 source.key needs at least one item',
      'pipelines/p.yaml:7:11 source.cursor expected a list, got the string `updated_at`',
      expect.stringMatching(/^pipelines\/p\.yaml:11:13 triggers\.schedule expected rate\(/),
    ]);
  });

  it('reports an empty file as such', () => {
    expect(problemsOf('# nothing yet\n')).toEqual([
      'pipelines/p.yaml:1:1 the file is empty; a pipeline is a mapping with at least name, source and target',
    ]);
  });

  it('reports a file holding a list instead of a mapping', () => {
    expect(problemsOf('- name: x\n')).toEqual([
      'pipelines/p.yaml:1:1 a pipeline file holds one mapping (name, source, target, ...), not a list',
    ]);
  });

  it('never throws, whatever the text', () => {
    // Prepare
    const texts = [
      '\u0000',
      ': : :',
      '{{{',
      '!!binary x',
      'a: &a [*a]',
      `${'- '.repeat(2000)}x`,
      'key: !!int abc',
    ];

    // Act
    const results = texts.map((text) => parsePipelineText(text, 'p.yaml'));

    // Assess
    for (const result of results) {
      expect(result.pipeline).toBeUndefined();
      expect(result.problems.length).toBeGreaterThan(0);
      for (const problem of result.problems) expect(problem.line).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('formatProblem', () => {
  it('leaves out an empty path', () => {
    // Prepare
    const problem: Problem = { file: 'a.yaml', line: 3, col: 5, path: '', message: 'broken' };

    // Act / Assess
    expect(formatProblem(problem)).toBe('a.yaml:3:5 broken');
    expect(formatProblem({ ...problem, path: 'source.key[0]' })).toBe('a.yaml:3:5 source.key[0] broken');
  });
});

describe('parsePipelineText: JSONata expressions', () => {
  it('reports a compute expression that does not compile at its file:line:col with the character', () => {
    const text = `${VALID}transform:\n  compute:\n    total: price * (qty\n`;

    expect(problemsOf(text)).toEqual([
      'pipelines/p.yaml:15:12 transform.compute.total JSONata expression does not compile at character 12: Expected ")" before end of expression (S0203)',
    ]);
  });

  it('reports a filter that does not compile at its file:line:col', () => {
    const text = `${VALID}transform:\n  filter: 'status = '\n`;

    expect(problemsOf(text)).toEqual([
      expect.stringMatching(
        /^pipelines\/p\.yaml:14:11 transform\.filter JSONata expression does not compile at character 9/,
      ),
    ]);
  });

  it('accepts a filter and computed fields that compile', () => {
    const text = `${VALID}transform:\n  filter: status = "active"\n  compute:\n    total: price * qty\n`;

    const { pipeline, problems } = parsePipelineText(text, 'p.yaml');

    expect(problems).toEqual([]);
    expect(pipeline?.transform).toMatchObject({
      filter: 'status = "active"',
      compute: { total: 'price * qty' },
    });
  });

  it('accepts the transform example of the reference, which computes and filters as its comment says', async () => {
    const { pipeline, problems } = parsePipelineText(`${VALID}${SECTION_EXAMPLES.transform}`, 'p.yaml');
    const apply = createRecordExpressions(pipeline?.transform ?? {});
    const order = { sku: 'ab', price: 2, qty: 3, createdAt: '2025-03-01T10:00:00Z', status: 'open' };

    expect(problems).toEqual([]);
    expect(await apply?.(order)).toEqual({
      kind: 'kept',
      data: { ...order, total: 6, label: 'AB-3', placedOn: '2025-03-01' },
    });
    expect(await apply?.({ ...order, status: 'cancelled' })).toEqual({ kind: 'filtered' });
  });
});

describe('parsePipelineText: key expressions', () => {
  it('reports a key expression that does not compile at its file:line:col with the character', () => {
    const text = VALID.replace('  key: [id]\n', '  key: [id]\n  keyExpression: tenant & (":" & id\n');

    expect(problemsOf(text)).toEqual([
      'pipelines/p.yaml:8:18 source.keyExpression JSONata expression does not compile at character 18: Expected ")" before end of expression (S0203)',
    ]);
  });

  it('refuses a key expression on a pipeline that also takes pushed changes, naming the trigger', () => {
    const text = VALID.replace(
      '  key: [id]\n',
      '  type: webhook\n  key: [id]\n  keyExpression: $string(id)\n',
    ).replace(
      / {2}type: postgres\n {2}connection:\n {4}secret: esync\/demo\/users-db\n {2}table: users\n/,
      '',
    );
    const withTrigger = text.replace(
      '  schedule: rate(15 minutes)\n',
      '  webhook: { signature: hmac, secret: hook-secret }\n',
    );

    expect(problemsOf(withTrigger)).toEqual([
      expect.stringMatching(
        /^pipelines\/p\.yaml:\d+:\d+ source\.keyExpression is evaluated where batch runs read records; pushed changes \(triggers\.webhook\) are keyed by source\.key/,
      ),
    ]);
  });

  it('accepts the source example of the reference, whose key expression keys a record as its comment says', async () => {
    const text = VALID.replace(/source:\n(?: {2}.*\n)+/, SECTION_EXAMPLES.source ?? '');
    const { pipeline, problems } = parsePipelineText(text, 'p.yaml');

    expect(problems).toEqual([]);
    const keyOf = createRecordKeyOf(pipeline?.source ?? { key: [] });
    expect(await keyOf({ tenant: 'Acme', id: 42, updated_at: '2025-03-01T10:00:00Z' })).toEqual({
      key: 'acme:42',
    });
  });
});

describe('parsePipelineText: custom validators', () => {
  it('refuses a validator name nothing registers, listing the known ones and the likely one', () => {
    const text = `${VALID}validation:\n  - field: email\n    custom: emial\n`;

    expect(problemsOf(text)).toEqual([
      'pipelines/p.yaml:15:13 validation[0].custom unknown validator "emial"; known: email, iso-country, uuid; did you mean `email`?',
    ]);
  });

  it('accepts each built-in validator', () => {
    const rules = ['email', 'iso-country', 'uuid'].map((name) => `  - field: f\n    custom: ${name}\n`);

    expect(problemsOf(`${VALID}validation:\n${rules.join('')}`)).toEqual([]);
  });
});
