import { DEFAULT_SECRETS_MAX_AGE_SECONDS } from './aws/secrets.ts';
import { ConfigError } from './errors.ts';
import { loadQueueName, stateMachineName } from './naming.ts';

/**
 * Runtime settings of a function, read once at cold start. Every value comes from an
 * environment variable set by the CDK stack (or the local stack); a missing one fails
 * loudly with its name.
 */
export interface RuntimeConfig {
  readonly stage: string;
  readonly stateTable: string;
  readonly idempotencyTable: string;
  readonly dataBucket: string;
  readonly eventBus: string;
  /** Queue URL up to the queue name, e.g. `https://sqs.eu-west-1.amazonaws.com/123456789012/`. */
  readonly queueUrlPrefix: string;
  /** State machine ARN up to the name, e.g. `arn:aws:states:eu-west-1:123456789012:stateMachine:`. */
  readonly stateMachineArnPrefix: string;
  /** Secrets Manager name of the stage's mask key (`mask: hash`); unset only outside a deployed or local stack. */
  readonly maskKeySecret?: string;
  /** Seconds a secret's value is reused before it is read again (`ESYNC_SECRETS_MAX_AGE_SECONDS`). */
  readonly secretsMaxAgeSeconds: number;
  /**
   * How a database connection that sets `iam` logs in (`ESYNC_DATABASE_AUTH`): `iam`, a signed
   * token (deployed stages); `password`, the secret's password (the local stack, whose servers
   * know no IAM).
   */
  readonly databaseAuth: DatabaseAuth;
  /**
   * How the `esync` command reaches this stack, in the commands an alert suggests
   * (`ESYNC_CLI_TARGET`): `--local` on the local stack; unset, `--stage <stage>`.
   */
  readonly cliTarget: string;
  /**
   * Secrets (by name) holding the chat webhook URLs the stage's `alerts.notify.webhooks` name, told
   * every pipeline alarm (`ESYNC_STAGE_ALERT_WEBHOOKS`, comma-separated: a secret name holds no
   * comma); set on the alert formatter only.
   */
  readonly stageAlertWebhooks: readonly string[];
  /**
   * The role a shared function assumes to reach a pipeline's own source, target and secrets,
   * `{pipeline}` standing for the pipeline's name (`ESYNC_ACCESS_ROLE_ARN`); set when the
   * pipelines deploy in stacks of their own (each owns its roles, infra/constructs/access-roles.ts).
   * @default - none: the function's own role holds the grants (one stack, the local stack)
   */
  readonly accessRoleArn?: string;
}

export const DATABASE_AUTH = ['iam', 'password'] as const;
export type DatabaseAuth = (typeof DATABASE_AUTH)[number];

function databaseAuth(env: NodeJS.ProcessEnv): DatabaseAuth {
  const raw = env.ESYNC_DATABASE_AUTH;
  if (raw === undefined || raw === '') return 'iam';
  if ((DATABASE_AUTH as readonly string[]).includes(raw)) return raw as DatabaseAuth;
  throw new ConfigError(
    `environment variable ESYNC_DATABASE_AUTH must be ${DATABASE_AUTH.join(' or ')}, got "${raw}"`,
  );
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

function wholeSeconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new ConfigError(`environment variable ${name} must be a whole number of seconds, got "${raw}"`);
  return value;
}

export function readRuntimeConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  return {
    stage: required(env, 'ESYNC_STAGE'),
    stateTable: required(env, 'ESYNC_STATE_TABLE'),
    idempotencyTable: required(env, 'ESYNC_IDEMPOTENCY_TABLE'),
    dataBucket: required(env, 'ESYNC_DATA_BUCKET'),
    eventBus: required(env, 'ESYNC_EVENT_BUS'),
    queueUrlPrefix: required(env, 'ESYNC_QUEUE_URL_PREFIX'),
    stateMachineArnPrefix: required(env, 'ESYNC_STATE_MACHINE_ARN_PREFIX'),
    secretsMaxAgeSeconds: wholeSeconds(env, 'ESYNC_SECRETS_MAX_AGE_SECONDS', DEFAULT_SECRETS_MAX_AGE_SECONDS),
    databaseAuth: databaseAuth(env),
    cliTarget: env.ESYNC_CLI_TARGET || `--stage ${required(env, 'ESYNC_STAGE')}`,
    stageAlertWebhooks: (env.ESYNC_STAGE_ALERT_WEBHOOKS ?? '').split(',').filter((name) => name !== ''),
    ...(env.ESYNC_MASK_KEY_SECRET ? { maskKeySecret: env.ESYNC_MASK_KEY_SECRET } : {}),
    ...(env.ESYNC_ACCESS_ROLE_ARN ? { accessRoleArn: env.ESYNC_ACCESS_ROLE_ARN } : {}),
  };
}

export const loadQueueUrl = (config: RuntimeConfig, pipeline: string) =>
  config.queueUrlPrefix + loadQueueName(config.stage, pipeline);

export const stateMachineArn = (config: RuntimeConfig, pipeline: string) =>
  config.stateMachineArnPrefix + stateMachineName(config.stage, pipeline);
