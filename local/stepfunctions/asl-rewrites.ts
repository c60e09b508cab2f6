import type { Json, JsonObject } from './model.ts';

/**
 * The longest timer Node.js keeps (2^31 - 1 ms; a longer one fires at once), in seconds: ~24.8
 * days, which stands for "no limit" locally.
 */
export const NO_TASK_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * A Task runs as long as its definition says, as on AWS. aws-local-stepfunctions gives a Task
 * without `TimeoutSeconds` a 60 s limit of its own, which AWS does not have (a Standard workflow's
 * task waits until the execution's own timeout): such a task gets no limit here either.
 */
export function applyTaskTimeout(state: JsonObject): void {
  if (typeof state.TimeoutSeconds === 'number')
    state.TimeoutSeconds = Math.min(state.TimeoutSeconds, NO_TASK_TIMEOUT_SECONDS);
  else if (state.TimeoutSecondsPath === undefined) state.TimeoutSeconds = NO_TASK_TIMEOUT_SECONDS;
}

const JSON_MERGE = 'States.JsonMerge(';

/**
 * aws-local-stepfunctions' `States.JsonMerge` merges into its first argument in place, which is
 * a reference into the state data: the request object of the execution input would come out
 * changed (and so would the history). The first argument of every call is copied first, through
 * JSON, which gives AWS's behaviour: a new object.
 */
export function copyJsonMergeTargets(node: Json): void {
  if (Array.isArray(node)) {
    for (const item of node) copyJsonMergeTargets(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key.endsWith('.$') && typeof value === 'string' && value.includes(JSON_MERGE))
      node[key] = rewriteJsonMerge(value);
    else copyJsonMergeTargets(value);
  }
}

/** The Choice rule operators that test a variable's type or presence. */
const TYPE_TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'];

/**
 * aws-local-stepfunctions matches a type test only when its operand is `true`: `IsNull: false`
 * (which CDK's `Condition.isNotNull` emits) never matches, even for a value that is not null.
 * Every such rule is rewritten as `Not` of the test with `true`, which is what AWS evaluates.
 */
export function negateFalseTypeTests(node: Json): void {
  if (Array.isArray(node)) {
    for (const item of node) negateFalseTypeTests(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const test = TYPE_TESTS.find((name) => node[name] === false);
  if (test && typeof node.Variable === 'string') {
    const { Next: next, Variable: variable } = node;
    for (const key of Object.keys(node)) delete node[key];
    node.Not = { Variable: variable, [test]: true };
    if (next !== undefined) node.Next = next;
    return;
  }
  for (const value of Object.values(node)) negateFalseTypeTests(value);
}

function rewriteJsonMerge(expression: string): string {
  let out = '';
  let i = 0;
  while (i < expression.length) {
    const at = expression.indexOf(JSON_MERGE, i);
    if (at < 0) return out + expression.slice(i);
    out += expression.slice(i, at) + JSON_MERGE;
    const start = at + JSON_MERGE.length;
    let depth = 0;
    let quoted = false;
    let j = start;
    for (; j < expression.length; j++) {
      const c = expression[j];
      if (quoted) {
        if (c === '\\') j++;
        else if (c === "'") quoted = false;
      } else if (c === "'") quoted = true;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
      else if (c === ',' && depth === 0) break;
    }
    const first = expression.slice(start, j).trim();
    out += `States.StringToJson(States.JsonToString(${rewriteJsonMerge(first)}))`;
    i = j;
  }
  return out;
}

/** Points every transition to `from` within one scope (StartAt, Next, Default, Choices, Catch) at `to`. */
export function redirect(scope: JsonObject, from: string, to: string): void {
  if (scope.StartAt === from) scope.StartAt = to;
  for (const state of Object.values(scope.States as Record<string, JsonObject>)) {
    if (state.Next === from) state.Next = to;
    if (state.Default === from) state.Default = to;
    for (const list of [state.Choices, state.Catch])
      if (Array.isArray(list))
        for (const rule of list as JsonObject[]) if (rule.Next === from) rule.Next = to;
  }
}
