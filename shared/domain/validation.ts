import Big from 'big.js';
import { ConfigError } from '../errors.ts';
import type { PipelineInput } from '../pipeline/schema.ts';
import type { RecordData } from '../records/envelope.ts';
import { isExactNumber } from '../records/exact-json.ts';
import { compileFieldPath } from './field-path.ts';
import { isIsoTimestamp } from './instant.ts';

/** The check a record failed. */
export type ValidationRuleName =
  | 'required'
  | 'type'
  | 'format'
  | 'range'
  | 'enum'
  | 'custom'
  | 'target'
  | 'expression';

/**
 * One reason a record is invalid. Messages describe the rule and the kind of value found,
 * never the value itself: reasons are stored with quarantined records and logged, and the
 * field may hold personal data.
 */
export interface ValidationReason {
  /** The rule's field, dotted for nested values. */
  readonly field: string;
  readonly rule: ValidationRuleName;
  readonly message: string;
}

/**
 * A field rule as written in a pipeline (`required` may be omitted). Parsed rules
 * (`FieldRule` from the pipeline schema) fit this type too.
 */
export type FieldRuleInput = NonNullable<PipelineInput['validation']>[number];

/**
 * A named check registered in code. Returns a short description of what is wrong, or
 * `undefined` when the value passes. It is called only for present, non-null values (a
 * missing value is the `required` rule's business) and receives the whole record for
 * cross-field checks.
 */
export type CustomValidator = (value: unknown, record: Readonly<RecordData>) => string | undefined;

/** Checks one record against every rule; an empty array means valid. */
export type RecordValidator = (data: Readonly<RecordData>) => ValidationReason[];

const EMAIL_PATTERN =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** ISO 3166-1 alpha-2: the 249 officially assigned country codes. */
const ISO_COUNTRIES = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
    'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' +
    'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT ' +
    'JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY ' +
    'MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM ' +
    'PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW ' +
    'SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ ' +
    'UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
  ).split(' '),
);

/**
 * Validators every registry starts with:
 * - `email`: `local@domain` with a dotted domain of valid labels, at most 254 characters;
 * - `iso-country`: an ISO 3166-1 alpha-2 code, upper case (`DE`, not `de`);
 * - `uuid`: a hyphenated RFC 9562 UUID of any version, either case.
 */
export const BUILT_IN_VALIDATORS: Readonly<Record<string, CustomValidator>> = Object.freeze({
  email: (value) =>
    typeof value === 'string' && value.length <= 254 && EMAIL_PATTERN.test(value)
      ? undefined
      : 'is not an email address',
  'iso-country': (value) =>
    typeof value === 'string' && ISO_COUNTRIES.has(value)
      ? undefined
      : 'is not an ISO 3166-1 alpha-2 country code (two upper-case letters, e.g. DE)',
  uuid: (value) => (typeof value === 'string' && UUID_PATTERN.test(value) ? undefined : 'is not a UUID'),
});

/**
 * The named validators a pipeline's `custom` rules may use. Each registry starts with the
 * {@link BUILT_IN_VALIDATORS}; code adds its own with {@link CustomValidatorRegistry.registerValidator}
 * before building validators. Registries are plain objects passed where needed, never a
 * module-level singleton, so tests and pipelines do not leak validators into each other.
 */
export class CustomValidatorRegistry {
  readonly #validators = new Map<string, CustomValidator>(Object.entries(BUILT_IN_VALIDATORS));

  /**
   * Adds a validator under `name`.
   * @throws ConfigError when the name is empty or already taken (built-ins included), so a
   * typo cannot silently replace a check.
   */
  registerValidator(name: string, validator: CustomValidator): this {
    if (name.trim() === '') throw new ConfigError('a custom validator needs a non-empty name');
    if (this.#validators.has(name))
      throw new ConfigError(`a custom validator named "${name}" is already registered`);
    this.#validators.set(name, validator);
    return this;
  }

  /** The validator registered under `name`, if any. */
  get(name: string): CustomValidator | undefined {
    return this.#validators.get(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#validators.keys()].sort();
  }
}

type FieldType = NonNullable<FieldRuleInput['type']>;

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'invalid Date' : 'Date';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  if (isExactNumber(value)) return 'number';
  return typeof value;
}

const TYPE_CHECKS: Readonly<Record<FieldType, (value: unknown) => boolean>> = {
  string: (v) => typeof v === 'string',
  // bigint counts: drivers return 64-bit integers that way; an exact number is one a double would alter.
  number: (v) => (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint' || isExactNumber(v),
  integer: (v) =>
    (typeof v === 'number' && Number.isInteger(v)) ||
    typeof v === 'bigint' ||
    (isExactNumber(v) && new Big(v.value).round(0, Big.roundDown).eq(new Big(v.value))),
  boolean: (v) => typeof v === 'boolean',
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date),
  array: (v) => Array.isArray(v),
  timestamp: (v) =>
    v instanceof Date ? !Number.isNaN(v.getTime()) : typeof v === 'string' && isIsoTimestamp(v),
};

const TYPE_NAMES: Readonly<Record<FieldType, string>> = {
  string: 'a string',
  number: 'a finite number',
  integer: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  timestamp: 'an ISO-8601 timestamp or a Date',
};

/** Code points, so a range on a string's length counts `é` or an emoji as one character. */
function codePointLength(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xdc00 && code <= 0xdfff && i > 0) {
      const previous = text.charCodeAt(i - 1);
      if (previous >= 0xd800 && previous <= 0xdbff) length--;
    }
  }
  return length;
}

type Check = (value: unknown, record: Readonly<RecordData>, out: ValidationReason[]) => void;

function describeBounds(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `between ${min} and ${max}`;
  return min !== undefined ? `at least ${min}` : `at most ${max}`;
}

interface CompiledChecks {
  readonly typeCheck: Check | undefined;
  /** format and range: meaningful only for the declared kind of value. */
  readonly kindChecks: readonly Check[];
  /** enum and custom. */
  readonly valueChecks: readonly Check[];
}

type Reason = (rule: ValidationRuleName, message: string) => ValidationReason;

function compileRule(rule: FieldRuleInput, index: number, registry: CustomValidatorRegistry): CompiledChecks {
  const { field } = rule;
  const reason: Reason = (ruleName, message) => ({ field, rule: ruleName, message });
  const where = `validation[${index}] (${field})`;
  const present = (checks: readonly (Check | undefined)[]) =>
    checks.filter((c): c is Check => c !== undefined);
  return {
    typeCheck: typeCheckOf(rule, reason),
    kindChecks: present([formatCheckOf(rule, reason, where), rangeCheckOf(rule, reason)]),
    valueChecks: present([enumCheckOf(rule, reason), customCheckOf(rule, reason, where, registry)]),
  };
}

function typeCheckOf({ type }: FieldRuleInput, reason: Reason): Check | undefined {
  const isOfType = type === undefined ? undefined : TYPE_CHECKS[type];
  if (type === undefined || isOfType === undefined) return undefined;
  return (value, _record, out) => {
    if (!isOfType(value)) out.push(reason('type', `expected ${TYPE_NAMES[type]}, got ${kindOf(value)}`));
  };
}

function formatCheckOf({ format }: FieldRuleInput, reason: Reason, where: string): Check | undefined {
  if (format === undefined) return undefined;
  let pattern: RegExp;
  try {
    pattern = new RegExp(format);
  } catch (error) {
    throw new ConfigError(`${where}: format does not compile: ${(error as Error).message}`, { cause: error });
  }
  return (value, _record, out) => {
    if (typeof value !== 'string')
      out.push(reason('format', `expected a string matching ${pattern}, got ${kindOf(value)}`));
    else if (!pattern.test(value)) out.push(reason('format', `does not match ${pattern}`));
  };
}

function rangeCheckOf({ range }: FieldRuleInput, reason: Reason): Check | undefined {
  const { min, max } = range ?? {};
  if (min === undefined && max === undefined) return undefined;
  const bounds = describeBounds(min, max);
  const outside = (n: number) => (min !== undefined && n < min) || (max !== undefined && n > max);
  return (value, _record, out) => {
    if (typeof value === 'number') {
      if (Number.isNaN(value) || outside(value)) out.push(reason('range', `must be ${bounds}`));
    } else if (typeof value === 'bigint' || isExactNumber(value)) {
      const exact = new Big(typeof value === 'bigint' ? value.toString() : value.value);
      if ((min !== undefined && exact.lt(min)) || (max !== undefined && exact.gt(max)))
        out.push(reason('range', `must be ${bounds}`));
    } else if (typeof value === 'string') {
      if (outside(codePointLength(value))) out.push(reason('range', `length must be ${bounds} characters`));
    } else out.push(reason('range', `expected a number or a string, got ${kindOf(value)}`));
  };
}

function enumCheckOf(rule: FieldRuleInput, reason: Reason): Check | undefined {
  if (rule.enum === undefined) return undefined;
  const allowed = new Set<unknown>(rule.enum);
  const listed = rule.enum.map((v) => JSON.stringify(v)).join(', ');
  return (value, _record, out) => {
    if (!allowed.has(value)) out.push(reason('enum', `must be one of ${listed}`));
  };
}

function customCheckOf(
  { custom: name }: FieldRuleInput,
  reason: Reason,
  where: string,
  registry: CustomValidatorRegistry,
): Check | undefined {
  if (name === undefined) return undefined;
  const validator = registry.get(name);
  if (validator === undefined)
    throw new ConfigError(
      `${where}: unknown custom validator "${name}"; registered: ${registry.names().join(', ')}`,
    );
  return (value, record, out) => {
    let problem: string | undefined;
    try {
      problem = validator(value, record);
    } catch (error) {
      problem = `validator threw ${error instanceof Error ? error.name : 'a non-error'}: ${
        error instanceof Error ? error.message : String(error)
      }`;
    }
    if (problem !== undefined) out.push(reason('custom', `${name}: ${problem}`));
  };
}

interface CompiledRule extends CompiledChecks {
  readonly field: string;
  readonly required: boolean;
  readonly get: (data: Readonly<RecordData>) => unknown;
}

/**
 * Compiles a pipeline's field rules into one function that returns every reason a record
 * fails, not only the first, so a quarantined record can be fixed in one pass.
 *
 * - A missing or null value fails `required` when required, and is otherwise not checked
 *   further (an optional field may be absent).
 * - When the rule's `type` fails, its `format` and `range` checks are skipped: they only
 *   make sense for the declared kind of value, and the type reason already says what is
 *   wrong. `enum` and `custom` still run.
 * - `range` bounds a number, or the length of a string in code points.
 * - `timestamp` accepts a valid `Date` or an ISO-8601 date or date-time string.
 *
 * Regular expressions are compiled and custom validators looked up here, once.
 * @throws ConfigError when a rule names an unregistered custom validator or a format does
 * not compile, naming the rule by index and field.
 */
export function createValidator(
  rules: readonly FieldRuleInput[],
  customValidators: CustomValidatorRegistry = new CustomValidatorRegistry(),
): RecordValidator {
  const compiled: CompiledRule[] = rules.map((rule, index) => ({
    field: rule.field,
    required: rule.required === true,
    get: compileFieldPath(rule.field),
    ...compileRule(rule, index, customValidators),
  }));
  if (compiled.length === 0) return () => [];

  return (data) => {
    const out: ValidationReason[] = [];
    for (const rule of compiled) {
      const value = rule.get(data);
      if (value === undefined || value === null) {
        if (rule.required) out.push({ field: rule.field, rule: 'required', message: 'is required' });
        continue;
      }
      const before = out.length;
      rule.typeCheck?.(value, data, out);
      if (out.length === before) for (const check of rule.kindChecks) check(value, data, out);
      for (const check of rule.valueChecks) check(value, data, out);
    }
    return out;
  };
}
