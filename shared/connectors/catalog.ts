import { Document, isSeq, visit } from 'yaml';
import type { z } from 'zod';
import { escapeMarkdown, type FieldDoc, fieldDocs, fieldTable, schemaAtPath } from '../pipeline/reference.ts';
import { pipelineSchema } from '../pipeline/schema.ts';
import { customSourceConfigSchema, customTargetConfigSchema } from './custom/config.ts';
import { cdcSourceConfigSchema } from './sources/cdc/config.ts';
import { dynamodbSourceConfigSchema } from './sources/dynamodb/config.ts';
import { githubSourceConfigSchema } from './sources/github/config.ts';
import { httpSourceConfigSchema } from './sources/http/config.ts';
import { kafkaSourceConfigSchema } from './sources/kafka/config.ts';
import { mysqlSourceConfigSchema } from './sources/mysql/config.ts';
import { postgresSourceConfigSchema } from './sources/postgres/config.ts';
import { s3SourceConfigSchema } from './sources/s3/config.ts';
import { webhookSourceConfigSchema } from './sources/webhook/config.ts';
import { dynamodbTargetConfigSchema } from './targets/dynamodb/config.ts';
import { httpTargetConfigSchema } from './targets/http/config.ts';
import { postgresTargetConfigSchema } from './targets/postgres/config.ts';
import { s3TargetConfigSchema } from './targets/s3/config.ts';

/** What a catalog entry plugs into: a source or target `type`, a webhook `signature`, a CDC `format`. */
export type ConnectorKind = 'source' | 'target' | 'webhook' | 'cdc';

/** One connector or adapter, as `esync connectors` and docs/connectors.md show it. */
export interface ConnectorDoc {
  readonly kind: ConnectorKind;
  /** The value written in the pipeline: `source.type`, `target.type`, `triggers.webhook.signature` or `source.format`. */
  readonly type: string;
  readonly summary: string;
  /** Its own configuration fields (the fields every source shares are in the pipeline reference). */
  readonly fields: readonly FieldDoc[];
  /** A pipeline fragment using it; merged into a complete pipeline it validates (the tests check). */
  readonly example: Readonly<Record<string, unknown>>;
}

type Schema = z.core.$ZodType;

/** The example of a cdc source: events in `format` that match `pattern` on the ESync bus, keyed by `key`. */
const cdcExample = (
  format: 'debezium' | 'esync',
  key: readonly string[],
  pattern: Record<string, unknown>,
) => ({
  source: { type: 'cdc', format, key },
  triggers: { cdc: { pattern } },
});

function ownFields(schema: Schema, prefix: string): FieldDoc[] {
  return fieldDocs(schema, { prefix, omit: ['type'] });
}

function pipelineFields(path: readonly string[], keep: readonly string[]): FieldDoc[] {
  const schema = schemaAtPath(pipelineSchema, path, {});
  if (schema === undefined) throw new Error(`the pipeline schema has no ${path.join('.')}`);
  const prefix = path.join('.');
  return fieldDocs(schema, { prefix }).filter((row) => keep.includes(row.path.slice(prefix.length + 1)));
}

const SOURCES: readonly ConnectorDoc[] = [
  {
    kind: 'source',
    type: 'postgres',
    summary:
      'Reads a PostgreSQL table incrementally by its composite cursor (cursor columns, then key), in keyset pages.',
    fields: ownFields(postgresSourceConfigSchema, 'source'),
    example: {
      source: {
        type: 'postgres',
        connection: { secret: 'esync/prod/users-db', ssl: 'verify-full' },
        table: 'users',
        key: ['id'],
        cursor: ['updated_at'],
        lookbackSeconds: 60,
      },
    },
  },
  {
    kind: 'source',
    type: 'mysql',
    summary:
      'Reads a MySQL table incrementally by its composite cursor (cursor columns, then key), in keyset pages.',
    fields: ownFields(mysqlSourceConfigSchema, 'source'),
    example: {
      source: {
        type: 'mysql',
        connection: { secret: 'esync/prod/shop-db' },
        database: 'shop',
        table: 'orders',
        key: ['id'],
        cursor: ['updated_at'],
      },
    },
  },
  {
    kind: 'source',
    type: 's3',
    summary:
      'Reads JSON Lines or CSV objects (optionally gzip) under a prefix, incrementally by (LastModified, object key); each line or row is a record.',
    fields: ownFields(s3SourceConfigSchema, 'source'),
    example: {
      source: { type: 's3', prefix: 'incoming/orders/', format: 'jsonl', key: ['order_id'] },
    },
  },
  {
    kind: 'source',
    type: 'github',
    summary:
      "Reads issues, pull requests or comments of one repository through the GitHub REST API, incrementally by updated_at. With `triggers.webhook` (signature github) the same pipeline also takes the repository webhook: deliveries of the resource's event (`issues`, `issue_comment`, `pull_request`) write the entity as the API lists it, into the same target and version order as the poll (docs/versions.md), requiring only the key fields and `updated_at`: a payload that carries part of the entity (`issues.pinned`, `unpinned`: no `state`) is a partial update, whose missing fields keep their stored values; two changes of one second with other content are read again at the API, which decides; other event types are answered 202 `ignored`.",
    fields: ownFields(githubSourceConfigSchema, 'source'),
    example: {
      source: {
        type: 'github',
        owner: 'octo-org',
        repo: 'octo-repo',
        resource: 'issues',
        token: { secret: 'esync/prod/github-token' },
        key: ['id'],
        cursor: ['updated_at'],
      },
    },
  },
  {
    kind: 'source',
    type: 'http',
    summary: 'Reads a paginated JSON API (cursor, page-number or Link-header pagination).',
    fields: ownFields(httpSourceConfigSchema, 'source'),
    example: {
      source: {
        type: 'http',
        url: 'https://api.example.com/v1/customers',
        recordsPath: 'data',
        pagination: { type: 'cursor', cursorPath: 'meta.next' },
        sinceParam: 'updated_since',
        auth: { secret: 'esync/prod/crm-token' },
        key: ['id'],
        cursor: ['updated_at'],
      },
    },
  },
  {
    kind: 'source',
    type: 'dynamodb',
    summary: 'Reads a whole DynamoDB table with parallel scan segments (one partition each).',
    fields: ownFields(dynamodbSourceConfigSchema, 'source'),
    example: { source: { type: 'dynamodb', table: 'legacy-customers', segments: 8, key: ['customerId'] } },
  },
  {
    kind: 'source',
    type: 'webhook',
    summary:
      'Changes pushed to `POST /webhooks/<pipeline>` (see `triggers.webhook`); a batch run has nothing to read.',
    fields: ownFields(webhookSourceConfigSchema, 'source'),
    example: {
      source: { type: 'webhook', mapping: 'json', key: ['id'] },
      triggers: { webhook: { signature: 'standard-webhooks', secret: 'esync/prod/crm-webhook' } },
    },
  },
  {
    kind: 'source',
    type: 'cdc',
    summary: 'Change events arriving on the ESync event bus (see triggers.cdc and the CDC formats below).',
    fields: ownFields(cdcSourceConfigSchema, 'source'),
    example: cdcExample('debezium', ['id'], { source: ['esync.cdc'], 'detail-type': ['customers.change'] }),
  },
  {
    kind: 'source',
    type: 'kafka',
    summary:
      "Plain records on Kafka topics (see `triggers.kafka`: Amazon MSK by `clusterArn`, or a self-managed cluster by `bootstrapServers` with SASL/SCRAM or mTLS credentials from Secrets Manager, from the pipeline's VPC when it has one). A JSON value is one record or an array of them; an Avro or Protobuf value (`format`, `schema`, `messageType`) is one record, decoded by Powertools' Kafka utility from its plain binary encoding (a value framed by a Confluent registry serializer decodes where `triggers.kafka.schemaRegistry` names the registry: the event source checks each value against it and hands it on without the framing, and a Protobuf value's remaining message indexes are skipped; the AWS Glue Schema Registry is not supported yet), 64-bit integers kept exact, Avro decimals, timestamps and dates in their canonical forms, bytes as base64. Each record is mapped as a JSON webhook body is: the key from `source.key`, the version from `source.cursor` (an entity timestamp joins the version order every channel shares), or, without a cursor, the Kafka record's timestamp with topic, partition and offset as tie-break (`esync validate` warns that it cannot be ordered with other channels). Numbers keep their literals. Each Kafka record is loaded once (ledger key `kafka-<topic>:<partition>:<offset>`); one that cannot be decoded or mapped is quarantined with the reason, alone; a null value (a compacted topic's tombstone) is counted as `ignored: tombstone` and changes nothing. A batch run has nothing to read.",
    fields: ownFields(kafkaSourceConfigSchema, 'source'),
    example: {
      source: { type: 'kafka', format: 'json', key: ['id'], cursor: ['updated_at'] },
      triggers: {
        kafka: {
          bootstrapServers: ['broker-1.kafka.example.com:9096', 'broker-2.kafka.example.com:9096'],
          authentication: { method: 'sasl-scram-512', secret: 'esync/prod/kafka-orders' },
          topics: ['orders'],
        },
      },
    },
  },
  {
    kind: 'source',
    type: 'custom',
    summary:
      'A source of your own, registered in code by an extension module (`defineSource` in `extensions/*.ts`; README, Extending ESync): `connector` names it, `options` are checked by the schema it registers. It implements the interface the built-in sources do; the key, cursor and deletes fields apply as for them. esync validate, synth and the local stack refuse a connector no extension registers, listing those that are.',
    fields: ownFields(customSourceConfigSchema, 'source'),
    example: {
      source: {
        type: 'custom',
        connector: 'jsonl-url',
        options: { url: 'https://data.example.com/orders.jsonl' },
        key: ['order_id'],
        cursor: ['updated_at'],
      },
    },
  },
];

const TARGETS: readonly ConnectorDoc[] = [
  {
    kind: 'target',
    type: 'dynamodb',
    summary:
      'Writes items to a DynamoDB table with a version-gated write per key, so an older version never overwrites a newer one: with target.batchInserts, keys expected absent are inserted 25 per request, pooled across the messages of one Load invocation (PartiQL INSERT), the rest are conditional puts.',
    fields: ownFields(dynamodbTargetConfigSchema, 'target'),
    example: { target: { type: 'dynamodb' } },
  },
  {
    kind: 'target',
    type: 's3',
    summary: 'Writes partitioned JSON Lines (a data lake) under deterministic keys, plus a change archive.',
    fields: ownFields(s3TargetConfigSchema, 'target'),
    example: { target: { type: 's3', prefix: 'lake/' } },
  },
  {
    kind: 'target',
    type: 'postgres',
    summary:
      'Upserts rows into a PostgreSQL table; the update applies only when the stored version is older.',
    fields: ownFields(postgresTargetConfigSchema, 'target'),
    example: {
      target: {
        type: 'postgres',
        connection: { secret: 'esync/prod/warehouse-db', ssl: 'verify-full' },
        table: 'customers',
        mode: 'jsonb',
      },
    },
  },
  {
    kind: 'target',
    type: 'http',
    summary:
      'PUTs each record to (and DELETEs it from) an HTTP API, with an Idempotency-Key header per change.',
    fields: ownFields(httpTargetConfigSchema, 'target'),
    example: {
      target: {
        type: 'http',
        url: 'https://api.example.com/customers/{key}',
        auth: { secret: 'esync/prod/crm-token' },
      },
    },
  },
  {
    kind: 'target',
    type: 'custom',
    summary:
      'A target of your own, registered in code by an extension module (`defineTarget` in `extensions/*.ts`; README, Extending ESync): `connector` names it, `options` are checked by the schema it registers. It implements the interface the built-in targets do: a version-gated write with one outcome per record, the state reads of the version gate, and the snapshot Verify compares. esync validate, synth and the local stack refuse a connector no extension registers, listing those that are.',
    fields: ownFields(customTargetConfigSchema, 'target'),
    example: {
      target: { type: 'custom', connector: 'orders-api', options: { baseUrl: 'https://orders.example.com' } },
    },
  },
];

const WEBHOOK_PATH = ['triggers', 'webhook'] as const;

const WEBHOOK_ADAPTERS: readonly ConnectorDoc[] = [
  {
    kind: 'webhook',
    type: 'github',
    summary:
      'GitHub webhooks: `X-Hub-Signature-256` holds `sha256=` and the hex HMAC-SHA256 of the raw body under the webhook secret; `X-GitHub-Delivery` identifies the delivery. With `source.mapping: github`, `issues`, `issue_comment` and `push` events become records, requiring only the fields the key and version need (`id`, `updated_at`): an `issues` payload that carries part of the issue (`pinned`, `unpinned` carry no `state`) is a partial update, whose missing fields keep their stored values; a signed delivery of any other event type (`ping`, `pull_request`, ...) is answered 202 with `{"deliveryId", "accepted": 0, "ignored": "<event>", "reason"}`, queues nothing, is logged (`webhook ignored`) and counted in the `WebhookIgnored` metric (accepted deliveries count in `WebhookDeliveries`).',
    fields: pipelineFields(WEBHOOK_PATH, ['signature', 'secret', 'maxBodyBytes']),
    example: {
      source: { type: 'webhook', mapping: 'github', key: ['kind', 'id'] },
      triggers: { webhook: { signature: 'github', secret: 'esync/prod/github-webhook' } },
    },
  },
  {
    kind: 'webhook',
    type: 'standard-webhooks',
    summary:
      'Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`); the secret is the `whsec_` base64 key. Timestamps outside the tolerance are refused.',
    fields: pipelineFields(WEBHOOK_PATH, ['signature', 'secret', 'toleranceSeconds', 'maxBodyBytes']),
    example: {
      source: { type: 'webhook', mapping: 'json', key: ['id'] },
      triggers: { webhook: { signature: 'standard-webhooks', secret: 'esync/prod/billing-webhook' } },
    },
  },
  {
    kind: 'webhook',
    type: 'hmac',
    summary:
      'Generic HMAC: a header holds the hex HMAC of the raw body, or of `<timestamp>.<body>` when a timestamp header is named (then checked against the tolerance).',
    fields: pipelineFields(WEBHOOK_PATH, [
      'signature',
      'secret',
      'header',
      'algorithm',
      'timestampHeader',
      'toleranceSeconds',
      'maxBodyBytes',
    ]),
    example: {
      source: { type: 'webhook', mapping: 'json', key: ['id'] },
      triggers: {
        webhook: {
          signature: 'hmac',
          secret: 'esync/prod/shop-webhook',
          header: 'x-shop-signature',
          timestampHeader: 'x-shop-timestamp',
        },
      },
    },
  },
];

const CDC_FIELDS = [
  ...ownFields(cdcSourceConfigSchema, 'source'),
  ...pipelineFields(['triggers', 'cdc'], ['pattern']),
];

const CDC_ADAPTERS: readonly ConnectorDoc[] = [
  {
    kind: 'cdc',
    type: 'debezium',
    summary:
      "Debezium-style envelope `{before, after, op: c|u|d|r, source: {lsn or pos, ts_ms, ...}, ts_ms}` as the event detail (from Debezium Server, EventBridge Pipes, Kafka/MSK). `op: d` is a delete; the source position orders changes, so a late event never overwrites a newer one. Values are decoded by the JSON converter's schema (or `source.debezium.fields`); unavailable (TOAST) fields keep the stored value; tombstones, heartbeats and transaction events are counted and ignored; truncates follow `source.truncate`; flattened `ExtractNewRecordState` records are accepted. Connector settings to use: [debezium.md](debezium.md).",
    fields: CDC_FIELDS,
    example: cdcExample('debezium', ['sku'], { source: ['esync.cdc'], 'detail-type': ['inventory.change'] }),
  },
  {
    kind: 'cdc',
    type: 'esync',
    summary:
      'ESync’s own `esync.change` event, for producers you write: the detail is one change (key, op upsert or delete, version, data).',
    fields: CDC_FIELDS,
    example: cdcExample('esync', ['id'], { source: ['accounts-service'], 'detail-type': ['esync.change'] }),
  },
];

/** Every source, target, webhook signature adapter and CDC format, in documentation order. */
export const CONNECTOR_CATALOG: readonly ConnectorDoc[] = [
  ...SOURCES,
  ...TARGETS,
  ...WEBHOOK_ADAPTERS,
  ...CDC_ADAPTERS,
];

/**
 * A connector's example as YAML: short lists of scalars in flow style (`key: [id]`), the way
 * pipeline files write them.
 */
export function exampleYaml(example: Readonly<Record<string, unknown>>): string {
  const doc = new Document(example);
  visit(doc, {
    Seq(_, seq) {
      if (isSeq(seq) && seq.items.every((item) => !(item && typeof item === 'object' && 'items' in item)))
        seq.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

const SECTIONS: readonly { kind: ConnectorKind; title: string; intro: string }[] = [
  {
    kind: 'source',
    title: 'Sources',
    intro:
      'Chosen by `source.type`. Besides the fields below, every source takes `key`, `cursor`, `lookbackSeconds` and `deletes` (see [the pipeline reference](pipeline-reference.md#source)).',
  },
  {
    kind: 'target',
    title: 'Targets',
    intro: 'Chosen by `target.type`. Every write is idempotent and version-gated.',
  },
  {
    kind: 'webhook',
    title: 'Webhook signature adapters',
    intro:
      'Chosen by `triggers.webhook.signature`. A delivery with a bad signature is refused with 401 before anything is parsed.',
  },
  {
    kind: 'cdc',
    title: 'CDC formats',
    intro:
      'Chosen by `source.format` of a `cdc` source. `triggers.cdc.pattern` is the EventBridge event pattern that routes events from the ESync bus to the pipeline.',
  },
];

function headingOf(entry: ConnectorDoc): string {
  return `### \`${entry.type}\` ${entry.kind === 'webhook' ? 'signature' : entry.kind === 'cdc' ? 'format' : entry.kind}`;
}

/** docs/connectors.md, generated from the connector schemas and {@link CONNECTOR_CATALOG}. */
export function renderConnectorsReference(catalog: readonly ConnectorDoc[] = CONNECTOR_CATALOG): string {
  const parts = [
    '# Connectors',
    '<!-- Generated by scripts/gen-docs.ts from shared/connectors. Do not edit: run `npm run docs`. -->',
    'What a pipeline can read from, write to, and accept pushed changes through. `esync connectors` prints the same catalog (`--json` for scripts).',
  ];
  for (const section of SECTIONS) {
    const entries = catalog.filter((entry) => entry.kind === section.kind);
    parts.push(`## ${section.title}`, section.intro);
    for (const entry of entries) {
      parts.push(headingOf(entry), escapeMarkdown(entry.summary));
      if (entry.fields.length > 0) parts.push(fieldTable(entry.fields));
      else parts.push('No fields besides `type`.');
      parts.push(`Example:\n\n\`\`\`yaml\n${exampleYaml(entry.example)}\`\`\``);
    }
  }
  return `${parts.join('\n\n')}\n`;
}
