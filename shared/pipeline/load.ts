import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml';
import type { z } from 'zod';
import { ExtensionRegistry } from '../extensions/registry.ts';
import { kafkaSchemaCompileIssue } from '../kafka/schema-values.ts';
import { didYouMean } from './did-you-mean.ts';
import { extensionIssues } from './extension-check.ts';
import { formatPath } from './issue-path.ts';
import { knownKeys, schemaAtPath } from './reference.ts';
import { type Pipeline, pipelineSchema, SOURCE_TYPES, TARGET_TYPES } from './schema.ts';

/** One thing wrong with a pipeline file, with where it is. */
export interface Problem {
  /** The file, as given (relative to the working directory when loaded with {@link loadPipelineFiles}). */
  readonly file: string;
  /** 1-based line of the offending node (of the enclosing mapping when a key is missing). */
  readonly line: number;
  /** 1-based column. */
  readonly col: number;
  /** Dotted path inside the pipeline, e.g. `source.key[0]`; empty for the file as a whole. */
  readonly path: string;
  readonly message: string;
}

/** Result of parsing one pipeline file: the pipeline when it is valid, and every problem found. */
export interface ParsedPipelineFile {
  readonly pipeline?: Pipeline;
  readonly problems: Problem[];
}

/** Result of loading pipeline files: the valid pipelines and every problem of all files. */
export interface LoadedPipelines {
  readonly pipelines: Pipeline[];
  readonly problems: Problem[];
}

type PathSegment = PropertyKey;

/** `file:line:col path message`, the shape editors and CI annotators recognise. */
export function formatProblem(problem: Problem): string {
  const where = `${problem.file}:${problem.line}:${problem.col}`;
  return problem.path === '' ? `${where} ${problem.message}` : `${where} ${problem.path} ${problem.message}`;
}

interface Position {
  readonly line: number;
  readonly col: number;
}

/** Finds the YAML nodes behind a path of the parsed value, to report problems where they are written. */
class NodeLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  private at(offset: number | undefined): Position {
    return offset === undefined ? { line: 1, col: 1 } : this.lines.linePos(offset);
  }

  private resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  /**
   * Walks `segments` down the document. Returns the deepest node reached, the key node of the last
   * mapping entry taken, and whether the whole path exists.
   */
  private walk(segments: readonly PathSegment[]): {
    node: Node | undefined;
    key: Node | undefined;
    found: boolean;
  } {
    let node = this.resolve(this.doc.contents) as Node | null;
    let key: Node | undefined;
    for (const segment of segments) {
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
        );
        if (!pair) return { node, key, found: false };
        key = isScalar(pair.key) ? pair.key : undefined;
        const value = this.resolve(pair.value);
        // An empty value (`table:`) has a zero-width node at the end of the line; its key is the better place.
        if (!value || (isScalar(value) && value.value === null && value.source === ''))
          return { node: undefined, key, found: true };
        node = value as Node;
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = this.resolve(node.items[segment]);
        if (!item) return { node, key, found: false };
        key = undefined;
        node = item as Node;
      } else {
        return { node: node ?? undefined, key, found: false };
      }
    }
    return { node: node ?? undefined, key, found: true };
  }

  /** Where the value at `segments` is written; for a missing path, the enclosing node. */
  valuePosition(segments: readonly PathSegment[]): Position {
    const { node, key } = this.walk(segments);
    return this.at(node?.range?.[0] ?? key?.range?.[0]);
  }

  /** Where the key of the entry at `segments` is written (an unknown key), or the value for list items. */
  keyPosition(segments: readonly PathSegment[]): Position {
    const { node, key, found } = this.walk(segments);
    if (found && key && typeof segments.at(-1) === 'string') return this.at(key.range?.[0]);
    return this.at(node?.range?.[0] ?? key?.range?.[0]);
  }
}

function valueAt(root: unknown, segments: readonly PathSegment[]): unknown {
  let value = root;
  for (const segment of segments) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

function hasPath(root: unknown, segments: readonly PathSegment[]): boolean {
  const parent = valueAt(root, segments.slice(0, -1));
  const last = segments.at(-1);
  return typeof parent === 'object' && parent !== null && last !== undefined && Object.hasOwn(parent, last);
}

function kindOf(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${preview(value)}`;
  if (typeof value === 'number')
    return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const short = text.length > 40 ? `${text.slice(0, 37)}...` : text;
  return `\`${short}\``;
}

const EXPECTED_NAMES: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean (true or false)',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

function expectedName(expected: string): string {
  return EXPECTED_NAMES[expected] ?? expected;
}

function listWithOr(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

function typesForDiscriminator(
  issuePath: readonly PathSegment[],
  options: readonly unknown[],
): readonly unknown[] {
  if (issuePath.length === 2 && issuePath[0] === 'source') return SOURCE_TYPES;
  if (issuePath.length === 2 && issuePath[0] === 'target') return TARGET_TYPES;
  return options;
}

function sizeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown): string {
  const small = issue.code === 'too_small';
  const limit = small ? issue.minimum : issue.maximum;
  const inclusive = issue.inclusive !== false;
  if (issue.origin === 'string' || issue.origin === 'array') {
    const unit = issue.origin === 'string' ? 'character' : 'item';
    const count = typeof value === 'string' || Array.isArray(value) ? value.length : undefined;
    if (small && Number(limit) === 1 && inclusive)
      return issue.origin === 'string' ? 'must not be empty' : 'needs at least one item';
    const bound = `${small ? 'at least' : 'at most'} ${limit} ${unit}${Number(limit) === 1 ? '' : 's'}`;
    return `must have ${bound}${count === undefined ? '' : `, has ${count}`}`;
  }
  const relation = small ? (inclusive ? '≥' : '>') : inclusive ? '≤' : '<';
  return `must be ${relation} ${limit}, got ${String(value)}`;
}

type IssueOf<C extends z.core.$ZodIssue['code']> = Extract<z.core.$ZodIssue, { code: C }>;

/** Where one zod issue points and what stands there, with the maker of its problems. */
interface IssueSite {
  readonly input: unknown;
  readonly locator: NodeLocator;
  readonly value: unknown;
  /** The issue's key is absent from the file. */
  readonly missing: boolean;
  readonly lastSegment: string;
  readonly at: (segments: readonly PathSegment[], message: string, position?: Position) => Problem;
}

function issueSite(issue: z.core.$ZodIssue, input: unknown, locator: NodeLocator, file: string): IssueSite {
  return {
    input,
    locator,
    value: valueAt(input, issue.path),
    missing: issue.path.length > 0 && !hasPath(input, issue.path),
    lastSegment: String(issue.path.at(-1) ?? ''),
    at: (segments, message, position = locator.valuePosition(segments)) => ({
      file,
      ...position,
      path: formatPath(segments),
      message,
    }),
  };
}

/** `missing required key`, pointed at the mapping that lacks it. */
function missingKey(path: readonly PathSegment[], site: IssueSite, detail = ''): Problem {
  const parent = site.locator.valuePosition(path.slice(0, -1));
  return site.at(path, `missing required key \`${site.lastSegment}\`${detail}`, parent);
}

/** Turns one zod issue into problems (several for unknown keys), phrased for a person editing YAML. */
function problemsOfIssue(
  issue: z.core.$ZodIssue,
  input: unknown,
  locator: NodeLocator,
  file: string,
): Problem[] {
  const site = issueSite(issue, input, locator, file);
  switch (issue.code) {
    case 'unrecognized_keys':
      return unknownKeyProblems(issue, site);
    case 'invalid_union':
      return [unionProblem(issue, site)];
    case 'invalid_type':
      return [typeProblem(issue, site)];
    case 'invalid_value':
      return [valueProblem(issue, site)];
    case 'too_small':
    case 'too_big':
      return [site.at(issue.path, sizeMessage(issue, site.value))];
    case 'invalid_key':
      return [site.at(issue.path, `invalid key: ${issue.issues.map((inner) => inner.message).join('; ')}`)];
    case 'invalid_element':
      return [site.at(issue.path, `invalid entry: ${issue.issues.map((inner) => inner.message).join('; ')}`)];
    case 'invalid_format':
      return [
        site.at(
          issue.path,
          issue.format === 'regex' && issue.message.startsWith('Invalid')
            ? `does not match ${issue.pattern ?? 'the expected pattern'}`
            : issue.message,
        ),
      ];
    default:
      return [site.at(issue.path, issue.message)];
  }
}

/** One problem per unknown key, with the closest allowed key or the list of them. */
function unknownKeyProblems(issue: IssueOf<'unrecognized_keys'>, site: IssueSite): Problem[] {
  const allowed = knownKeys(schemaAtPath(pipelineSchema, issue.path, site.input), site.value);
  return issue.keys.map((key) => {
    const segments = [...issue.path, key];
    const hint = didYouMean(key, allowed);
    const message =
      hint !== ''
        ? `unknown key \`${key}\`${hint}`
        : `unknown key \`${key}\`; allowed keys: ${allowed.join(', ')}`;
    return site.at(segments, message, site.locator.keyPosition(segments));
  });
}

/** A value matching no branch: the valid types of a discriminated union, or the kinds expected. */
function unionProblem(issue: IssueOf<'invalid_union'>, site: IssueSite): Problem {
  const { value, lastSegment } = site;
  if (issue.discriminator !== undefined && issue.inclusive !== false) {
    const options = typesForDiscriminator(issue.path, issue.options ?? []).map(String);
    const owner = issue.path.length === 2 ? `${String(issue.path[0])} ` : '';
    const label = lastSegment === 'type' ? `${owner}type` : lastSegment;
    if (site.missing || value === undefined)
      return missingKey(issue.path, site, `; valid ${label}s: ${options.join(', ')}`);
    const hint = didYouMean(String(value), options);
    return site.at(
      issue.path,
      `unknown ${label} ${preview(value)}; valid ${label}s: ${options.join(', ')}${hint}`,
    );
  }
  const expected = new Set<string>();
  for (const branch of issue.errors)
    for (const inner of branch)
      if (inner.code === 'invalid_type' && inner.path.length === 0)
        expected.add(expectedName(inner.expected));
  if (expected.size > 0 && issue.errors.every((branch) => branch.length === 1))
    return site.at(issue.path, `expected ${listWithOr([...expected])}, got ${kindOf(value)}`);
  return site.at(issue.path, issue.message);
}

function typeProblem(issue: IssueOf<'invalid_type'>, site: IssueSite): Problem {
  if (site.missing) return missingKey(issue.path, site);
  if (issue.path.length === 0 && (site.value === null || site.value === undefined))
    return site.at([], 'the file is empty; a pipeline is a mapping with at least name, source and target');
  return site.at(issue.path, `expected ${expectedName(issue.expected)}, got ${kindOf(site.value)}`);
}

function valueProblem(issue: IssueOf<'invalid_value'>, site: IssueSite): Problem {
  if (site.missing) return missingKey(issue.path, site);
  const { value } = site;
  const options = issue.values.map(String);
  const hint = typeof value === 'string' ? didYouMean(value, options) : '';
  const got = value === undefined ? 'nothing' : preview(value);
  return site.at(issue.path, `expected one of ${options.join(', ')}; got ${got}${hint}`);
}

function byPosition(a: Problem, b: Problem): number {
  return a.line - b.line || a.col - b.col || a.path.localeCompare(b.path);
}

/**
 * What the pipeline schema leaves to the loader because only its users need the code: a kafka
 * source's Avro or Protobuf schema that does not compile (the functions never load avro-js or
 * protobufjs to parse a pipeline).
 */
function compileProblems(pipeline: Pipeline, locator: NodeLocator, file: string): Problem[] {
  if (pipeline.source.type !== 'kafka') return [];
  const message = kafkaSchemaCompileIssue(pipeline.source);
  if (message === undefined) return [];
  const segments = ['source', 'schema'];
  return [{ file, ...locator.valuePosition(segments), path: formatPath(segments), message }];
}

interface AnalysedFile extends ParsedPipelineFile {
  /** Where `name` is written, to point at it when two files use one name. */
  readonly namePosition: Position;
}

/** Offset of the first alias without an anchor before it (the usual reason `toJS` throws). */
function firstUnresolvedAlias(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return undefined;
      offset = alias.range?.[0];
      return visit.BREAK;
    },
  });
  return offset;
}

function analyse(text: string, file: string, extensions: ExtensionRegistry): AnalysedFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locator = new NodeLocator(doc, lines);
  const fileProblem = (message: string, offset?: number): Problem => ({
    file,
    ...(offset === undefined ? { line: 1, col: 1 } : lines.linePos(offset)),
    path: '',
    message,
  });

  const syntax = [...doc.errors, ...doc.warnings].map((error) =>
    fileProblem(`YAML syntax error: ${error.message}`, error.pos[0]),
  );
  if (syntax.length > 0) return { problems: syntax.sort(byPosition), namePosition: { line: 1, col: 1 } };

  let input: unknown;
  try {
    // maxAliasCount bounds alias expansion, so a "billion laughs" file cannot exhaust memory.
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return {
      problems: [fileProblem(`YAML error: ${(error as Error).message}`, firstUnresolvedAlias(doc))],
      namePosition: { line: 1, col: 1 },
    };
  }
  const namePosition = locator.valuePosition(['name']);

  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    const message =
      input === null || input === undefined
        ? 'the file is empty; a pipeline is a mapping with at least name, source and target'
        : `a pipeline file holds one mapping (name, source, target, ...), not ${kindOf(input)}`;
    return { problems: [{ file, ...locator.valuePosition([]), path: '', message }], namePosition };
  }

  const result = pipelineSchema.safeParse(input);
  if (result.success) {
    const compile = compileProblems(result.data, locator, file);
    if (compile.length > 0) return { problems: compile, namePosition };
    const extension = extensionIssues(result.data, extensions).flatMap(({ path, message }) =>
      problemsOfIssue({ code: 'custom', path: [...path], message, input }, input, locator, file),
    );
    return extension.length > 0
      ? { problems: extension.sort(byPosition), namePosition }
      : { pipeline: result.data, problems: [], namePosition };
  }
  const problems = result.error.issues.flatMap((issue) => problemsOfIssue(issue, input, locator, file));
  return { problems: problems.sort(byPosition), namePosition };
}

/**
 * Parses and validates one pipeline file's text. Never throws for bad input: YAML syntax errors,
 * unknown keys (with a "did you mean" hint), wrong types, unknown connector types, bad schedules and
 * regular expressions all come back as problems with their line and column, all of them at once.
 */
export function parsePipelineText(
  text: string,
  file: string,
  extensions: ExtensionRegistry = new ExtensionRegistry(),
): ParsedPipelineFile {
  const { pipeline, problems } = analyse(text, file, extensions);
  return pipeline === undefined ? { problems } : { pipeline, problems };
}

/** Options of {@link loadPipelineFiles}. */
export interface LoadPipelineOptions {
  /** Directory that relative paths are resolved against and that reported file names are relative to. @default - process.cwd() */
  readonly cwd?: string;
  /**
   * The validators and connectors pipelines may name (`validation[].custom`, `type: custom`).
   * @default - the built-in validators only
   */
  readonly extensions?: ExtensionRegistry;
}

async function expandPaths(
  paths: readonly string[],
  cwd: string,
): Promise<{ files: string[]; problems: Problem[] }> {
  const files: string[] = [];
  const problems: Problem[] = [];
  const report = (absolute: string, message: string) =>
    problems.push({ file: path.relative(cwd, absolute) || '.', line: 1, col: 1, path: '', message });
  for (const given of paths) {
    const absolute = path.resolve(cwd, given);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(absolute);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      report(
        absolute,
        code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${(error as Error).message}`,
      );
      continue;
    }
    if (!info.isDirectory()) {
      files.push(absolute);
      continue;
    }
    const entries = await readdir(absolute, { withFileTypes: true });
    const yamlFiles = entries
      .filter((entry) => entry.isFile() && /\.ya?ml$/i.test(entry.name))
      .map((entry) => entry.name)
      .sort();
    if (yamlFiles.length === 0) report(absolute, 'no pipeline files (*.yaml, *.yml) in this directory');
    files.push(...yamlFiles.map((name) => path.join(absolute, name)));
  }
  return { files: [...new Set(files)], problems };
}

/**
 * Loads and validates pipeline files. `paths` may name files or directories (whose `*.yaml` and
 * `*.yml` files are read in name order). Two files declaring one pipeline name are a problem that
 * names both. Never throws for bad input; the pipelines returned are those without problems.
 */
export async function loadPipelineFiles(
  paths: readonly string[],
  options: LoadPipelineOptions = {},
): Promise<LoadedPipelines> {
  const cwd = options.cwd ?? process.cwd();
  const { files, problems } = await expandPaths(paths, cwd);
  const pipelines: Pipeline[] = [];
  const firstUseOfName = new Map<string, string>();
  for (const absolute of files) {
    const file = path.relative(cwd, absolute);
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      problems.push({ file, line: 1, col: 1, path: '', message: `cannot read: ${(error as Error).message}` });
      continue;
    }
    const analysed = analyse(text, file, options.extensions ?? new ExtensionRegistry());
    problems.push(...analysed.problems);
    const pipeline = analysed.pipeline;
    if (pipeline === undefined) continue;
    const earlier = firstUseOfName.get(pipeline.name);
    if (earlier !== undefined) {
      problems.push({
        file,
        ...analysed.namePosition,
        path: 'name',
        message: `pipeline name \`${pipeline.name}\` is already used by ${earlier}; names must be unique`,
      });
      continue;
    }
    firstUseOfName.set(pipeline.name, `${file}:${analysed.namePosition.line}:${analysed.namePosition.col}`);
    pipelines.push(pipeline);
  }
  return { pipelines, problems };
}
