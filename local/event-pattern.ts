import { BlockList, isIP } from 'node:net';
import { type Issue, ValidationError } from '../shared/errors.ts';

/**
 * Amazon EventBridge event-pattern matching (content filtering), for the local event bus and
 * for validating the `cdc.pattern` of pipeline files.
 *
 * Semantics implemented, as documented for EventBridge:
 * - fields at one level are ANDed; the values of a leaf array are ORed;
 * - a leaf matches an event array when any element matches (arrays of objects: any element
 *   satisfies the nested pattern);
 * - exact values (string, number, boolean, `null`; `""` and `null` are distinct);
 * - `prefix` / `suffix` (also `{ "equals-ignore-case": ... }` inside), `equals-ignore-case`,
 *   `wildcard` (`*`, with `\*` and `\\` escapes), `numeric` ranges, `exists`, `cidr` (IPv4 and
 *   IPv6), `anything-but` (value, list, `prefix`, `suffix`, `wildcard`, `equals-ignore-case`),
 *   and `$or` at any object level.
 *
 * `exists` only considers leaves: an absent field, an object, or an empty array does not exist.
 * Every operator other than `exists: false` needs the field to be present.
 */

type Scalar = string | number | boolean | null;

type Condition =
  | { readonly kind: 'exact'; readonly value: Scalar }
  | {
      readonly kind: 'prefix' | 'suffix' | 'ignore-case';
      readonly value: string;
      readonly ignoreCase: boolean;
    }
  | { readonly kind: 'wildcard'; readonly regex: RegExp }
  | { readonly kind: 'numeric'; readonly test: (n: number) => boolean }
  | { readonly kind: 'exists'; readonly value: boolean }
  | { readonly kind: 'cidr'; readonly block: BlockList }
  | { readonly kind: 'anything-but'; readonly excluded: readonly Condition[] };

interface ObjectMatcher {
  readonly fields: readonly {
    readonly key: string;
    readonly matcher: ObjectMatcher | readonly Condition[];
  }[];
  readonly anyOf: readonly ObjectMatcher[] | undefined;
}

/** A compiled pattern: tells whether an event matches. */
export type EventMatcher = (event: unknown) => boolean;

/** EventBridge's documented bounds for `numeric` operands. */
const NUMERIC_LIMIT = 5e9;
const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const describe = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

/** Collects problems while compiling, so one pass both validates and builds the matcher. */
class Compiler {
  readonly issues: Issue[] = [];

  problem(path: string, message: string): undefined {
    this.issues.push({ path: path === '' ? '(pattern)' : path, message });
    return undefined;
  }

  object(pattern: unknown, path: string): ObjectMatcher | undefined {
    if (!isPlainObject(pattern)) return this.problem(path, `must be an object, got ${describe(pattern)}`);
    const keys = Object.keys(pattern);
    if (keys.length === 0) return this.problem(path, 'must name at least one field');
    const fields: { key: string; matcher: ObjectMatcher | readonly Condition[] }[] = [];
    let anyOf: ObjectMatcher[] | undefined;
    for (const key of keys) {
      const value = pattern[key];
      const at = join(path, key);
      if (key === '$or') {
        anyOf = this.alternatives(value, at);
        continue;
      }
      if (Array.isArray(value)) {
        const leaf = this.leaf(value, at);
        if (leaf) fields.push({ key, matcher: leaf });
      } else if (isPlainObject(value)) {
        const nested = this.object(value, at);
        if (nested) fields.push({ key, matcher: nested });
      } else {
        this.problem(at, `must be an array of values or a nested object, got ${describe(value)}`);
      }
    }
    return { fields, anyOf };
  }

  alternatives(value: unknown, path: string): ObjectMatcher[] | undefined {
    if (!Array.isArray(value) || value.length < 2)
      return this.problem(path, `must be an array of at least two patterns, got ${describe(value)}`);
    const compiled = value.map((alternative, i) => this.object(alternative, join(path, i)));
    return compiled.every((c) => c !== undefined) ? compiled : undefined;
  }

  leaf(values: readonly unknown[], path: string): Condition[] | undefined {
    if (values.length === 0) return this.problem(path, 'must list at least one value to match');
    const conditions: Condition[] = [];
    values.forEach((value, i) => {
      const condition = this.condition(value, join(path, i));
      if (condition) conditions.push(condition);
    });
    return conditions.length === values.length ? conditions : undefined;
  }

  condition(value: unknown, path: string): Condition | undefined {
    if (value === null || typeof value === 'string' || typeof value === 'boolean')
      return { kind: 'exact', value };
    if (typeof value === 'number') {
      if (!Number.isFinite(value))
        return this.problem(path, `must be a finite number, got ${describe(value)}`);
      return { kind: 'exact', value };
    }
    if (!isPlainObject(value))
      return this.problem(path, `must be a value or a filter object, got ${describe(value)}`);
    const keys = Object.keys(value);
    const operator = keys[0];
    if (keys.length !== 1 || operator === undefined)
      return this.problem(path, `a filter object holds exactly one operator, got ${describe(keys)}`);
    const operand = value[operator];
    const at = join(path, operator);
    switch (operator) {
      case 'prefix':
      case 'suffix':
        return this.affix(operator, operand, at);
      case 'equals-ignore-case':
        if (typeof operand !== 'string')
          return this.problem(at, `must be a string, got ${describe(operand)}`);
        return { kind: 'ignore-case', value: operand.toLowerCase(), ignoreCase: true };
      case 'wildcard':
        return this.wildcard(operand, at);
      case 'numeric':
        return this.numeric(operand, at);
      case 'exists':
        if (typeof operand !== 'boolean')
          return this.problem(at, `must be true or false, got ${describe(operand)}`);
        return { kind: 'exists', value: operand };
      case 'cidr':
        return this.cidr(operand, at);
      case 'anything-but':
        return this.anythingBut(operand, at);
      default:
        return this.problem(path, `unknown operator "${operator}"`);
    }
  }

  affix(kind: 'prefix' | 'suffix', operand: unknown, path: string): Condition | undefined {
    if (typeof operand === 'string') return { kind, value: operand, ignoreCase: false };
    if (isPlainObject(operand) && Object.keys(operand).length === 1 && 'equals-ignore-case' in operand) {
      const inner = operand['equals-ignore-case'];
      if (typeof inner !== 'string')
        return this.problem(join(path, 'equals-ignore-case'), `must be a string, got ${describe(inner)}`);
      return { kind, value: inner.toLowerCase(), ignoreCase: true };
    }
    return this.problem(path, `must be a string or {"equals-ignore-case": string}, got ${describe(operand)}`);
  }

  wildcard(operand: unknown, path: string): Condition | undefined {
    if (typeof operand !== 'string') return this.problem(path, `must be a string, got ${describe(operand)}`);
    let source = '';
    let previousStar = false;
    for (let i = 0; i < operand.length; i++) {
      const char = operand[i] as string;
      if (char === '\\') {
        const next = operand[i + 1];
        if (next !== '*' && next !== '\\')
          return this.problem(path, `"\\" may only escape "*" or "\\" (at character ${i + 1})`);
        source += next === '*' ? '\\*' : '\\\\';
        previousStar = false;
        i++;
      } else if (char === '*') {
        if (previousStar)
          return this.problem(path, `consecutive "*" are not allowed (at character ${i + 1})`);
        source += '[\\s\\S]*';
        previousStar = true;
      } else {
        // Not `-`: outside a class, the `u` flag refuses `\-` as an invalid escape.
        source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        previousStar = false;
      }
    }
    return { kind: 'wildcard', regex: new RegExp(`^${source}$`, 'u') };
  }

  numeric(operand: unknown, path: string): Condition | undefined {
    if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0 || operand.length > 4)
      return this.problem(path, `must be [operator, number] or two such pairs, got ${describe(operand)}`);
    const tests: ((n: number) => boolean)[] = [];
    let lower: number | undefined;
    let upper: number | undefined;
    let equals = false;
    for (let i = 0; i < operand.length; i += 2) {
      const op = operand[i];
      const bound = operand[i + 1];
      if (typeof op !== 'string' || !NUMERIC_OPERATORS.has(op))
        return this.problem(join(path, i), `must be one of = < <= > >=, got ${describe(op)}`);
      if (typeof bound !== 'number' || !Number.isFinite(bound) || Math.abs(bound) > NUMERIC_LIMIT)
        return this.problem(
          join(path, i + 1),
          `must be a number between -5e9 and 5e9, got ${describe(bound)}`,
        );
      if (op === '=') {
        equals = true;
        tests.push((n) => n === bound);
      } else if (op === '>' || op === '>=') {
        if (lower !== undefined) return this.problem(path, 'has more than one lower bound');
        lower = bound;
        tests.push(op === '>' ? (n) => n > bound : (n) => n >= bound);
      } else {
        if (upper !== undefined) return this.problem(path, 'has more than one upper bound');
        upper = bound;
        tests.push(op === '<' ? (n) => n < bound : (n) => n <= bound);
      }
    }
    if (equals && operand.length > 2) return this.problem(path, '"=" cannot be combined with another bound');
    if (lower !== undefined && upper !== undefined && lower > upper)
      return this.problem(path, `the lower bound ${lower} is above the upper bound ${upper}`);
    return { kind: 'numeric', test: (n) => tests.every((t) => t(n)) };
  }

  cidr(operand: unknown, path: string): Condition | undefined {
    const match = typeof operand === 'string' ? /^(.+)\/(\d{1,3})$/.exec(operand) : null;
    const address = match?.[1];
    const family = address === undefined ? 0 : isIP(address);
    const bits = Number(match?.[2]);
    if (!match || address === undefined || family === 0 || bits > (family === 4 ? 32 : 128))
      return this.problem(
        path,
        `must be an IPv4 or IPv6 block such as "10.0.0.0/24", got ${describe(operand)}`,
      );
    const block = new BlockList();
    block.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
    return { kind: 'cidr', block };
  }

  anythingBut(operand: unknown, path: string): Condition | undefined {
    if (typeof operand === 'string' || (typeof operand === 'number' && Number.isFinite(operand)))
      return { kind: 'anything-but', excluded: [{ kind: 'exact', value: operand }] };
    if (Array.isArray(operand)) {
      const allStrings = operand.every((v) => typeof v === 'string');
      const allNumbers = operand.every((v) => typeof v === 'number' && Number.isFinite(v));
      if (operand.length === 0 || !(allStrings || allNumbers))
        return this.problem(path, `must list only strings or only numbers, got ${describe(operand)}`);
      return {
        kind: 'anything-but',
        excluded: operand.map((value: string | number) => ({ kind: 'exact', value })),
      };
    }
    if (isPlainObject(operand) && Object.keys(operand).length === 1) {
      const [operator] = Object.keys(operand) as [string];
      const inner = operand[operator];
      const at = join(path, operator);
      if (operator === 'prefix' || operator === 'suffix') {
        if (typeof inner !== 'string') return this.problem(at, `must be a string, got ${describe(inner)}`);
        return { kind: 'anything-but', excluded: [{ kind: operator, value: inner, ignoreCase: false }] };
      }
      if (operator === 'wildcard' || operator === 'equals-ignore-case') {
        const list = typeof inner === 'string' ? [inner] : inner;
        if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string'))
          return this.problem(at, `must be a string or a list of strings, got ${describe(inner)}`);
        const excluded = list.map((v: string) => this.condition({ [operator]: v }, at));
        return excluded.every((c) => c !== undefined) ? { kind: 'anything-but', excluded } : undefined;
      }
    }
    return this.problem(
      path,
      `must be a value, a list, or one of {prefix|suffix|wildcard|equals-ignore-case: ...}, got ${describe(operand)}`,
    );
  }
}

/** The leaf values of an event field: arrays flattened, objects (not leaves) left out. */
function leafValues(value: unknown, into: Scalar[] = []): Scalar[] {
  if (Array.isArray(value)) for (const element of value) leafValues(element, into);
  else if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
    into.push(value as Scalar);
  return into;
}

function testCondition(condition: Condition, value: Scalar): boolean {
  switch (condition.kind) {
    case 'exact':
      return value === condition.value;
    case 'prefix':
    case 'suffix':
    case 'ignore-case': {
      if (typeof value !== 'string') return false;
      const subject = condition.ignoreCase ? value.toLowerCase() : value;
      if (condition.kind === 'prefix') return subject.startsWith(condition.value);
      if (condition.kind === 'suffix') return subject.endsWith(condition.value);
      return subject === condition.value;
    }
    case 'wildcard':
      return typeof value === 'string' && condition.regex.test(value);
    case 'numeric':
      return typeof value === 'number' && condition.test(value);
    case 'exists':
      return condition.value;
    case 'cidr': {
      if (typeof value !== 'string') return false;
      const family = isIP(value);
      return family !== 0 && condition.block.check(value, family === 4 ? 'ipv4' : 'ipv6');
    }
    case 'anything-but':
      return !condition.excluded.some((excluded) => testCondition(excluded, value));
  }
}

function matchLeaf(conditions: readonly Condition[], value: unknown): boolean {
  const values = leafValues(value);
  if (values.length === 0) return conditions.some((c) => c.kind === 'exists' && !c.value);
  return conditions.some((condition) => values.some((v) => testCondition(condition, v)));
}

function matchObject(matcher: ObjectMatcher, value: unknown): boolean {
  if (Array.isArray(value) && value.length > 0) return value.some((element) => matchObject(matcher, element));
  const fields = isPlainObject(value) ? value : {};
  for (const { key, matcher: field } of matcher.fields) {
    const fieldValue = Object.hasOwn(fields, key) ? fields[key] : undefined;
    const ok = Array.isArray(field)
      ? matchLeaf(field, fieldValue)
      : matchObject(field as ObjectMatcher, fieldValue);
    if (!ok) return false;
  }
  return matcher.anyOf === undefined || matcher.anyOf.some((alternative) => matchObject(alternative, value));
}

/**
 * Lists what is wrong with an event pattern, each problem with the dotted path where it is
 * (e.g. `detail.status[0].numeric`). An empty list means EventBridge would accept the pattern.
 */
export function validatePattern(pattern: unknown): Issue[] {
  const compiler = new Compiler();
  compiler.object(pattern, '');
  return compiler.issues;
}

/**
 * Compiles a pattern once into a matcher, for repeated use (a rule on the local bus).
 * @throws ValidationError listing every problem when the pattern is not valid.
 */
export function compilePattern(pattern: unknown): EventMatcher {
  const compiler = new Compiler();
  const matcher = compiler.object(pattern, '');
  if (!matcher || compiler.issues.length > 0) {
    const summary = compiler.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ValidationError(`event pattern is not valid: ${summary}`, compiler.issues);
  }
  return (event) => matchObject(matcher, event);
}

/**
 * Whether an event matches an EventBridge event pattern. Compiles the pattern on every call;
 * use {@link compilePattern} to match many events against one pattern.
 * @throws ValidationError when the pattern itself is not valid (see {@link validatePattern}).
 */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  return compilePattern(pattern)(event);
}
