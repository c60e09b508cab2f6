import type jsonata from 'jsonata';
import type { RecordData, RecordEnvelope } from '../records/envelope.ts';
import { stringifyExactJson } from '../records/exact-json.ts';
import { compileFastPath, JSONATA_DECIDES } from './expression-fast-path.ts';
import type { ValidationReason } from './validation.ts';

/**
 * Limits of one evaluation. JSONata can loop (recursive functions) and build large values from
 * small input, and Load evaluates expressions that pipeline authors write on every record: an
 * evaluation past a limit fails, and its record is quarantined, rather than stall or exhaust
 * the Load function.
 */
export const EXPRESSION_LIMITS = {
  /**
   * Evaluation steps (JSONata's evaluations of one expression node) one expression may take on
   * one record: the record's own work, counted per evaluation, so neither a loaded machine nor
   * the evaluations interleaved with it (Load evaluates a batch's records concurrently) can
   * make a record pass it. The docs' examples take 5 to 11 steps; a runaway (a loop by tail
   * call, a map over a huge range) reaches it in well under a second. A simple expression the
   * fast path answers takes no JSONata step and does work bounded by its size.
   */
  maxSteps: 100_000,
  /** Nesting of evaluation steps (recursion depth of user functions included). */
  maxDepth: 500,
  /** Items of one sequence (array) built during an evaluation. */
  maxSequence: 100_000,
  /** Characters of a result's JSON text. */
  maxResultChars: 256 * 1024,
} as const;

/** The expression settings of a pipeline's `transform` section (both may be omitted). */
export interface ExpressionConfig {
  readonly compute?: Readonly<Record<string, string>>;
  readonly filter?: string | undefined;
}

/** What the expressions made of one record. */
export type ExpressionOutcome =
  | { readonly kind: 'kept'; readonly data: RecordData }
  | { readonly kind: 'filtered' }
  | { readonly kind: 'failed'; readonly field: string; readonly expression: string; readonly error: string };

/** Applies a pipeline's `filter` and `compute` to one record's data; never modifies its input. */
export type RecordExpressions = (data: Readonly<RecordData>) => Promise<ExpressionOutcome>;

interface JsonataError {
  readonly message: string;
  readonly position?: number;
  readonly code?: string;
}

/** Whether `error` is one JSONata threw: a message, and where parsing or evaluation stopped. */
export const isJsonataError = (error: unknown): error is JsonataError =>
  typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string';

let jsonataLoaded: Promise<typeof jsonata> | undefined;

/**
 * JSONata, imported with the first expression compiled: a pipeline without expressions never
 * loads it (it is a chunk of its own in the function bundles, infra/bundling.ts).
 */
function loadJsonata(): Promise<typeof jsonata> {
  jsonataLoaded ??= import('jsonata').then((module) => module.default);
  return jsonataLoaded;
}

interface CompiledExpression {
  readonly expression: jsonata.Expression;
  readonly fast: ReturnType<typeof compileFastPath>;
}

/**
 * The binding that holds one evaluation's step count: each evaluation binds its own, and JSONata
 * looks a name up through the evaluation's frames, so concurrent evaluations of one compiled
 * expression count apart. Not a JSONata name (it has spaces), so no expression can read it.
 */
const STEP_COUNT = 'esync step count';

interface StepCount {
  steps: number;
}

/** JSONata's hook called before each evaluation step (what its own tests timebox with). */
const EVALUATE_ENTRY = Symbol.for('jsonata.__evaluate_entry');

function countStep(_node: unknown, _input: unknown, environment: jsonata.Environment): void {
  const count = environment.lookup(STEP_COUNT) as StepCount;
  count.steps += 1;
  if (count.steps > EXPRESSION_LIMITS.maxSteps)
    throw new Error(
      `Evaluation stopped after ${EXPRESSION_LIMITS.maxSteps} steps (the step limit). Check for an infinite loop`,
    );
}

async function compileExpression(text: string): Promise<CompiledExpression> {
  const expression = (await loadJsonata())(text, {
    stack: EXPRESSION_LIMITS.maxDepth,
    sequence: EXPRESSION_LIMITS.maxSequence,
  });
  // JSONata binds the hook by symbol at run time; its typings name bindings by string only.
  expression.assign(EVALUATE_ENTRY as unknown as string, countStep);
  return { expression, fast: compileFastPath(expression.ast()) };
}

function evaluateCounted(expression: jsonata.Expression, data: Readonly<RecordData>): Promise<unknown> {
  const count: StepCount = { steps: 0 };
  return expression.evaluate(data, { [STEP_COUNT]: count });
}

/**
 * One compiled expression bounded by {@link EXPRESSION_LIMITS}: JSONata's own guardrails stop an
 * evaluation past the depth or the sequence length (errors D1011, D2015); the steps are counted
 * by JSONata's step hook and the result's size is checked here. A simple expression on plain values is answered by the
 * synchronous fast path (expression-fast-path.ts), whose work is bounded by the expression's
 * size; everything else by JSONata. Compiled with the first evaluation; an expression that
 * does not compile (the pipeline schema rejects those first) fails every evaluation.
 */
export function compileBounded(text: string): (data: Readonly<RecordData>) => Promise<unknown> {
  let compiling: Promise<CompiledExpression> | undefined;
  let compiled: CompiledExpression | undefined;
  return async (data) => {
    // Compiled on the first record (JSONata is imported then), read synchronously after.
    if (compiled === undefined) {
      compiling ??= compileExpression(text);
      compiled = await compiling;
    }
    const { expression, fast } = compiled;
    const answer = fast === undefined ? JSONATA_DECIDES : fast(data);
    const result: unknown = answer === JSONATA_DECIDES ? await evaluateCounted(expression, data) : answer;
    const chars =
      typeof result === 'string'
        ? result.length
        : typeof result === 'object' && result !== null
          ? (stringifyExactJson(result)?.length ?? 0)
          : 0;
    if (chars > EXPRESSION_LIMITS.maxResultChars)
      throw new Error(`result of ${chars} characters exceeds ${EXPRESSION_LIMITS.maxResultChars}`);
    return result;
  };
}

/** JSONata's boolean cast ($boolean): what a filter result means. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(truthy);
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length > 0;
  return value === true;
}

/** An evaluation error as a record's quarantine reason shows it: the message and where. */
export function errorText(error: unknown): string {
  if (!isJsonataError(error)) return String(error);
  const at = error.position === undefined ? '' : ` (at character ${error.position})`;
  return `${error.message}${at}`;
}

/**
 * Compiles a pipeline's expressions once, into one function per record: `filter` first (a
 * record whose filter is not true is `filtered`), then every `compute` field, each evaluated
 * against the record as it arrived (computed fields do not see one another). A result of
 * `undefined` (JSONata's "no match") leaves the field absent. An expression that throws, or
 * passes a limit, makes the record `failed` with the expression and the error. Returns
 * `undefined` when the pipeline has no expressions. Compiled with the first record; an
 * expression that does not compile (the pipeline schema rejects those first) fails each record.
 */
export function createRecordExpressions(config: ExpressionConfig): RecordExpressions | undefined {
  const computes = Object.entries(config.compute ?? {}).map(
    ([field, text]) => [field, text, compileBounded(text)] as const,
  );
  const filterText = config.filter;
  const filter = filterText === undefined ? undefined : compileBounded(filterText);
  if (filter === undefined && computes.length === 0) return undefined;
  return async (data) => {
    if (filter !== undefined && filterText !== undefined) {
      try {
        if (!truthy(await filter(data))) return { kind: 'filtered' };
      } catch (error) {
        return { kind: 'failed', field: 'transform.filter', expression: filterText, error: errorText(error) };
      }
    }
    if (computes.length === 0) return { kind: 'kept', data };
    const out: RecordData = Object.assign({}, data);
    for (const [field, text, evaluate] of computes) {
      try {
        const value = await evaluate(data);
        if (value === undefined) delete out[field];
        else out[field] = value;
      } catch (error) {
        return { kind: 'failed', field, expression: text, error: errorText(error) };
      }
    }
    return { kind: 'kept', data: out };
  };
}

/** A message's records after the expressions: what goes on to be loaded, and what does not. */
export interface StagedRecords {
  /** Deletes, and upserts kept by the filter with their computed fields. */
  readonly kept: RecordEnvelope[];
  readonly filtered: number;
  /** Records an expression failed on, with the expression and the error as the reason. */
  readonly failed: { readonly record: RecordEnvelope; readonly reasons: ValidationReason[] }[];
  /** Keys of the filtered and failed records: the target's content differs from the source's on purpose. */
  readonly excludedKeys: string[];
}

/** The quarantine reason of a record whose key expression failed where the record was read. */
function keyErrorReason(keyError: NonNullable<RecordEnvelope['keyError']>): ValidationReason {
  return {
    field: 'source.keyExpression',
    rule: 'expression',
    message: `${keyError.expression}: ${keyError.error}`,
  };
}

/**
 * Runs `expressions` (when the pipeline has any) over every upsert of a message; a record whose
 * key expression failed where it was read fails here, with that error. A message with neither
 * is kept whole, without a look at each record.
 */
export async function stageRecords(
  expressions: RecordExpressions | undefined,
  records: readonly RecordEnvelope[],
): Promise<StagedRecords> {
  if (expressions === undefined && !records.some((record) => record.keyError !== undefined))
    return { kept: [...records], filtered: 0, failed: [], excludedKeys: [] };
  const kept: RecordEnvelope[] = [];
  const failed: StagedRecords['failed'] = [];
  const excludedKeys: string[] = [];
  let filtered = 0;
  for (const record of records) {
    if (record.keyError !== undefined) {
      failed.push({ record, reasons: [keyErrorReason(record.keyError)] });
      excludedKeys.push(record.key);
      continue;
    }
    if (expressions === undefined || record.op === 'delete' || record.data === null) {
      kept.push(record);
      continue;
    }
    const outcome = await expressions(record.data);
    if (outcome.kind === 'kept') kept.push({ ...record, data: outcome.data });
    else {
      if (outcome.kind === 'filtered') filtered++;
      else
        failed.push({
          record,
          reasons: [
            { field: outcome.field, rule: 'expression', message: `${outcome.expression}: ${outcome.error}` },
          ],
        });
      excludedKeys.push(record.key);
    }
  }
  return { kept, filtered, failed, excludedKeys };
}
