import type { RecordData } from '../records/envelope.ts';

/**
 * A synchronous evaluator for the simple expressions pipelines write most (`age + 1`,
 * `status = "active" and score > 3`, `first & " " & last`), built from the AST JSONata parsed.
 *
 * Why: JSONata's evaluate is asynchronous at every step and builds a fresh environment per call,
 * which costs about 3.5 µs per record for `age + 1`, on every record Load writes. This evaluator
 * answers only where JSONata's result is certain and plain: field paths over plain objects,
 * JSON scalars (finite numbers, strings, booleans, null), literals, arithmetic, comparison,
 * equality, `and`/`or`, `&`, `? :` and parentheses. Wherever JSONata would raise an error, map
 * over an array, or meet a value that is not a JSON scalar (an ExactNumber, an object, an array),
 * it answers {@link JSONATA_DECIDES} and the caller evaluates with JSONata itself, so results
 * and errors stay JSONata's. test/unit/domain/expression-fast-path.property.test.ts holds it
 * equal to JSONata.
 */

/** What the fast path answers when JSONata itself must evaluate the expression on this input. */
export const JSONATA_DECIDES: unique symbol = Symbol('jsonata decides');

type Scalar = string | number | boolean | null | undefined;
type Answer = Scalar | typeof JSONATA_DECIDES;
/** One compiled node: its value on `data`, or {@link JSONATA_DECIDES}. */
export type FastEvaluate = (data: Readonly<RecordData>) => Answer;

/**
 * Deepest node nesting compiled. JSONata counts every nested evaluation against its stack
 * limit (500); a tree this shallow stays far below it, and its work is bounded by its size, so
 * the time limit cannot be reached either.
 */
const MAX_DEPTH = 24;

type Node = { readonly type: string; readonly [field: string]: unknown };

const isNode = (value: unknown): value is Node =>
  typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';

/** True when `node` has no field besides `allowed` (a predicate, group, focus… is not simple). */
const hasOnly = (node: Node, allowed: readonly string[]): boolean =>
  Object.keys(node).every((field) => allowed.includes(field));

const isScalar = (value: unknown): value is Scalar =>
  value === undefined ||
  value === null ||
  typeof value === 'string' ||
  typeof value === 'boolean' ||
  (typeof value === 'number' && Number.isFinite(value));

/** An object JSONata looks fields up in as JavaScript does (not one it takes for a function). */
function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const marked = value as { _jsonata_function?: unknown; _jsonata_lambda?: unknown };
  return marked._jsonata_function !== true && marked._jsonata_lambda !== true;
}

/** JSONata's boolean cast of a scalar (its `$boolean`, with no result counting as false). */
const truthy = (value: Scalar): boolean =>
  typeof value === 'string' ? value.length > 0 : typeof value === 'number' ? value !== 0 : value === true;

function literal(node: Node): FastEvaluate | undefined {
  const { value } = node;
  if (!hasOnly(node, ['type', 'value', 'position']) || !isScalar(value)) return undefined;
  return () => value;
}

function path(node: Node): FastEvaluate | undefined {
  const steps = node.steps;
  if (!hasOnly(node, ['type', 'steps']) || !Array.isArray(steps) || steps.length === 0) return undefined;
  const names: string[] = [];
  for (const step of steps as unknown[]) {
    if (!isNode(step) || step.type !== 'name' || typeof step.value !== 'string') return undefined;
    if (!hasOnly(step, ['type', 'value', 'position'])) return undefined;
    names.push(step.value);
  }
  return (data) => {
    let value: unknown = data;
    for (const name of names) {
      if (!isPlainObject(value)) return isScalar(value) ? undefined : JSONATA_DECIDES;
      value = Object.hasOwn(value, name) ? value[name] : undefined;
    }
    return isScalar(value) ? value : JSONATA_DECIDES;
  };
}

/** JSONata's `+ - * / %`: a non-number operand is JSONata's error, a missing one gives no result. */
function arithmetic(op: string): ((l: Scalar, r: Scalar) => Answer) | undefined {
  const compute: Record<string, (l: number, r: number) => number> = {
    '+': (l, r) => l + r,
    '-': (l, r) => l - r,
    '*': (l, r) => l * r,
    '/': (l, r) => l / r,
    '%': (l, r) => l % r,
  };
  const apply = compute[op];
  if (apply === undefined) return undefined;
  return (l, r) => {
    if ((l !== undefined && typeof l !== 'number') || (r !== undefined && typeof r !== 'number'))
      return JSONATA_DECIDES;
    if (l === undefined || r === undefined) return undefined;
    const result = apply(l, r);
    return Number.isFinite(result) ? result : JSONATA_DECIDES;
  };
}

/** JSONata's `< <= > >=`: both numbers or both strings; a missing operand gives no result. */
function comparison(op: string): ((l: Scalar, r: Scalar) => Answer) | undefined {
  const compare: Record<string, (l: number | string, r: number | string) => boolean> = {
    '<': (l, r) => l < r,
    '<=': (l, r) => l <= r,
    '>': (l, r) => l > r,
    '>=': (l, r) => l >= r,
  };
  const apply = compare[op];
  if (apply === undefined) return undefined;
  const comparable = (v: Scalar) => v === undefined || typeof v === 'string' || typeof v === 'number';
  return (l, r) => {
    if (!comparable(l) || !comparable(r)) return JSONATA_DECIDES;
    if (l === undefined || r === undefined) return undefined;
    if (typeof l !== typeof r) return JSONATA_DECIDES;
    return apply(l as number | string, r as number | string);
  };
}

/** JSONata's `$string` of a scalar where it is plain; a fraction's 15-digit rounding is left to JSONata. */
function text(value: Scalar): string | typeof JSONATA_DECIDES {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : JSONATA_DECIDES;
  return String(value);
}

/** The strict operators: both sides evaluated, then combined. */
function strictOperator(op: string): ((l: Scalar, r: Scalar) => Answer) | undefined {
  if (op === '=') return (l, r) => l !== undefined && r !== undefined && l === r;
  if (op === '!=') return (l, r) => l !== undefined && r !== undefined && l !== r;
  if (op === '&')
    return (l, r) => {
      const left = text(l);
      const right = text(r);
      return left === JSONATA_DECIDES || right === JSONATA_DECIDES ? JSONATA_DECIDES : left + right;
    };
  return arithmetic(op) ?? comparison(op);
}

function binary(node: Node, depth: number): FastEvaluate | undefined {
  if (!hasOnly(node, ['type', 'value', 'position', 'lhs', 'rhs']) || typeof node.value !== 'string')
    return undefined;
  const lhs = compileNode(node.lhs, depth + 1);
  const rhs = compileNode(node.rhs, depth + 1);
  if (lhs === undefined || rhs === undefined) return undefined;
  const op = node.value;
  if (op === 'and' || op === 'or')
    return (data) => {
      const l = lhs(data);
      if (l === JSONATA_DECIDES) return l;
      if (truthy(l) === (op === 'or')) return op === 'or';
      const r = rhs(data);
      return r === JSONATA_DECIDES ? r : truthy(r);
    };
  const combine = strictOperator(op);
  if (combine === undefined) return undefined;
  return (data) => {
    const l = lhs(data);
    if (l === JSONATA_DECIDES) return l;
    const r = rhs(data);
    return r === JSONATA_DECIDES ? r : combine(l, r);
  };
}

function negation(node: Node, depth: number): FastEvaluate | undefined {
  if (!hasOnly(node, ['type', 'value', 'position', 'expression']) || node.value !== '-') return undefined;
  const operand = compileNode(node.expression, depth + 1);
  if (operand === undefined) return undefined;
  return (data) => {
    const value = operand(data);
    if (value === undefined) return undefined;
    return typeof value === 'number' ? -value : JSONATA_DECIDES;
  };
}

function condition(node: Node, depth: number): FastEvaluate | undefined {
  if (!hasOnly(node, ['type', 'position', 'condition', 'then', 'else'])) return undefined;
  const test = compileNode(node.condition, depth + 1);
  const then = compileNode(node.then, depth + 1);
  const otherwise = node.else === undefined ? () => undefined : compileNode(node.else, depth + 1);
  if (test === undefined || then === undefined || otherwise === undefined) return undefined;
  return (data) => {
    const value = test(data);
    if (value === JSONATA_DECIDES) return value;
    return truthy(value) ? then(data) : otherwise(data);
  };
}

function block(node: Node, depth: number): FastEvaluate | undefined {
  const expressions = node.expressions;
  if (!hasOnly(node, ['type', 'position', 'expressions']) || !Array.isArray(expressions)) return undefined;
  return expressions.length === 1 ? compileNode(expressions[0], depth + 1) : undefined;
}

function compileNode(node: unknown, depth: number): FastEvaluate | undefined {
  if (depth > MAX_DEPTH || !isNode(node)) return undefined;
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value':
      return literal(node);
    case 'path':
      return path(node);
    case 'binary':
      return binary(node, depth);
    case 'unary':
      return negation(node, depth);
    case 'condition':
      return condition(node, depth);
    case 'block':
      return block(node, depth);
    default:
      return undefined;
  }
}

/**
 * The fast evaluator of a parsed JSONata expression (`jsonata(text).ast()`), or `undefined`
 * when the expression uses anything beyond the simple subset.
 */
export function compileFastPath(ast: unknown): FastEvaluate | undefined {
  return compileNode(ast, 0);
}
