import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { STAGES, type Stage } from '../shared/naming.ts';
import { CATALOG_MODES, type CatalogMode } from '../shared/pipeline/catalog-source.ts';
import { type StageAlerts, stageAlertsSchema } from '../shared/pipeline/schema.ts';

/** What differs between stages: how long logs are kept and whether data outlives the stack. */
export interface StageSettings {
  readonly stage: Stage;
  readonly logRetention: RetentionDays;
  /** Tables, bucket and key: kept in staging and prod, so a stack deletion never deletes data. */
  readonly dataRemovalPolicy: RemovalPolicy;
  /** Tables refuse DeleteTable (DynamoDB deletion protection), even from CloudFormation. */
  readonly tableDeletionProtection: boolean;
  /** Each webhook route's and each management route's own limits (429 above them). */
  readonly throttles: ApiThrottles;
  /**
   * Seconds a function reuses a secret it read before reading it again: how long a rotated or
   * revoked secret (a webhook's signing key, a database password) may still be used by a warm
   * container. Overridable per deployment with `-c secretsMaxAgeSeconds=…`.
   */
  readonly secretsMaxAgeSeconds: number;
  /**
   * X-Ray for the functions: active tracing and the tracing middleware in their bundles. Off,
   * the bundles leave the X-Ray SDK out (about 120 KB less to load at each cold start; see
   * infra/bundling.ts). On in staging and prod, off in dev; overridable per deployment with
   * `-c tracing=true|false`. The state machines trace in every stage.
   */
  readonly tracing: boolean;
}

/** A route's steady requests per second and burst, as API Gateway applies them. */
export interface RouteThrottle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/**
 * Separate limits, so a flood of webhook deliveries never locks the operators out of the
 * management routes. Overridable per deployment: `-c webhookRateLimit=… -c webhookBurstLimit=…
 * -c managementRateLimit=… -c managementBurstLimit=…`.
 */
export interface ApiThrottles {
  readonly webhooks: RouteThrottle;
  readonly management: RouteThrottle;
}

const THROTTLE_CONTEXT = {
  webhookRateLimit: ['webhooks', 'rateLimit'],
  webhookBurstLimit: ['webhooks', 'burstLimit'],
  managementRateLimit: ['management', 'rateLimit'],
  managementBurstLimit: ['management', 'burstLimit'],
} as const;

/**
 * The stage's throttles with the overrides that CDK context gives.
 * @throws Error naming the context key and the value received when it is not a positive integer.
 */
export function apiThrottles(defaults: ApiThrottles, context: (key: string) => unknown): ApiThrottles {
  const result = { webhooks: { ...defaults.webhooks }, management: { ...defaults.management } };
  for (const [key, [group, limit]] of Object.entries(THROTTLE_CONTEXT)) {
    const raw = context(key);
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`-c ${key}=${String(raw)}: requests per second must be a whole number of at least 1`);
    result[group][limit] = value;
  }
  return result;
}

/** Longest secret reuse a deployment may set: past an hour a revoked secret lives too long. */
const MAX_SECRETS_MAX_AGE_SECONDS = 3600;

/**
 * The stage's secret reuse with the override `-c secretsMaxAgeSeconds=…`.
 * @throws Error naming the context key and the value received when it is not 0–3600 whole seconds.
 */
export function secretsMaxAgeSeconds(stageDefault: number, context: (key: string) => unknown): number {
  const raw = context('secretsMaxAgeSeconds');
  if (raw === undefined) return stageDefault;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > MAX_SECRETS_MAX_AGE_SECONDS)
    throw new Error(
      `-c secretsMaxAgeSeconds=${String(raw)}: must be a whole number of seconds from 0 to ${MAX_SECRETS_MAX_AGE_SECONDS}`,
    );
  return value;
}

/**
 * The stage's function tracing with the override `-c tracing=true|false`.
 * @throws Error naming the context key and the value received when it is neither.
 */
export function stageTracing(stageDefault: boolean, context: (key: string) => unknown): boolean {
  const raw = context('tracing');
  if (raw === undefined) return stageDefault;
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new Error(`-c tracing=${String(raw)}: must be true or false`);
}

/** How a stage's stacks are laid out (EsyncStackProps.layout); the first is the default. */
export const STACK_LAYOUTS = ['per-pipeline', 'single'] as const;
export type StackLayout = (typeof STACK_LAYOUTS)[number];

/**
 * The layout named by `-c layout=...`: per-pipeline unless it says single.
 * @throws Error showing the value received and the layouts allowed.
 */
export function parseLayout(value: unknown): StackLayout {
  if (value === undefined) return STACK_LAYOUTS[0];
  return oneOf('layout', STACK_LAYOUTS, value);
}

/**
 * The catalog mode named by `-c catalog=...`; unset, the layout's own (EsyncStackProps.catalog).
 * @throws Error showing the value received and the modes allowed.
 */
export function parseCatalogMode(value: unknown): CatalogMode | undefined {
  return value === undefined ? undefined : oneOf('catalog', CATALOG_MODES, value);
}

function oneOf<T extends string>(key: string, allowed: readonly T[], value: unknown): T {
  const text = String(value);
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new Error(`unknown ${key} "${text}" (from -c ${key}=...); use one of: ${allowed.join(', ')}`);
}

/**
 * The stage named by `-c stage=...`.
 * @throws Error showing the value received and the stages allowed.
 */
export function parseStage(value: unknown): Stage {
  return oneOf('stage', STAGES, value ?? 'dev');
}

/** Staging: data kept, tracing on, moderate limits; the other stages say how they differ from it. */
const STAGING: Omit<StageSettings, 'stage'> = {
  logRetention: RetentionDays.ONE_MONTH,
  dataRemovalPolicy: RemovalPolicy.RETAIN,
  tableDeletionProtection: false,
  throttles: {
    webhooks: { rateLimit: 50, burstLimit: 100 },
    management: { rateLimit: 10, burstLimit: 20 },
  },
  secretsMaxAgeSeconds: 300,
  tracing: true,
};

const STAGE_SETTINGS: Readonly<Record<Stage, Omit<StageSettings, 'stage'>>> = {
  prod: {
    ...STAGING,
    logRetention: RetentionDays.THREE_MONTHS,
    tableDeletionProtection: true,
    throttles: {
      webhooks: { rateLimit: 200, burstLimit: 400 },
      management: { rateLimit: 20, burstLimit: 40 },
    },
  },
  staging: STAGING,
  dev: {
    ...STAGING,
    logRetention: RetentionDays.ONE_WEEK,
    dataRemovalPolicy: RemovalPolicy.DESTROY,
    throttles: { ...STAGING.throttles, webhooks: { rateLimit: 20, burstLimit: 40 } },
    secretsMaxAgeSeconds: 60,
    tracing: false,
  },
};

/** The settings of a stage. */
export function stageSettings(stage: Stage): StageSettings {
  return { stage, ...STAGE_SETTINGS[stage] };
}

/**
 * The entry of `stage` in a context value given by stage (cdk.json or `-c <name>=<json>`).
 * @param example the value's shape, shown when it is not JSON
 * @throws Error naming the setting and the value received when it is not an object by stage.
 */
export function stageContextEntry(name: string, stage: Stage, context: unknown, example: string): unknown {
  if (context === undefined) return undefined;
  let parsed: unknown = context;
  if (typeof context === 'string')
    try {
      parsed = JSON.parse(context);
    } catch {
      throw new Error(`-c ${name}=${context}: not JSON; expected ${example}`);
    }
  const byStage = z.record(z.string(), z.unknown()).safeParse(parsed);
  if (!byStage.success)
    throw new Error(`${name}: expected an object by stage, got ${JSON.stringify(parsed)}`);
  return byStage.data[stage];
}

/**
 * Who hears about every pipeline's alarms in `stage`, from the `alerts` context value
 * (`{"<stage>": {"notify": {...}}}`); nobody beyond the pipelines' own when it names none.
 * @throws Error naming the field and the value received when the entry does not validate.
 */
export function stageAlerts(stage: Stage, context: unknown): StageAlerts {
  const raw = stageContextEntry('alerts', stage, context, '{"<stage>": {"notify": {"emails": […]}}}');
  const result = stageAlertsSchema.safeParse(raw);
  if (!result.success)
    throw new Error(
      `alerts.${stage}: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')} (got ${JSON.stringify(raw)})`,
    );
  return result.data;
}
