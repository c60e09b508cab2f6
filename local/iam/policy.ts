import { ConfigError } from '../../shared/errors.ts';

/**
 * A small IAM policy evaluator: the part of the policy language a synthesized ESync stack uses
 * (Action/NotAction, Resource/NotResource with `*` and `?`, Principal, Deny over Allow, and the
 * String, Arn, Bool and Null condition operators with `IfExists`). Anything else in a policy is
 * refused when the policy is read, so an unsupported element can never allow a call by accident.
 *
 * Written here because the faithful npm evaluator (@cloud-copilot/iam-simulate) is AGPL-licensed
 * and the MIT one (pbac) departs from IAM where it matters: case-sensitive actions, a missing
 * condition key compared as its own name, only the first key of each condition operator read.
 */

/** One statement, as it stands in a template once intrinsics are resolved. */
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Principal?: PrincipalElement;
  readonly NotPrincipal?: PrincipalElement;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export type PrincipalElement = '*' | Readonly<Record<string, string | readonly string[]>>;

/** Who makes a call: a role (a function's or a state machine's) or an AWS service. */
export type Caller =
  | { readonly kind: 'role'; readonly roleArn: string; readonly accountId: string }
  | { readonly kind: 'service'; readonly service: string };

/** One authorization question: may `caller` perform `action` on `resource`, given `context`? */
export interface AuthorizationRequest {
  readonly caller: Caller;
  /** e.g. `dynamodb:PutItem`. */
  readonly action: string;
  /** An ARN, or `*` for actions that take no resource. */
  readonly resource: string;
  /** Condition keys of the request (`aws:SourceArn`, `kms:ViaService`...). */
  readonly context: Readonly<Record<string, string>>;
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

/** The policies that bear on one request. */
export interface ApplicablePolicies {
  /** The caller's identity-based policies (a role's); none for a service principal. */
  readonly identity: readonly PolicyStatement[];
  /** The resource-based policies of the resource (queue, bucket, key, function permissions). */
  readonly resource: readonly PolicyStatement[];
}

export interface Evaluation {
  readonly decision: Decision;
  /** Where an explicit deny came from. */
  readonly deniedBy?: 'identity' | 'resource';
}

/**
 * Evaluates a request as IAM does within one account: an explicit Deny in any applicable policy
 * wins; otherwise an Allow in the caller's identity policies, or a resource policy Allow that names
 * the caller, allows; otherwise the request is implicitly denied.
 */
export function evaluate(request: AuthorizationRequest, policies: ApplicablePolicies): Evaluation {
  if (policies.identity.some((s) => s.Effect === 'Deny' && applies(s, request, false)))
    return { decision: 'explicit-deny', deniedBy: 'identity' };
  if (policies.resource.some((s) => s.Effect === 'Deny' && applies(s, request, true)))
    return { decision: 'explicit-deny', deniedBy: 'resource' };
  const allowed =
    policies.identity.some((s) => s.Effect === 'Allow' && applies(s, request, false)) ||
    policies.resource.some(
      (s) => s.Effect === 'Allow' && applies(s, request, true) && namesCaller(s, request),
    );
  return { decision: allowed ? 'allow' : 'implicit-deny' };
}

function list(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

function applies(statement: PolicyStatement, request: AuthorizationRequest, resourceBased: boolean): boolean {
  if (resourceBased && !principalMatches(statement, request.caller)) return false;
  if (statement.Action !== undefined && !list(statement.Action).some((a) => actionMatches(a, request.action)))
    return false;
  if (
    statement.NotAction !== undefined &&
    list(statement.NotAction).some((a) => actionMatches(a, request.action))
  )
    return false;
  if (
    statement.Resource !== undefined &&
    !list(statement.Resource).some((r) => arnMatches(r, request.resource))
  )
    return false;
  if (
    statement.NotResource !== undefined &&
    list(statement.NotResource).some((r) => arnMatches(r, request.resource))
  )
    return false;
  return conditionsHold(statement.Condition ?? {}, request.context);
}

/** Actions compare without regard to case (`s3:getobject` is `s3:GetObject`). */
export function actionMatches(pattern: string, action: string): boolean {
  return wildcardMatches(pattern.toLowerCase(), action.toLowerCase());
}

/**
 * ARNs compare segment by segment (partition, service, region, account, resource): a wildcard
 * does not reach across the first five colons, as in IAM.
 */
export function arnMatches(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const p = splitArn(pattern);
  const a = splitArn(arn);
  if (!p || !a) return !pattern.startsWith('arn:') && wildcardMatches(pattern, arn);
  return p.every((segment, i) => wildcardMatches(segment, a[i] ?? ''));
}

function splitArn(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/** `*` matches any run of characters, `?` exactly one; everything else itself. */
export function wildcardMatches(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === value[v])) {
      p++;
      v++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++resume;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

function principalMatches(statement: PolicyStatement, caller: Caller): boolean {
  if (statement.Principal !== undefined) return principalListed(statement.Principal, caller, true);
  if (statement.NotPrincipal !== undefined) return !principalListed(statement.NotPrincipal, caller, true);
  return false;
}

/**
 * Whether a resource policy's Allow grants the caller by itself. Naming the account (`:root`)
 * only delegates to the account's identity policies: it allows nothing alone.
 */
function namesCaller(statement: PolicyStatement, request: AuthorizationRequest): boolean {
  if (statement.Principal === undefined) return false;
  return principalListed(statement.Principal, request.caller, false);
}

function principalListed(element: PrincipalElement, caller: Caller, accountMeansAll: boolean): boolean {
  if (element === '*') return true;
  if (caller.kind === 'service')
    return list(element.Service).includes(caller.service) || list(element.AWS).includes('*');
  return list(element.AWS).some(
    (p) =>
      p === '*' ||
      p === caller.roleArn ||
      (accountMeansAll && (p === caller.accountId || p === `arn:aws:iam::${caller.accountId}:root`)),
  );
}

type ConditionTest = (expected: string, actual: string) => boolean;

const CONDITION_TESTS: Readonly<Record<string, { test: ConditionTest; negated: boolean }>> = {
  StringEquals: { test: (e, a) => e === a, negated: false },
  StringNotEquals: { test: (e, a) => e === a, negated: true },
  StringEqualsIgnoreCase: { test: (e, a) => e.toLowerCase() === a.toLowerCase(), negated: false },
  StringNotEqualsIgnoreCase: { test: (e, a) => e.toLowerCase() === a.toLowerCase(), negated: true },
  StringLike: { test: wildcardMatches, negated: false },
  StringNotLike: { test: wildcardMatches, negated: true },
  ArnEquals: { test: arnMatches, negated: false },
  ArnLike: { test: arnMatches, negated: false },
  ArnNotEquals: { test: arnMatches, negated: true },
  ArnNotLike: { test: arnMatches, negated: true },
  Bool: { test: (e, a) => e.toLowerCase() === a.toLowerCase(), negated: false },
};

/**
 * Every operator must hold and, within one, every key; a key holds when the request's value
 * matches any listed value (a negated operator: none). A key the request lacks fails a positive
 * operator and satisfies a negated one; `...IfExists` and `Null` are satisfied by its absence.
 */
function conditionsHold(
  condition: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
  context: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(condition).every(([operator, keys]) => {
    const ifExists = operator.endsWith('IfExists');
    const name = ifExists ? operator.slice(0, -'IfExists'.length) : operator;
    return Object.entries(keys).every(([key, expected]) => {
      const values = (Array.isArray(expected) ? expected : [expected]).map(String);
      const actual = contextValue(context, key);
      if (name === 'Null') return values.some((v) => (v === 'true') === (actual === undefined));
      const spec = CONDITION_TESTS[name];
      if (!spec)
        throw new ConfigError(`IAM condition operator ${operator} is not supported by the local stack`);
      if (actual === undefined) return ifExists || spec.negated;
      const matched = values.some((v) => spec.test(v, actual));
      return spec.negated ? !matched : matched;
    });
  });
}

/** Condition keys are case-insensitive. */
function contextValue(context: Readonly<Record<string, string>>, key: string): string | undefined {
  if (key in context) return context[key];
  const lower = key.toLowerCase();
  return Object.entries(context).find(([k]) => k.toLowerCase() === lower)?.[1];
}

/**
 * Reads the statements of a policy document and refuses what this evaluator cannot decide:
 * an unknown condition operator (or a set operator such as `ForAnyValue:`), or a policy variable.
 */
export function readStatements(document: unknown, where: string): PolicyStatement[] {
  const statements = (document as { Statement?: unknown } | undefined)?.Statement;
  const all = (Array.isArray(statements) ? statements : statements ? [statements] : []) as PolicyStatement[];
  for (const statement of all) {
    if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny')
      throw new ConfigError(`${where}: a statement has Effect ${JSON.stringify(statement.Effect)}`);
    for (const operator of Object.keys(statement.Condition ?? {})) {
      const name = operator.replace(/IfExists$/, '');
      if (name !== 'Null' && !CONDITION_TESTS[name])
        throw new ConfigError(
          `${where}: IAM condition operator ${operator} is not supported by the local stack`,
        );
    }
    for (const resource of [...list(statement.Resource), ...list(statement.NotResource)])
      if (resource.includes('${'))
        throw new ConfigError(
          `${where}: policy variables (${resource}) are not supported by the local stack`,
        );
  }
  return all;
}
