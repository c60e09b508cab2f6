import awsCronParser from 'aws-cron-parser';
import * as z from 'zod';
import { secretRefSchema } from '../connectors/common-config.ts';
import { customSourceConfigSchema, customTargetConfigSchema } from '../connectors/custom/config.ts';
import { cdcSourceConfigSchema } from '../connectors/sources/cdc/config.ts';
import { dynamodbSourceConfigSchema } from '../connectors/sources/dynamodb/config.ts';
import { githubSourceConfigSchema } from '../connectors/sources/github/config.ts';
import { httpSourceConfigSchema } from '../connectors/sources/http/config.ts';
import { kafkaSourceConfigSchema, kafkaValueShapeIssues } from '../connectors/sources/kafka/config.ts';
import { mysqlSourceConfigSchema } from '../connectors/sources/mysql/config.ts';
import { postgresSourceConfigSchema } from '../connectors/sources/postgres/config.ts';
import { s3SourceConfigSchema } from '../connectors/sources/s3/config.ts';
import { webhookSourceConfigSchema } from '../connectors/sources/webhook/config.ts';
import { dynamodbTargetConfigSchema } from '../connectors/targets/dynamodb/config.ts';
import { httpTargetConfigSchema } from '../connectors/targets/http/config.ts';
import { postgresTargetConfigSchema } from '../connectors/targets/postgres/config.ts';
import { s3TargetConfigSchema } from '../connectors/targets/s3/config.ts';
import { expressionCompileError } from '../domain/expression-check.ts';
import { EXPRESSION_LIMITS } from '../domain/expressions.ts';
import { DRIFT_POLICIES } from '../domain/schema-drift.ts';
import { BUILT_IN_VALIDATORS } from '../domain/validation.ts';
import { HISTORY_DAY_TIERS, LONGEST_HISTORY_TIER_DAYS } from './history-tiers.ts';
import {
  BATCH_SIZE_WITHOUT_WINDOW,
  DEFAULT_LOAD_BATCH_SIZE,
  defaultLoadBatchSize,
  LOAD_BATCH_SIZE,
  LOAD_BATCHING_WINDOW_SECONDS,
  loadBatchingProblem,
  PUSHED_LOAD_BATCH_SIZE,
  SQS_MAX_MESSAGE_BYTES,
} from './load-batching.ts';
import { isPushOnlySource } from './push-only-sources.ts';
import { RETENTION_DEFAULTS } from './retention.ts';

export { RETENTION_DEFAULTS };

const fieldName = z.string().min(1).max(255);

/** A JSONata expression, compiled when the pipeline is parsed so `esync validate` shows where it is wrong. */
const jsonataExpression = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    const problem = expressionCompileError(text);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Fields every source shares, whatever its type. */
const sourceCommon = {
  key: z
    .array(fieldName)
    .min(1)
    .describe(
      'Fields forming the record key, in order (joined by #). They also order and partition what a run reads, and break cursor ties, when keyExpression makes the key.',
    ),
  keyExpression: jsonataExpression
    .optional()
    .describe(
      'JSONata expression over the record as the source gives it, whose result (a non-empty string or a number) is the record key instead of the key fields: what the target is keyed by, dedup and conflicts go by, and Verify compares. Evaluated where a batch run reads the record, with the limits of transform; a record it fails on is quarantined with the expression and the error. Not for pushed changes (webhook, cdc, kafka). A postgres target in columns mode splits the key at # into the key fields’ columns. @default - the key fields',
    ),
  cursor: z
    .array(fieldName)
    .default([])
    .describe(
      'Fields of the incremental cursor (e.g. [updated_at]); the key breaks ties. Empty: full reads.',
    ),
  lookbackSeconds: z
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(0)
    .describe(
      'Re-read this far behind the checkpoint, so rows committed late with an older cursor value are not missed.',
    ),
  deletes: z
    .discriminatedUnion('mode', [
      z.strictObject({ mode: z.literal('none') }).describe('Deletions are not propagated.'),
      z
        .strictObject({
          mode: z.literal('soft'),
          column: fieldName.describe('Column marking a deleted row.'),
          value: z
            .union([z.string(), z.number(), z.boolean()])
            .default(true)
            .describe('Value meaning deleted.'),
        })
        .describe('A column marks deleted rows; they are loaded as deletes.'),
      z
        .strictObject({ mode: z.literal('verify') })
        .describe(
          'Hard deletes: each Verify partition reads the target’s live keys of its key range, then the source’s, and sends a delete for each key the source no longer has (a tombstone whose version follows the stored one). Needs verify.mode full or sample.',
        ),
    ])
    .default({ mode: 'none' })
    .describe('How deletions at the source are detected.'),
};

export const sourceSchema = z
  .discriminatedUnion('type', [
    postgresSourceConfigSchema.extend(sourceCommon),
    mysqlSourceConfigSchema.extend(sourceCommon),
    s3SourceConfigSchema.extend(sourceCommon),
    githubSourceConfigSchema.extend(sourceCommon),
    httpSourceConfigSchema.extend(sourceCommon),
    dynamodbSourceConfigSchema.extend(sourceCommon),
    webhookSourceConfigSchema.extend(sourceCommon),
    cdcSourceConfigSchema.extend(sourceCommon),
    kafkaSourceConfigSchema.extend(sourceCommon),
    customSourceConfigSchema.extend(sourceCommon),
  ])
  .describe('Where changes come from.');

export const targetSchema = z
  .discriminatedUnion('type', [
    dynamodbTargetConfigSchema,
    s3TargetConfigSchema,
    postgresTargetConfigSchema,
    httpTargetConfigSchema,
    customTargetConfigSchema,
  ])
  .describe('Where changes go.');

export const SOURCE_TYPES = [
  'postgres',
  'mysql',
  's3',
  'github',
  'http',
  'dynamodb',
  'webhook',
  'cdc',
  'kafka',
  'custom',
] as const;
export const TARGET_TYPES = ['dynamodb', 's3', 'postgres', 'http', 'custom'] as const;

/** Checks an EventBridge schedule expression: `rate(N unit)` or a six-field `cron(...)`. */
export function scheduleProblem(expression: string): string | undefined {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (n < 1) return 'a rate must be at least 1';
    if (n === 1 && unit.endsWith('s')) return `use the singular: rate(1 ${unit.slice(0, -1)})`;
    if (n > 1 && !unit.endsWith('s')) return `use the plural: rate(${n} ${unit}s)`;
    return undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron)
    return 'expected rate(<n> <minutes|hours|days>) or cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>)';
  const fields = (cron[1] ?? '').trim().split(/\s+/);
  if (fields.length !== 6)
    return `a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
  if (fields[2] !== '?' && fields[4] !== '?') return 'one of day-of-month or day-of-week must be ?';
  try {
    // The parser splits on single spaces, so it gets the fields re-joined.
    const parsed = awsCronParser.parse(fields.join(' ')) as unknown as Record<string, unknown>;
    for (const [part, value] of Object.entries(parsed))
      if (Array.isArray(value) && value.some((v) => typeof v === 'number' && Number.isNaN(v)))
        return `cron field "${part}" is not valid`;
  } catch (error) {
    return `cron expression is not valid: ${(error as Error).message}`;
  }
  return undefined;
}

const scheduleSchema = z
  .string()
  .superRefine((value, ctx) => {
    const problem = scheduleProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('EventBridge schedule: rate(...) or cron(...), UTC.');

const webhookTriggerSchema = z
  .strictObject({
    signature: z.enum(['github', 'standard-webhooks', 'hmac']).describe('How deliveries are authenticated.'),
    secret: secretRefSchema.shape.secret.describe('Secrets Manager name of the signing secret.'),
    header: z.string().default('x-signature').describe('hmac only: header carrying the hex signature.'),
    algorithm: z.enum(['sha256', 'sha512', 'sha1']).default('sha256').describe('hmac only: HMAC algorithm.'),
    timestampHeader: z
      .string()
      .optional()
      .describe('hmac only: header carrying a Unix timestamp that is signed as `<timestamp>.<body>`.'),
    toleranceSeconds: z
      .int()
      .min(1)
      .max(3600)
      .default(300)
      .describe('Accepted clock skew of a signed timestamp.'),
    maxBodyBytes: z
      .int()
      .min(1024)
      .max(1_048_576)
      .default(262_144)
      .describe('Larger deliveries are refused with 413.'),
  })
  .describe('Accept changes pushed to POST /webhooks/<pipeline>.');

const cdcTriggerSchema = z
  .strictObject({
    pattern: z
      .record(z.string(), z.unknown())
      .refine((p) => Object.keys(p).length > 0, 'an event pattern needs at least one field')
      .describe('EventBridge event pattern selecting this pipeline’s change events on the ESync bus.'),
  })
  .describe('Accept change events from the ESync event bus.');

const kafkaTriggerSchema = z
  .strictObject({
    clusterArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9-]+\/[A-Za-z0-9-]+$/,
        'an MSK cluster ARN, arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>',
      )
      .optional()
      .describe('Amazon MSK cluster carrying the topics (IAM access). Give this or bootstrapServers.'),
    bootstrapServers: z
      .array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'a broker as host:port'))
      .min(1)
      .optional()
      .describe('Brokers of a self-managed Kafka cluster, as host:port. Give this or clusterArn.'),
    authentication: z
      .strictObject({
        method: z
          .enum(['sasl-scram-512', 'sasl-scram-256', 'mtls'])
          .describe(
            'sasl-scram-512 / sasl-scram-256: the secret holds {"username", "password"}; mtls: {"certificate", "privateKey"} (PEM).',
          ),
        secret: secretRefSchema.shape.secret.describe('Secrets Manager name of the credentials.'),
      })
      .optional()
      .describe(
        'bootstrapServers only: how Lambda authenticates to the brokers. @default - none (plaintext)',
      ),
    rootCaSecret: secretRefSchema.shape.secret
      .optional()
      .describe(
        'bootstrapServers only: Secrets Manager name of the root CA certificate of brokers whose certificates a private CA signed. @default - public CAs',
      ),
    schemaRegistry: z
      .strictObject({
        url: z.url({ protocol: /^https?$/ }).describe('URL of the Confluent-compatible schema registry.'),
        secret: secretRefSchema.shape.secret.describe(
          'Secrets Manager name of the registry’s basic-auth credentials {"username", "password"}.',
        ),
      })
      .optional()
      .describe(
        'kafka source only: a Confluent schema registry the event source checks each value against and removes the framing of (event record format SOURCE), so Avro and Protobuf values produced by registry serializers decode. It puts the event source in provisioned mode (1 to 3 pollers, billed by the hour). @default - values arrive as produced',
      ),
    topics: z.array(z.string().min(1).max(249)).min(1).describe('Topics the pipeline reads.'),
    startingPosition: z
      .enum(['LATEST', 'TRIM_HORIZON'])
      .default('TRIM_HORIZON')
      .describe('Where a new consumer starts.'),
    batchSize: z.int().min(1).max(10_000).default(100).describe('Records per Load invocation at most.'),
  })
  .describe(
    'Accept records from Kafka topics on Amazon MSK or a self-managed cluster (an event source of the Load function): Debezium change events for a cdc (or polled) source, plain records for a kafka source.',
  );

/** A trigger names one cluster: MSK by ARN, or self-managed brokers with their own credentials. */
function kafkaTriggerIssues(kafka: z.infer<typeof kafkaTriggerSchema>): z.core.$ZodRawIssue[] {
  const at = (field: string, message: string) => ({
    code: 'custom' as const,
    path: ['triggers', 'kafka', field],
    message,
    input: kafka,
  });
  if (kafka.clusterArn !== undefined && kafka.bootstrapServers !== undefined)
    return [
      at('bootstrapServers', 'give clusterArn (Amazon MSK) or bootstrapServers (self-managed), not both'),
    ];
  if (kafka.clusterArn === undefined && kafka.bootstrapServers === undefined)
    return [at('clusterArn', 'give clusterArn (Amazon MSK) or bootstrapServers (self-managed Kafka)')];
  if (kafka.clusterArn === undefined) return [];
  return (['authentication', 'rootCaSecret'] as const)
    .filter((field) => kafka[field] !== undefined)
    .map((field) => at(field, 'is for self-managed Kafka (bootstrapServers); MSK is reached with IAM'));
}

const fieldRuleSchema = z
  .strictObject({
    field: fieldName.describe('Field the rule checks (dotted path for nested fields).'),
    required: z.boolean().default(false).describe('The field must be present and not null.'),
    type: z
      .enum(['string', 'number', 'integer', 'boolean', 'object', 'array', 'timestamp'])
      .optional()
      .describe('Expected JSON type; timestamp: an ISO-8601 string or epoch milliseconds.'),
    format: z
      .string()
      .superRefine((value, ctx) => {
        try {
          new RegExp(value);
        } catch (error) {
          ctx.addIssue({
            code: 'custom',
            message: `regular expression does not compile: ${(error as Error).message}`,
          });
        }
      })
      .optional()
      .describe('Regular expression a string value must match.'),
    range: z
      .strictObject({
        min: z.number().optional().describe('Lowest allowed value. @default - no lower bound'),
        max: z.number().optional().describe('Highest allowed value. @default - no upper bound'),
      })
      .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, 'min must not exceed max')
      .optional()
      .describe('Inclusive bounds of a number (or the length of a string).'),
    enum: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional()
      .describe('Allowed values.'),
    custom: z
      .string()
      .min(1)
      .optional()
      .describe(
        `Name of a validator: a built-in one (${Object.keys(BUILT_IN_VALIDATORS).sort().join(', ')}) or one an extension module registers with defineValidator (see the README, Extending ESync). esync validate and synth refuse any other name, with the known ones: Load would have no validator to run.`,
      ),
  })
  .describe('Checks on one field; a record failing any is quarantined with every reason.');

const maskSchema = z.enum(['hash', 'redact']);

const transformSchema = z
  .strictObject({
    filter: jsonataExpression
      .optional()
      .describe(
        "JSONata expression over the record as it arrives; a record is loaded only when it is true (JSONata's boolean cast), others are counted filtered and the target keeps what it holds. Deletes are not filtered. @default - every record is loaded",
      ),
    compute: z
      .record(fieldName, jsonataExpression)
      .default({})
      .describe(
        'Map of field name to a JSONata expression over the record as it arrives (before defaults; computed fields do not see one another). No result leaves the field absent. A computed field is masked only when `mask` names it. An expression that fails on a record quarantines it with the expression and the error.',
      ),
    rename: z.record(fieldName, fieldName).default({}).describe('Map of old field name to new name.'),
    drop: z.array(fieldName).default([]).describe('Fields removed before loading.'),
    mask: z
      .record(fieldName, maskSchema)
      .default({})
      .describe(
        'hash: keyed SHA-256 (joinable, not reversible); redact: replaced by "[REDACTED]". Masked values never reach logs.',
      ),
    defaults: z
      .record(fieldName, z.unknown())
      .default({})
      .describe('Values for fields that are missing or null.'),
  })
  .describe(
    `Applied in order: filter, compute, defaults, rename, mask, drop. Expressions are JSONata (https://jsonata.org), compiled once per container; one evaluation may take ${EXPRESSION_LIMITS.maxSteps} evaluation steps (counted per record, not timed), nest ${EXPRESSION_LIMITS.maxDepth} levels, build sequences of ${EXPRESSION_LIMITS.maxSequence} items and return ${EXPRESSION_LIMITS.maxResultChars} characters of JSON; past a limit the record is quarantined.`,
  );

const fieldMergeRule = z.enum(['source', 'target', 'latest', 'max', 'min', 'manual']);

const conflictSchema = z
  .strictObject({
    strategy: z
      .enum(['source-wins', 'target-wins', 'latest-timestamp', 'field-merge', 'manual'])
      .default('source-wins')
      .describe('What happens when the target record was changed by someone else since our last write.'),
    timestampField: fieldName
      .optional()
      .describe('Field compared by latest-timestamp (and the latest field rule).'),
    fields: z
      .record(fieldName, fieldMergeRule)
      .default({})
      .describe(
        'field-merge: rule for a field changed on both sides. Unlisted fields changed on both sides become a conflict.',
      ),
  })
  .superRefine((c, ctx) => {
    const needsTimestamp = c.strategy === 'latest-timestamp' || Object.values(c.fields).includes('latest');
    if (needsTimestamp && !c.timestampField)
      ctx.addIssue({
        code: 'custom',
        path: ['timestampField'],
        message: `strategy ${c.strategy} needs timestampField`,
      });
    if (c.strategy !== 'field-merge' && Object.keys(c.fields).length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['fields'],
        message: 'per-field rules apply only to strategy field-merge',
      });
  })
  .describe('Conflict handling.');

/**
 * Who hears about alarms: emails, existing SNS topics and chat webhooks. A pipeline names them
 * for its own alarms (`alerts.notify`), a stage for every pipeline's (`alerts` in cdk.json).
 * @param whose the alarms the descriptions speak of
 */
export function alertNotifySchema(whose: 'this pipeline' | 'any pipeline of the stage') {
  return z
    .strictObject({
      emails: z
        .array(z.email({ error: 'an email address, e.g. oncall@example.com' }))
        .default([])
        .describe(
          `Addresses emailed when an alarm of ${whose} fires or recovers (each address first confirms the subscription AWS sends it).`,
        ),
      snsTopics: z
        .array(
          z
            .string()
            .regex(
              /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/,
              'an SNS topic ARN, e.g. arn:aws:sns:eu-west-1:123456789012:on-call',
            ),
        )
        .default([])
        .describe(
          `Existing SNS topics (ARNs) the alarms of ${whose} also notify; each topic’s policy must let CloudWatch publish to it.`,
        ),
      webhooks: z
        .array(
          z
            .strictObject({
              secret: secretRefSchema.shape.secret.describe(
                'Secrets Manager name of the secret whose value is the webhook’s https:// URL (kept out of the template and the pipeline file).',
              ),
            })
            .describe('A chat webhook.'),
        )
        .default([])
        .describe(
          `Chat webhooks (Slack or Microsoft Teams incoming webhooks, or any endpoint that takes \`{"text": …}\`) posted a message when an alarm of ${whose} fires or recovers: the pipeline, the alarm, why it changed and the esync command to inspect it.`,
        ),
    })
    .default({ emails: [], snsTopics: [], webhooks: [] });
}

/** Who hears about alarms (see {@link alertNotifySchema}). */
export type AlertNotify = z.infer<ReturnType<typeof alertNotifySchema>>;

/**
 * A stage's alert settings, the `alerts` entry of that stage in cdk.json's context (or
 * `-c alerts=<json>`): who hears about the alarms of every pipeline of the stage.
 */
export const stageAlertsSchema = z
  .strictObject({
    notify: alertNotifySchema('any pipeline of the stage').describe(
      'Who hears about the alarms of every pipeline of the stage, beside each pipeline’s own `alerts.notify`.',
    ),
  })
  .default({ notify: { emails: [], snsTopics: [], webhooks: [] } });
export type StageAlerts = z.infer<typeof stageAlertsSchema>;

/** What a batch run does when the source's columns changed since the schema the pipeline accepted. */
const schemaDriftSchema = z
  .strictObject({
    onDrift: z
      .enum(DRIFT_POLICIES)
      .default('evolve')
      .describe(
        "What a batch run does when Discover finds the source table's columns changed (added, removed, or of another type) since the schema the pipeline last accepted. " +
          "evolve: load the change; a new column is added to a PostgreSQL target in `columns` mode (ALTER TABLE … ADD COLUMN IF NOT EXISTS, its type mapped from the source's), a retyped column is left as it is when it holds the new type's values (the source narrowed it), widened when a wider type of the same kind holds both (integer → bigint, varchar(20) → varchar(50), numeric(10,2) → numeric(12,2); ALTER COLUMN … TYPE), and otherwise the run fails in Discover naming the column (numeric → double precision: a float cannot hold every decimal), and schemaless targets (DynamoDB, S3, HTTP, PostgreSQL `jsonb`) take the records as they come. " +
          'freeze: fail the run in Discover, before anything is loaded, naming each change; later runs fail too until the source is changed back or a run under another policy accepts the change. ' +
          "discard: load the records without the added columns (counted as `fieldsDiscarded` on the run); the target's columns are never changed and every later run leaves the added columns out again; a retyped column keeps loading, and the run fails before loading, naming it, when a PostgreSQL `columns` target's column cannot hold the new type. " +
          'A removed column is accepted by evolve and discard (the target keeps its stored values). ' +
          'evolve is the default because it loses nothing and needs no one: schemaless targets took new fields as they came before, and a `columns` target quarantined every record with a new column. ' +
          'Detected for PostgreSQL and MySQL sources, from their catalog; other sources are not checked (their fields come from a sample record, which cannot tell a removed column from a value left out). A change of nullability alone is not drift.',
      ),
  })
  .default({ onDrift: 'evolve' })
  .describe("Schema drift: how a change of the source table's columns between runs is handled.");

export const pipelineSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'a pipeline name is lower-kebab-case, e.g. users-sync')
      .max(40)
      .describe('Unique pipeline name (lower-kebab-case); part of every resource name.'),
    description: z.string().max(500).default('').describe('What the pipeline is for.'),
    source: sourceSchema,
    target: targetSchema,
    schema: schemaDriftSchema,
    triggers: z
      .strictObject({
        schedule: scheduleSchema.optional(),
        webhook: webhookTriggerSchema.optional(),
        cdc: cdcTriggerSchema.optional(),
        kafka: kafkaTriggerSchema.optional(),
      })
      .default({})
      .describe('What starts work. A pipeline with none runs only on demand.'),
    extract: z
      .strictObject({
        partitions: z
          .int()
          .min(1)
          .max(1000)
          .default(4)
          .describe(
            'Partitions the window is split into at most: key ranges for SQL tables (each read by an index range scan; ranges order text keys by code point, so a text key under another collation needs an index in that order: see the README, Big tables), object-key ranges for S3, scan segments for DynamoDB.',
          ),
        manifestThreshold: z
          .int()
          .min(1)
          .default(40)
          .describe(
            'Plans with more partitions go to S3 as a manifest read by a Distributed Map (for Execute and for Verify).',
          ),
      })
      .default({ partitions: 4, manifestThreshold: 40 })
      .describe('How a batch run splits its work.'),
    batch: z
      .strictObject({
        size: z
          .int()
          .min(1)
          .max(1000)
          .default(500)
          .describe(
            'Records per queue message at most. Every message costs a ledger entry written twice, with its index, and a failed message retries all its records.',
          ),
        maxBytes: z
          .int()
          .min(1024)
          .max(SQS_MAX_MESSAGE_BYTES)
          .default(SQS_MAX_MESSAGE_BYTES)
          .describe(
            "Bytes per queue message at most (SQS allows 1 MiB). A message is also kept small enough, escaped in the Lambda event, for load.batchSize of them to fit Lambda's 6 MB payload limit; a record too large for one goes to S3 by claim check.",
          ),
      })
      .default({ size: 500, maxBytes: SQS_MAX_MESSAGE_BYTES })
      .describe('Packing of records into queue messages.'),
    conflict: conflictSchema.default({ strategy: 'source-wins', fields: {} }),
    validation: z.array(fieldRuleSchema).default([]).describe('Record validation rules.'),
    transform: transformSchema.default({ compute: {}, rename: {}, drop: [], mask: {}, defaults: {} }),
    retry: z
      .strictObject({
        maxAttempts: z
          .int()
          .min(1)
          .max(20)
          .default(5)
          .describe('Attempts of one call before SQS redelivery takes over.'),
        baseDelayMs: z
          .int()
          .min(1)
          .default(100)
          .describe('Delay before the first retry; doubles with each attempt.'),
        maxDelayMs: z.int().min(1).default(5000).describe('Upper bound of one delay.'),
        jitter: z
          .enum(['full', 'none'])
          .default('full')
          .describe('full: a random delay between 0 and the backoff, so retries of many callers spread out.'),
      })
      .refine((r) => r.baseDelayMs <= r.maxDelayMs, 'baseDelayMs must not exceed maxDelayMs')
      .default({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5000, jitter: 'full' })
      .describe('Retries inside one call, with exponential backoff.'),
    dlq: z
      .strictObject({
        maxReceiveCount: z
          .int()
          .min(1)
          .max(1000)
          .default(5)
          .describe('Receives before a message moves to the DLQ.'),
      })
      .default({ maxReceiveCount: 5 })
      .describe('Dead-letter queue of the load queue.'),
    load: z
      .strictObject({
        maxConcurrency: z
          .int()
          .min(2)
          .max(1000)
          .default(5)
          .describe('Load functions at once (protects the target).'),
        batchSize: z
          .int()
          .min(LOAD_BATCH_SIZE.min)
          .max(LOAD_BATCH_SIZE.max)
          .optional()
          .describe(
            `Queue messages per Load invocation; above ${BATCH_SIZE_WITHOUT_WINDOW} needs batchingWindowSeconds of at least 1. @default - ${PUSHED_LOAD_BATCH_SIZE} for a webhook, cdc or kafka source (one pushed change per message), ${DEFAULT_LOAD_BATCH_SIZE} otherwise (messages of up to 500 records, so an invocation holds about 1,000)`,
          ),
        writeConcurrency: z
          .int()
          .min(1)
          .max(256)
          .default(32)
          .describe(
            'Target writes in flight at once in one Load invocation (its messages share them), never two of one key; halved under throttling for the rest of the invocation. An http target is held to its own concurrency as well.',
          ),
        batchingWindowSeconds: z
          .int()
          .min(LOAD_BATCHING_WINDOW_SECONDS.min)
          .max(LOAD_BATCHING_WINDOW_SECONDS.max)
          .default(1)
          .describe('How long SQS gathers messages before invoking Load.'),
        timeoutSeconds: z
          .int()
          .min(5)
          .max(900)
          .default(60)
          .describe('Load function timeout; the queue visibility timeout is derived from it.'),
      })
      .default({
        maxConcurrency: 5,
        batchingWindowSeconds: 1,
        timeoutSeconds: 60,
        writeConcurrency: 32,
      })
      .describe('The Load function and its SQS event source.'),
    verify: z
      .strictObject({
        mode: z
          .enum(['full', 'sample', 'off'])
          .default('full')
          .describe('full: every key of the window; sample: a share of the keys; off: no verification.'),
        sampleRate: z.number().gt(0).max(1).default(0.1).describe('Share of keys compared in sample mode.'),
        onMismatch: z
          .enum(['fail', 'warn', 'repair'])
          .default('fail')
          .describe(
            'fail: the run fails and the checkpoint stays; warn: report only; repair: re-enqueue mismatches.',
          ),
      })
      .default({ mode: 'full', sampleRate: 0.1, onMismatch: 'fail' })
      .describe(
        'How Verify compares source and target over the window, partition by partition (the partitions of the load).',
      ),
    alerts: z
      .strictObject({
        failureRate: z
          .number()
          .min(0)
          .max(1)
          .default(0.05)
          .describe('Share of failed records that raises an alarm.'),
        conflictRate: z
          .number()
          .min(0)
          .max(1)
          .default(0.1)
          .describe('Share of records in conflict that raises an alarm.'),
        latencyMs: z
          .int()
          .min(1)
          .default(300_000)
          .describe('Age of the oldest queued message that raises an alarm.'),
        notify: alertNotifySchema('this pipeline').describe(
          'Who hears about this pipeline’s alarms besides the stage’s alarm topic.',
        ),
      })
      .default({
        failureRate: 0.05,
        conflictRate: 0.1,
        latencyMs: 300_000,
        notify: { emails: [], snsTopics: [], webhooks: [] },
      })
      .describe('CloudWatch alarm thresholds.'),
    retention: z
      .strictObject({
        keepHistory: z
          .boolean()
          .default(RETENTION_DEFAULTS.keepHistory)
          .describe(
            'Archive every change the target applied, so that `esync history` can rebuild a record as it was: one S3 object per change (about $5 per million changes). An s3 target always keeps its history, whatever this says.',
          ),
        historyDays: z
          .int()
          .min(1)
          .max(LONGEST_HISTORY_TIER_DAYS)
          .default(RETENTION_DEFAULTS.historyDays)
          .describe(
            `Days each archived change of a record (what \`esync history\` reads) is kept, from when it was archived, rounded up to the next of ${HISTORY_DAY_TIERS.join(', ')} days (the data bucket's lifecycle rules, one per tier, whatever the pipelines; \`esync validate\` warns when it rounds).`,
          ),
        runDays: z
          .int()
          .min(1)
          .max(3650)
          .default(RETENTION_DEFAULTS.runDays)
          .describe('Days a run record (`esync runs list|show`) is kept, from when the run started.'),
        auditDays: z
          .int()
          .min(1)
          .max(3650)
          .default(RETENTION_DEFAULTS.auditDays)
          .describe(
            'Days an audit entry of this pipeline (a reset checkpoint, a resolved conflict, a started run, a redrive) is kept, from its time.',
          ),
      })
      .default(RETENTION_DEFAULTS)
      .describe('How long change history, run records and audit entries are kept.'),
  })
  .superRefine((p, ctx) => {
    const t = p.triggers;
    if (p.source.type === 'webhook' && !t.webhook)
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', 'webhook'],
        message: 'a webhook source needs triggers.webhook',
      });
    if (p.source.type === 'cdc' && !t.cdc && !t.kafka)
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', 'cdc'],
        message: 'a cdc source needs triggers.cdc or triggers.kafka',
      });
    if (p.source.type === 'kafka' && !t.kafka)
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', 'kafka'],
        message: 'a kafka source needs triggers.kafka',
      });
    if (t.kafka) for (const issue of kafkaTriggerIssues(t.kafka)) ctx.addIssue(issue);
    if (t.kafka?.schemaRegistry && p.source.type !== 'kafka')
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', 'kafka', 'schemaRegistry'],
        message: `is for a kafka source (Avro or Protobuf values); a ${p.source.type} source reads Debezium JSON`,
      });
    if (p.source.type === 'kafka')
      for (const { path, message } of kafkaValueShapeIssues(p.source))
        ctx.addIssue({ code: 'custom', path: ['source', path], message });
    if (isPushOnlySource(p.source.type) && t.schedule)
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', 'schedule'],
        message: `a ${p.source.type} source has nothing to read on a schedule`,
      });
    if (isPushOnlySource(p.source.type) && p.source.deletes.mode === 'verify')
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'deletes', 'mode'],
        message: `is verify, but a ${p.source.type} source has no rows for Verify to compare: its deletes arrive as events`,
      });
    if (t.webhook && p.source.type !== 'webhook' && p.source.type !== 'github')
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', 'webhook'],
        message: `a ${p.source.type} source takes no webhooks (a webhook or github source does)`,
      });
    if (p.source.type === 'github' && t.webhook && t.webhook.signature !== 'github')
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', 'webhook', 'signature'],
        message: 'a github source takes GitHub deliveries: use signature github',
      });
    if (p.source.type === 'webhook' && p.source.mapping === 'github' && !p.source.key.includes('kind'))
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'key'],
        message:
          'GitHub ids are unique per kind only (an issue and a comment may share an id): include kind in the key, e.g. [kind, id]',
      });
    const pushed = (['webhook', 'cdc', 'kafka'] as const).filter((trigger) => t[trigger] !== undefined);
    if (p.source.keyExpression !== undefined && pushed.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'keyExpression'],
        message: `is evaluated where batch runs read records; pushed changes (triggers.${pushed.join(', triggers.')}) are keyed by source.key: remove one or the other`,
      });
    for (const [i, field] of p.source.cursor.entries())
      if (p.source.key.includes(field))
        ctx.addIssue({
          code: 'custom',
          path: ['source', 'cursor', i],
          message: `"${field}" is already a key field`,
        });
  })
  .transform((p) => ({
    ...p,
    load: { ...p.load, batchSize: p.load.batchSize ?? defaultLoadBatchSize(p.source.type) },
  }))
  .superRefine((p, ctx) => {
    // Checked on the batch size the pipeline ends with, its source's default included.
    const problem = loadBatchingProblem(p.load.batchSize, p.load.batchingWindowSeconds);
    if (problem) ctx.addIssue({ code: 'custom', path: ['load', problem.field], message: problem.message });
  });

export type Pipeline = z.infer<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;
export type SourceConfig = Pipeline['source'];
export type TargetConfig = Pipeline['target'];
export type FieldRule = Pipeline['validation'][number];
export type TransformConfig = Pipeline['transform'];
export type ConflictConfig = Pipeline['conflict'];
export type FieldMergeRule = z.infer<typeof fieldMergeRule>;
