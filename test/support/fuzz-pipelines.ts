import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { formatPath } from '../../shared/pipeline/issue-path.ts';
import {
  formatProblem,
  loadPipelineFiles,
  type Problem,
  parsePipelineText,
} from '../../shared/pipeline/load.ts';

/**
 * The pipeline-file half of the bad-input suite: the four example pipelines, broken one way at a
 * time, must each be rejected with problems that name the file, the line and (for schema errors)
 * the field, and the loader must never throw or print a stack trace.
 */

export const PIPELINE_MUTATIONS = [
  'delete-key',
  'wrong-type',
  'unknown-key',
  'bad-cron',
  'bad-regex',
  'broken-yaml',
  'byte-flip',
] as const;
export type PipelineMutation = (typeof PIPELINE_MUTATIONS)[number];

/** One generated broken pipeline file. */
export interface PipelineCase {
  readonly kind: PipelineMutation;
  /** The file name reported in problems, e.g. `pipelines/users-sync.yaml`. */
  readonly file: string;
  readonly text: string;
  /** The field the mutation broke, formatted as in problems (`source.key[0]`); none for text-level breakage. */
  readonly field?: string;
  /** Lines where that field's key or value is written in `text`: a problem about the field must point at one. */
  readonly fieldLines?: readonly number[];
  /** Whether every correct loader must reject the file (a deleted optional key or a retyped free-form value may still be valid). */
  readonly mustReject: boolean;
  /** What was done, for failure reports. */
  readonly description: string;
}

export interface PipelineCaseResult {
  readonly outcome: 'rejected' | 'valid' | 'threw';
  readonly problems: readonly string[];
  /** What is wrong with the loader's answer; empty when the case passes. */
  readonly defects: readonly string[];
}

export interface PipelineFuzzReport {
  readonly cases: number;
  readonly rejected: number;
  /** Mutations that left a valid pipeline (an optional key deleted, a free-form value retyped, a flipped comment byte). */
  readonly stillValid: number;
  readonly threw: number;
  /** Cases whose answer broke a rule (accepted when it must reject, problem without file/line/field, stack trace). */
  readonly failed: number;
  readonly byKind: Record<
    PipelineMutation,
    { cases: number; rejected: number; stillValid: number; failed: number }
  >;
  /** Up to 20 failing cases with their defects. */
  readonly failures: ReadonlyArray<{
    kind: PipelineMutation;
    description: string;
    defects: readonly string[];
  }>;
}

type Segment = string | number;

interface BasePipeline {
  readonly file: string;
  readonly text: string;
  /** Every key and list item of the document, with the kind of value found there. */
  readonly paths: ReadonlyArray<{ path: Segment[]; kind: ValueKind }>;
  readonly maps: ReadonlyArray<Segment[]>;
  readonly validationRules: number;
}

type ValueKind = 'string' | 'number' | 'boolean' | 'null' | 'list' | 'mapping';

/**
 * Keys no valid pipeline can lack, where they occur in the examples: deleting one must be
 * rejected and named.
 */
const REQUIRED = [
  /^name$/,
  /^source$/,
  /^target$/,
  /^source\.(type|key|connection|table)$/,
  /^source\.connection\.secret$/,
  /^source\.deletes\.(mode|column)$/,
  /^target\.(type|connection|table)$/,
  /^target\.connection\.secret$/,
  /^triggers\.webhook$/,
  /^triggers\.cdc$/,
  /^triggers\.(webhook|cdc)\.(signature|secret|pattern)$/,
  /^validation\[\d+\]\.field$/,
  /^conflict\.timestampField$/,
];

/**
 * Maps whose keys are free (field names, event pattern fields): an added key there is data, not an
 * unknown setting.
 */
const FREE_FORM = /^(transform\.(mask|rename|defaults)|conflict\.fields|triggers\.cdc\.pattern)(\.|\[|$)/;

/** Values that may be a string, a number or a boolean: retyping one between those kinds stays valid. */
const UNION_VALUED = /^(source\.deletes\.value|validation\[\d+\]\.enum\[\d+\])$/;

function kindOfValue(node: unknown): ValueKind {
  if (isMap(node)) return 'mapping';
  if (isSeq(node)) return 'list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'number') return 'number';
    if (typeof v === 'boolean') return 'boolean';
  }
  return 'string';
}

function collectPaths(
  node: unknown,
  prefix: Segment[],
  out: BasePipeline['paths'][number][],
  maps: Segment[][],
) {
  if (isMap(node)) {
    maps.push(prefix);
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const path = [...prefix, String(pair.key.value)];
      out.push({ path, kind: kindOfValue(pair.value) });
      collectPaths(pair.value, path, out, maps);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const path = [...prefix, index];
      out.push({ path, kind: kindOfValue(item) });
      collectPaths(item, path, out, maps);
    });
  }
}

/** Reads the example pipelines (`pipelines/*.yaml`) as mutation bases. */
export async function loadBasePipelines(rootDir: string): Promise<BasePipeline[]> {
  const names = ['github-issues.yaml', 'inventory-cdc.yaml', 'orders-sync.yaml', 'users-sync.yaml'];
  return Promise.all(
    names.map(async (name) => {
      const file = `pipelines/${name}`;
      const text = await readFile(path.join(rootDir, file), 'utf8');
      const doc = parseDocument(text);
      const paths: BasePipeline['paths'][number][] = [];
      const maps: Segment[][] = [];
      collectPaths(doc.contents, [], paths, maps);
      const rules = doc.getIn(['validation']);
      return { file, text, paths, maps, validationRules: isSeq(rules) ? rules.items.length : 0 };
    }),
  );
}

const isPathPrefix = (prefix: string, full: string) =>
  full === prefix || full.startsWith(`${prefix}.`) || full.startsWith(`${prefix}[`);

/** 1-based lines where the key and the value at `segments` are written in `text`. */
function linesOf(text: string, segments: readonly Segment[]): number[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const found: number[] = [];
  let node: unknown = doc.contents;
  for (const [i, segment] of segments.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) return found;
      if (i === segments.length - 1 && isScalar(pair.key) && pair.key.range)
        found.push(lines.linePos(pair.key.range[0]).line);
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
    } else return found;
  }
  const range = (node as Node | null)?.range;
  if (range) found.push(lines.linePos(range[0]).line);
  return found;
}

function mutateDocument(base: BasePipeline, change: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(base.text);
  change(doc);
  return doc.toString();
}

const valueOfKind: Record<ValueKind, fc.Arbitrary<unknown>> = {
  string: fc.constantFrom('text', 'yes', '12abc', '', 'rate(5 minutes)', 'esync/x'),
  number: fc.oneof(
    fc.integer({ min: -1000, max: 100_000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
  ),
  boolean: fc.boolean(),
  null: fc.constant(null),
  list: fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { minLength: 0, maxLength: 3 }),
  mapping: fc.dictionary(
    fc.stringMatching(/^[a-z]{1,8}$/),
    fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
    {
      minKeys: 1,
      maxKeys: 3,
    },
  ),
};

/** A value of a different kind from `kind` (a list for a string, a number for a mapping...). */
function otherKind(kind: ValueKind): fc.Arbitrary<{ kind: ValueKind; value: unknown }> {
  const kinds = (Object.keys(valueOfKind) as ValueKind[]).filter(
    (k) => k !== kind && !(kind === 'null' && k === 'string'),
  );
  return fc.constantFrom(...kinds).chain((k) => valueOfKind[k].map((value) => ({ kind: k, value })));
}

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

/** Regular expressions JavaScript refuses: unbalanced groups and classes, dangling quantifiers, bad ranges. */
export const badRegex: fc.Arbitrary<string> = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9^$.]{0,6}$/),
    fc.constantFrom(
      '(',
      ')',
      '[',
      '[a-',
      '*',
      '+',
      '?',
      'a{2,1}',
      '[z-a]',
      '(?<',
      '(?<n>a)(?<n>b)',
      'a**',
      '(?',
      '\\',
    ),
    fc.stringMatching(/^[a-z0-9.]{0,6}$/),
  )
  .map(([before, broken, after]) => `${before}${broken}${after}`)
  .filter((pattern) => !compiles(pattern));

const field = (n: number) => String(n);

/** Schedule expressions EventBridge refuses: wrong field counts, values out of range, both day fields, bad rates. */
export const badSchedule: fc.Arbitrary<string> = fc.oneof(
  fc
    .constantFrom(5, 7)
    .map((count) => `cron(${['0', '12', '*', '*', '?', '*', '0'].slice(0, count).join(' ')})`),
  fc.integer({ min: 60, max: 999 }).map((m) => `cron(${field(m)} * * * ? *)`),
  fc.integer({ min: 24, max: 999 }).map((h) => `cron(0 ${field(h)} * * ? *)`),
  fc.oneof(fc.constant(0), fc.integer({ min: 32, max: 999 })).map((d) => `cron(0 0 ${field(d)} * ? *)`),
  fc.oneof(fc.constant(0), fc.integer({ min: 13, max: 999 })).map((mo) => `cron(0 0 ? ${field(mo)} * *)`),
  fc.oneof(fc.constant(0), fc.integer({ min: 8, max: 999 })).map((w) => `cron(0 0 ? * ${field(w)} *)`),
  fc
    .oneof(fc.integer({ min: 1000, max: 1969 }), fc.integer({ min: 2200, max: 9999 }))
    .map((y) => `cron(0 0 * * ? ${y})`),
  fc.constantFrom('cron(0 0 1 * MON *)', 'cron(0 0 * * * *)', 'cron()', 'cron(0 0 * * ?)'),
  fc.stringMatching(/^[A-Z]{3,6}$/).map((token) => `cron(${token} 0 * * ? *)`),
  fc.integer({ min: 60, max: 999 }).map((step) => `cron(0/${step} * * * ? *)`),
  fc.integer({ min: -10, max: 0 }).map((n) => `rate(${n} minutes)`),
  fc.constantFrom(
    'rate(1 hours)',
    'rate(5 minute)',
    'rate(2 weeks)',
    'rate(five minutes)',
    'rate(5minutes)',
    'rate()',
  ),
  fc.stringMatching(/^[a-z ]{1,20}$/).filter((s) => !/^(rate|cron)\(/.test(s)),
);

/** Text-level YAML breakage on a line holding a key or list item: unclosed flow collections and quotes, stray aliases, duplicate keys, tabs. */
function brokenYaml(base: BasePipeline): fc.Arbitrary<PipelineCase> {
  const lines = base.text.split('\n');
  const candidates = lines
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => /^\s*(- |[A-Za-z_][\w-]*:)/.test(line) && !/^\s*#/.test(line));
  const topLevel = lines.filter((line) => /^[a-z]+:\s*\S/.test(line));
  return fc.oneof(
    fc
      .tuple(fc.constantFrom(...candidates), fc.constantFrom('[', '{', '"', "'", '*undefined-anchor '))
      .map(([{ line, index }, token]) => {
        const at = /^\s*- /.test(line) ? line.indexOf('- ') + 2 : line.indexOf(':') + 1;
        const broken = `${line.slice(0, at)} ${token}${line.slice(at).trimStart()}`;
        const text = [...lines.slice(0, index), broken, ...lines.slice(index + 1)].join('\n');
        return {
          kind: 'broken-yaml' as const,
          file: base.file,
          text,
          mustReject: true,
          description: `line ${index + 1}: inserted ${JSON.stringify(token)}: ${broken.trim()}`,
        };
      }),
    fc.constantFrom(...topLevel).map((line) => ({
      kind: 'broken-yaml' as const,
      file: base.file,
      text: `${base.text.trimEnd()}\n${line}\n`,
      mustReject: true,
      description: `duplicate key appended: ${line}`,
    })),
    fc.constantFrom(...candidates.filter(({ line }) => /^\s+/.test(line))).map(({ line, index }) => ({
      kind: 'broken-yaml' as const,
      file: base.file,
      text: [...lines.slice(0, index), line.replace(/^\s+/, '\t'), ...lines.slice(index + 1)].join('\n'),
      mustReject: true,
      description: `line ${index + 1}: indented with a tab`,
    })),
  );
}

/** Cases of one kind against one example pipeline. */
function casesFor(base: BasePipeline, kind: PipelineMutation): fc.Arbitrary<PipelineCase> {
  const common = { file: base.file };
  switch (kind) {
    case 'delete-key':
      return fc.constantFrom(...base.paths).map(({ path: segments }) => {
        const name = formatPath(segments);
        return {
          ...common,
          kind,
          text: mutateDocument(base, (doc) => doc.deleteIn(segments)),
          field: name,
          mustReject: REQUIRED.some((re) => re.test(name)),
          description: `deleted ${name}`,
        };
      });
    case 'wrong-type':
      return fc
        .constantFrom(...base.paths)
        .chain(({ path: segments, kind: was }) =>
          otherKind(was).map(({ kind: now, value }) => ({ segments, was, now, value })),
        )
        .map(({ segments, was, now, value }) => {
          const name = formatPath(segments);
          const text = mutateDocument(base, (doc) => doc.setIn(segments, value));
          return {
            ...common,
            kind,
            text,
            field: name,
            fieldLines: linesOf(text, segments),
            // Free-form values (event patterns, defaults) and unions accept more than one kind.
            mustReject: !FREE_FORM.test(name) && !UNION_VALUED.test(name),
            description: `${name}: ${was} replaced by ${now} ${JSON.stringify(value)}`,
          };
        });
    case 'unknown-key':
      return fc
        .tuple(
          fc.constantFrom(...base.maps),
          fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,14}$/),
          fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean()),
        )
        .filter(([at, key]) => {
          const existing = base.paths.some((p) => formatPath(p.path) === formatPath([...at, key]));
          return !existing;
        })
        .map(([at, key, value]) => {
          const segments = [...at, key];
          const name = formatPath(segments);
          const text = mutateDocument(base, (doc) => doc.setIn(segments, value));
          return {
            ...common,
            kind,
            text,
            field: name,
            fieldLines: linesOf(text, segments),
            mustReject: !FREE_FORM.test(name),
            description: `added ${name}: ${JSON.stringify(value)}`,
          };
        });
    case 'bad-cron':
      return badSchedule.map((expression) => {
        const text = mutateDocument(base, (doc) => doc.setIn(['triggers', 'schedule'], expression));
        return {
          ...common,
          kind,
          text,
          field: 'triggers.schedule',
          fieldLines: linesOf(text, ['triggers', 'schedule']),
          mustReject: true,
          description: `triggers.schedule: ${expression}`,
        };
      });
    case 'bad-regex':
      return fc
        .tuple(fc.nat({ max: Math.max(0, base.validationRules - 1) }), badRegex)
        .map(([index, pattern]) => {
          const at = base.validationRules === 0 ? 0 : index;
          const segments = ['validation', at, 'format'];
          const text = mutateDocument(base, (doc) => {
            if (base.validationRules === 0) doc.setIn(['validation'], [{ field: 'id', format: pattern }]);
            else doc.setIn(segments, pattern);
          });
          return {
            ...common,
            kind,
            text,
            field: formatPath(segments),
            fieldLines: linesOf(text, segments),
            mustReject: true,
            description: `validation[${at}].format: ${pattern}`,
          };
        });
    case 'broken-yaml':
      return brokenYaml(base);
    case 'byte-flip':
      return fc
        .array(
          fc.tuple(fc.nat({ max: Buffer.byteLength(base.text) - 1 }), fc.integer({ min: 1, max: 255 })),
          {
            minLength: 1,
            maxLength: 8,
          },
        )
        .map((flips) => {
          const bytes = Buffer.from(base.text, 'utf8');
          for (const [at, mask] of flips) bytes[at] = (bytes[at] ?? 0) ^ mask;
          return {
            ...common,
            kind,
            // As the loader reads a file: UTF-8, invalid sequences replaced.
            text: bytes.toString('utf8'),
            mustReject: false,
            description: `flipped bytes ${flips.map(([at, mask]) => `${at}^${mask}`).join(', ')}`,
          };
        });
  }
}

/** Broken pipeline files of every kind, spread over the four examples. */
export function pipelineCaseArbitrary(bases: readonly BasePipeline[]): fc.Arbitrary<PipelineCase> {
  return fc
    .tuple(fc.constantFrom(...bases), fc.constantFrom(...PIPELINE_MUTATIONS))
    .chain(([base, kind]) => casesFor(base, kind));
}

/** Problems that are about the file as a whole (syntax, not a mapping), which have no field to name. */
const FILE_LEVEL = /^(YAML (syntax )?error|the file is empty|a pipeline file holds one mapping)/;

function problemDefects(problem: Problem, file: string, lineCount: number): string[] {
  const defects: string[] = [];
  const text = formatProblem(problem);
  const expectedPrefix = `${file}:${problem.line}:${problem.col} `;
  if (problem.file !== file) defects.push(`names file ${JSON.stringify(problem.file)} instead of ${file}`);
  if (!text.startsWith(expectedPrefix)) defects.push(`not "file:line:col ...": ${text}`);
  if (!Number.isInteger(problem.line) || problem.line < 1 || problem.line > lineCount + 1)
    defects.push(`line ${problem.line} outside the file (${lineCount} lines): ${text}`);
  if (!Number.isInteger(problem.col) || problem.col < 1) defects.push(`column ${problem.col}: ${text}`);
  if (problem.message.trim() === '') defects.push(`empty message: ${text}`);
  if (/\n\s+at\s|\[object Object\]/.test(problem.message))
    defects.push(`stack trace or object dump: ${text}`);
  if (problem.path === '' && !FILE_LEVEL.test(problem.message)) defects.push(`names no field: ${text}`);
  return defects;
}

/** Loads one case and checks the answer; never throws. */
export function checkPipelineCase(c: PipelineCase): PipelineCaseResult {
  let problems: Problem[];
  let valid: boolean;
  try {
    const parsed = parsePipelineText(c.text, c.file);
    problems = parsed.problems;
    valid = parsed.pipeline !== undefined && problems.length === 0;
  } catch (error) {
    return {
      outcome: 'threw',
      problems: [],
      defects: [`threw ${(error as Error).name}: ${(error as Error).message}`],
    };
  }
  const formatted = problems.map(formatProblem);
  if (valid) return { outcome: 'valid', problems: [], defects: c.mustReject ? ['accepted'] : [] };
  const defects: string[] = [];
  if (problems.length === 0) defects.push('rejected without a problem');
  const lineCount = c.text.split('\n').length;
  for (const problem of problems) defects.push(...problemDefects(problem, c.file, lineCount));
  if (c.field !== undefined && (c.mustReject || c.kind !== 'delete-key')) {
    const field = c.field;
    const naming = problems.filter((p) => p.path !== '' && isPathPrefix(field, p.path));
    if (naming.length === 0) defects.push(`no problem names ${field}: ${formatted.join(' | ')}`);
    const lines = c.fieldLines;
    if (lines && lines.length > 0) {
      const exact = naming.filter((p) => p.path === field);
      if (exact.length > 0 && !exact.some((p) => lines.includes(p.line)))
        defects.push(
          `problem about ${field} points at line ${exact[0]?.line}, the field is on line ${lines.join('/')}`,
        );
    }
  }
  return { outcome: 'rejected', problems: formatted, defects };
}

/**
 * Loads cases from files in a temporary directory with `loadPipelineFiles`, which must name each
 * file as given (relative to cwd) and never throw; returns the defects found, per case.
 */
export async function checkThroughFiles(
  cases: readonly PipelineCase[],
): Promise<Array<{ case: PipelineCase; defects: string[] }>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'esync-fuzz-pipelines-'));
  const out: Array<{ case: PipelineCase; defects: string[] }> = [];
  try {
    for (const [i, c] of cases.entries()) {
      const name = `case-${i}.yaml`;
      await writeFile(path.join(dir, name), c.text);
      const defects: string[] = [];
      try {
        const { problems, pipelines } = await loadPipelineFiles([name], { cwd: dir });
        if (c.mustReject && pipelines.length > 0) defects.push('accepted from a file');
        for (const problem of problems)
          defects.push(...problemDefects(problem, name, c.text.split('\n').length));
      } catch (error) {
        defects.push(`loadPipelineFiles threw ${(error as Error).message}`);
      }
      if (defects.length > 0) out.push({ case: c, defects });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

/** Generates `count` cases from `seed` and checks each. */
export async function runPipelineFuzz(options: {
  readonly rootDir: string;
  readonly count: number;
  readonly seed: number;
}): Promise<PipelineFuzzReport> {
  const bases = await loadBasePipelines(options.rootDir);
  const cases = fc.sample(pipelineCaseArbitrary(bases), { numRuns: options.count, seed: options.seed });
  const byKind = Object.fromEntries(
    PIPELINE_MUTATIONS.map((k) => [k, { cases: 0, rejected: 0, stillValid: 0, failed: 0 }]),
  ) as PipelineFuzzReport['byKind'];
  const failures: Array<{ kind: PipelineMutation; description: string; defects: readonly string[] }> = [];
  let rejected = 0;
  let stillValid = 0;
  let threw = 0;
  let failed = 0;
  for (const c of cases) {
    const result = checkPipelineCase(c);
    const tally = byKind[c.kind];
    tally.cases++;
    if (result.outcome === 'rejected') {
      rejected++;
      tally.rejected++;
    } else if (result.outcome === 'valid') {
      stillValid++;
      tally.stillValid++;
    } else threw++;
    if (result.defects.length > 0) {
      failed++;
      tally.failed++;
      if (failures.length < 20)
        failures.push({ kind: c.kind, description: `${c.file}: ${c.description}`, defects: result.defects });
    }
  }
  // Every 50th case once more through a file on disk, as `esync validate` and the CDK app read them.
  for (const found of await checkThroughFiles(cases.filter((_, i) => i % 50 === 0))) {
    failed++;
    byKind[found.case.kind].failed++;
    if (failures.length < 20)
      failures.push({
        kind: found.case.kind,
        description: `from a file: ${found.case.description}`,
        defects: found.defects,
      });
  }
  return { cases: cases.length, rejected, stillValid, threw, failed, byKind, failures };
}
