import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../shared/errors.ts';
import type { CatalogMode } from '../shared/pipeline/catalog-source.ts';
import { PIPELINE_PARAMETERS_ENV } from '../shared/pipeline/catalog-source.ts';
import type { Pipeline } from '../shared/pipeline/schema.ts';
import { FUNCTION_NAMES, type FunctionName } from '../shared/usecases/contracts.ts';

/** The parts of a CloudFormation template the local stack reads. */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Parameters?: Record<string, { Default?: unknown }>;
  readonly Outputs?: Record<string, { Value: unknown }>;
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

/** Where the template's resources live locally: what `Ref`, `Fn::GetAtt` and pseudo parameters become. */
export interface LocalPlacement {
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  /** Local queue URL up to the name, e.g. `http://127.0.0.1:4566/000000000000/`. */
  readonly queueUrlPrefix: string;
}

export interface QueueSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly fifo: boolean;
  readonly visibilityTimeoutSeconds?: number;
  readonly messageRetentionSeconds?: number;
  readonly delaySeconds?: number;
  readonly contentBasedDeduplication?: boolean;
  readonly redrive?: { readonly deadLetterQueueName: string; readonly maxReceiveCount: number };
}

export interface KeyElement {
  readonly AttributeName: string;
  readonly KeyType: 'HASH' | 'RANGE';
}

export interface TableSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly keySchema: readonly KeyElement[];
  readonly attributeDefinitions: ReadonlyArray<{ AttributeName: string; AttributeType: 'S' | 'N' | 'B' }>;
  readonly globalSecondaryIndexes: ReadonlyArray<{
    IndexName: string;
    KeySchema: KeyElement[];
    Projection: { ProjectionType?: string; NonKeyAttributes?: string[] };
  }>;
  readonly localSecondaryIndexes: TableSpec['globalSecondaryIndexes'];
  readonly ttlAttribute?: string;
}

export interface FunctionSpec {
  readonly logicalId: string;
  /** Deployed name, e.g. `esync-dev-core-load-fn`. */
  readonly functionName: string;
  /** Folder under functions/ with the handler module. */
  readonly folder: FunctionName;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The environment the function is deployed with, intrinsics resolved to local values. */
  readonly environment: Record<string, string>;
}

export interface StateMachineSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The ASL definition with every token resolved (function ARNs point at local functions). */
  readonly definition: string;
  readonly type: 'STANDARD' | 'EXPRESS';
}

export type RuleTarget =
  | { readonly kind: 'sqs'; readonly queueName: string; readonly deadLetterQueueName?: string }
  | { readonly kind: 'stateMachine'; readonly stateMachineName: string; readonly input?: string }
  | { readonly kind: 'lambda'; readonly functionName: string; readonly deadLetterQueueName?: string }
  | { readonly kind: 'other'; readonly arn: string };

export interface EventRuleSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly eventBusName: string;
  readonly pattern: Record<string, unknown>;
  readonly enabled: boolean;
  readonly targets: readonly RuleTarget[];
}

export interface ScheduleSpec {
  readonly logicalId: string;
  readonly name: string;
  /** `rate(...)`, `cron(...)` or `at(...)`. */
  readonly expression: string;
  readonly timezone?: string;
  readonly enabled: boolean;
  readonly stateMachineName: string;
  readonly input?: string;
}

export interface EventSourceMappingSpec {
  readonly logicalId: string;
  readonly queueName: string;
  readonly functionFolder: FunctionName;
  readonly functionName: string;
  /** @default 10 (the SQS default) */
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly maximumConcurrency?: number;
  readonly reportBatchItemFailures: boolean;
  readonly enabled: boolean;
}

export interface AlarmSpec {
  readonly name: string;
  readonly description?: string;
  /** ARNs its alarm actions notify (topics of the template and others). */
  readonly alarmActions: readonly string[];
}

/** A function subscribed to a topic of the template (protocol `lambda`). */
export interface TopicFunctionSubscriptionSpec {
  readonly topicArn: string;
  readonly functionName: string;
  /** The `AlarmName` values its message-body filter passes. @default - every message */
  readonly alarmNames?: readonly string[];
  /** Lambda's retries of a failed asynchronous invocation (the function's EventInvokeConfig). @default 2 */
  readonly retryAttempts?: number;
  /** The queue an invocation that failed every attempt goes to (its on-failure destination). */
  readonly deadLetterQueueName?: string;
}

export interface HttpRouteSpec {
  readonly method: string;
  /** e.g. `/webhooks/{pipeline}`; `$default` for the catch-all route. */
  readonly path: string;
  readonly functionFolder: FunctionName;
  readonly functionName: string;
  /** Whether the route requires SigV4 (`AWS_IAM` authorization). */
  readonly iam: boolean;
}

/** A String parameter of Systems Manager's Parameter Store (a pipeline's published definition). */
export interface ParameterSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly value: string;
}

/** Everything of a stack that the local stack creates, runs or routes, by kind. */
export interface LocalResources {
  readonly stackName: string;
  readonly queues: readonly QueueSpec[];
  readonly tables: readonly TableSpec[];
  readonly buckets: ReadonlyArray<{ readonly logicalId: string; readonly name: string }>;
  readonly eventBuses: ReadonlyArray<{ readonly logicalId: string; readonly name: string }>;
  readonly secrets: ReadonlyArray<{ readonly logicalId: string; readonly name: string }>;
  readonly parameters: readonly ParameterSpec[];
  readonly functions: readonly FunctionSpec[];
  readonly stateMachines: readonly StateMachineSpec[];
  readonly eventRules: readonly EventRuleSpec[];
  readonly schedules: readonly ScheduleSpec[];
  readonly eventSourceMappings: readonly EventSourceMappingSpec[];
  readonly httpRoutes: readonly HttpRouteSpec[];
  readonly alarms: readonly AlarmSpec[];
  readonly topicSubscriptions: readonly TopicFunctionSubscriptionSpec[];
  /** Stack outputs, resolved. */
  readonly outputs: Record<string, string>;
}

const PHYSICAL_NAME_PROPERTY: Record<string, string> = {
  'AWS::SQS::Queue': 'QueueName',
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::DynamoDB::GlobalTable': 'TableName',
  'AWS::S3::Bucket': 'BucketName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::StepFunctions::StateMachine': 'StateMachineName',
  'AWS::Events::EventBus': 'Name',
  'AWS::Events::Rule': 'Name',
  'AWS::Scheduler::Schedule': 'Name',
  'AWS::SecretsManager::Secret': 'Name',
  'AWS::IAM::Role': 'RoleName',
  'AWS::ApiGatewayV2::Api': 'Name',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::SSM::Parameter': 'Name',
};

/** Removed from the object or array holding it, as CloudFormation does with `AWS::NoValue`. */
const NO_VALUE = Symbol('AWS::NoValue');

/**
 * Resolves the intrinsic functions CDK emits (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select,
 * Fn::Split, pseudo parameters) to what the resources are called locally: queue URLs on the local
 * SQS server, ARNs in the local account and region.
 */
export class IntrinsicResolver {
  readonly #template: CfnTemplate;
  readonly #placement: LocalPlacement;
  readonly #names = new Map<string, string>();
  readonly #resolving = new Set<string>();

  constructor(template: CfnTemplate, placement: LocalPlacement) {
    this.#template = template;
    this.#placement = placement;
  }

  #resource(logicalId: string): CfnResource {
    const resource = this.#template.Resources[logicalId];
    if (!resource)
      throw new ConfigError(`the template refers to ${logicalId}, which is not one of its resources`);
    return resource;
  }

  /** The resource's name: its name property when set, else the name CloudFormation would generate. */
  physicalName(logicalId: string): string {
    const cached = this.#names.get(logicalId);
    if (cached !== undefined) return cached;
    if (this.#resolving.has(logicalId)) throw new ConfigError(`the name of ${logicalId} refers to itself`);
    this.#resolving.add(logicalId);
    try {
      const resource = this.#resource(logicalId);
      const property = PHYSICAL_NAME_PROPERTY[resource.Type];
      const given = property ? resource.Properties?.[property] : undefined;
      let name: string;
      if (given !== undefined) name = String(this.resolve(given));
      else {
        name = `${this.#placement.stackName}-${logicalId}`;
        if (resource.Type === 'AWS::S3::Bucket') name = name.toLowerCase().slice(0, 63);
        if (resource.Type === 'AWS::SQS::Queue' && resource.Properties?.FifoQueue === true)
          name = `${name.slice(0, 75)}.fifo`;
        name = name.slice(0, 80);
      }
      this.#names.set(logicalId, name);
      return name;
    } finally {
      this.#resolving.delete(logicalId);
    }
  }

  arn(logicalId: string): string {
    const { region, accountId } = this.#placement;
    const resource = this.#resource(logicalId);
    const name = this.physicalName(logicalId);
    switch (resource.Type) {
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${region}:${accountId}:${name}`;
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable':
        return `arn:aws:dynamodb:${region}:${accountId}:table/${name}`;
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${name}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${region}:${accountId}:function:${name}`;
      case 'AWS::StepFunctions::StateMachine':
        return `arn:aws:states:${region}:${accountId}:stateMachine:${name}`;
      case 'AWS::Events::EventBus':
        return `arn:aws:events:${region}:${accountId}:event-bus/${name}`;
      case 'AWS::Events::Rule':
        return `arn:aws:events:${region}:${accountId}:rule/${name}`;
      case 'AWS::SecretsManager::Secret':
        return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${accountId}:role/${name}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${region}:${accountId}:key/${logicalId}`;
      case 'AWS::SSM::Parameter':
        return `arn:aws:ssm:${region}:${accountId}:parameter/${name.replace(/^\//, '')}`;
      default:
        return `arn:aws:${resource.Type.split('::')[1]?.toLowerCase() ?? 'unknown'}:${region}:${accountId}:${name}`;
    }
  }

  ref(name: string): unknown {
    const { region, accountId, stackName } = this.#placement;
    switch (name) {
      case 'AWS::Region':
        return region;
      case 'AWS::AccountId':
        return accountId;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return stackName;
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${region}:${accountId}:stack/${stackName}/local`;
      case 'AWS::NoValue':
        return NO_VALUE;
      default:
        break;
    }
    const parameter = this.#template.Parameters?.[name];
    if (parameter) return parameter.Default ?? '';
    const resource = this.#resource(name);
    switch (resource.Type) {
      case 'AWS::SQS::Queue':
        return this.#placement.queueUrlPrefix + this.physicalName(name);
      case 'AWS::StepFunctions::StateMachine':
      case 'AWS::SecretsManager::Secret':
      case 'AWS::KMS::Key':
      case 'AWS::SNS::Topic':
        return this.arn(name);
      case 'AWS::ApiGatewayV2::Api':
      case 'AWS::ApiGatewayV2::Integration':
      case 'AWS::ApiGatewayV2::Stage':
        return name;
      default:
        return PHYSICAL_NAME_PROPERTY[resource.Type] ? this.physicalName(name) : name;
    }
  }

  getAtt(logicalId: string, attribute: string): unknown {
    const resource = this.#resource(logicalId);
    if (attribute === 'Arn') return this.arn(logicalId);
    switch (`${resource.Type}.${attribute}`) {
      case 'AWS::SQS::Queue.QueueName':
      case 'AWS::StepFunctions::StateMachine.Name':
      case 'AWS::Events::EventBus.Name':
        return this.physicalName(logicalId);
      case 'AWS::SQS::Queue.QueueUrl':
        return this.#placement.queueUrlPrefix + this.physicalName(logicalId);
      case 'AWS::DynamoDB::Table.StreamArn':
      case 'AWS::DynamoDB::GlobalTable.StreamArn':
        return `${this.arn(logicalId)}/stream/local`;
      case 'AWS::S3::Bucket.DomainName':
      case 'AWS::S3::Bucket.RegionalDomainName':
        return `${this.physicalName(logicalId)}.s3.amazonaws.com`;
      case 'AWS::ApiGatewayV2::Api.ApiEndpoint':
        return `https://${logicalId}.execute-api.${this.#placement.region}.amazonaws.com`;
      default:
        return `${logicalId}.${attribute}`;
    }
  }

  /** Resolves every intrinsic function inside a value. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v)).filter((v) => v !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    if (entries.length === 1) {
      const [[fn, arg]] = entries as [[string, unknown]];
      switch (fn) {
        case 'Ref':
          return this.ref(String(arg));
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
          return this.getAtt(String(id), String(attribute));
        }
        case 'Fn::Join': {
          const [separator, parts] = arg as [string, unknown[]];
          const resolved = this.resolve(parts);
          if (!Array.isArray(resolved)) throw new ConfigError('Fn::Join needs a list');
          return resolved.map(String).join(separator);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          const resolved = this.resolve(list);
          if (!Array.isArray(resolved)) throw new ConfigError('Fn::Select needs a list');
          return resolved[Number(this.resolve(index))];
        }
        case 'Fn::Split': {
          const [separator, text] = arg as [string, unknown];
          return String(this.resolve(text)).split(separator);
        }
        case 'Fn::Sub':
          return this.#sub(arg);
        case 'Fn::Base64':
          return Buffer.from(String(this.resolve(arg))).toString('base64');
        case 'Fn::ImportValue':
        case 'Fn::If':
        case 'Fn::FindInMap':
        case 'Fn::GetAZs':
          throw new ConfigError(
            `${fn} cannot be resolved by the local stack (used in ${JSON.stringify(value).slice(0, 200)})`,
          );
        default:
          break;
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, v] of entries) {
      const resolved = this.resolve(v);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  #sub(arg: unknown): string {
    const [text, variables] = Array.isArray(arg)
      ? (arg as [string, Record<string, unknown>])
      : [String(arg), {}];
    return text.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
      if (name in variables) return String(this.resolve(variables[name]));
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::'))
        return String(this.getAtt(name.slice(0, dot), name.slice(dot + 1)));
      return String(this.ref(name));
    });
  }
}

function num(value: unknown, fallback: number): number;
function num(value: unknown): number | undefined;
function num(value: unknown, fallback?: number): number | undefined {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

/** The logical id an ARN-valued intrinsic points at (`Fn::GetAtt [X, Arn]` or `Ref X`), if any. */
function referencedId(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return v.Ref;
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return String(getAtt[0]);
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}

/**
 * Which functions/ folder a Lambda function runs: the `ESYNC_FUNCTION` environment variable (set
 * by the house function construct), else an `esync:function` tag, else the function-name suffix.
 */
function functionFolder(logicalId: string, resource: CfnResource, functionName: string): FunctionName {
  const props = resource.Properties ?? {};
  const env = (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  const tags = (props.Tags as Array<{ Key: string; Value: unknown }> | undefined) ?? [];
  const candidates = [
    env.ESYNC_FUNCTION,
    tags.find((t) => t.Key === 'esync:function' || t.Key === 'ESYNC_FUNCTION')?.Value,
  ];
  for (const candidate of candidates)
    if (typeof candidate === 'string' && (FUNCTION_NAMES as readonly string[]).includes(candidate))
      return candidate as FunctionName;
  const bySuffix = [...FUNCTION_NAMES]
    .sort((a, b) => b.length - a.length)
    .find((name) => functionName.endsWith(`-${name}`) || functionName.endsWith(`-${name}-fn`));
  if (bySuffix) return bySuffix;
  throw new ConfigError(
    `cannot tell which functions/ folder Lambda function ${logicalId} (${functionName}) runs: ` +
      `set its ESYNC_FUNCTION environment variable to one of ${FUNCTION_NAMES.join(', ')}`,
  );
}

/**
 * Reads what the local stack needs from a synthesized template: queues with their redrive
 * policies, tables with keys, GSIs and TTL, buckets, buses and rules, secrets, functions, state
 * machines (definitions resolved), schedules, SQS event source mappings and HTTP API routes.
 */
export function extractLocalResources(template: CfnTemplate, placement: LocalPlacement): LocalResources {
  if (!template || typeof template.Resources !== 'object')
    throw new ConfigError('the template has no Resources section');
  const reading = new TemplateReading(template, placement);
  const functions = readFunctions(reading);
  const queues = readQueues(reading);
  const tables = readTables(reading);
  const stateMachines = readStateMachines(reading);
  const refs = new References(reading, functions, queues, stateMachines);
  const named = (...types: string[]) =>
    reading.ofType(...types).map(([id]) => ({ logicalId: id, name: reading.r.physicalName(id) }));
  return {
    stackName: placement.stackName,
    queues,
    tables,
    buckets: named('AWS::S3::Bucket'),
    eventBuses: named('AWS::Events::EventBus'),
    secrets: named('AWS::SecretsManager::Secret'),
    parameters: readParameters(reading),
    functions,
    stateMachines,
    eventRules: readEventRules(reading, refs),
    schedules: readSchedules(reading, refs),
    eventSourceMappings: readEventSourceMappings(reading, refs),
    httpRoutes: readHttpRoutes(reading, refs),
    alarms: readAlarms(reading),
    topicSubscriptions: readTopicSubscriptions(reading, refs),
    outputs: readOutputs(reading),
  };
}

/** A template being read, with its resolver. */
class TemplateReading {
  readonly template: CfnTemplate;
  readonly r: IntrinsicResolver;
  readonly #entries: Array<[string, CfnResource]>;

  constructor(template: CfnTemplate, placement: LocalPlacement) {
    this.template = template;
    this.r = new IntrinsicResolver(template, placement);
    this.#entries = Object.entries(template.Resources);
  }

  /** The resources of these types, with their logical ids, in template order. */
  ofType(...types: string[]): Array<[string, CfnResource]> {
    return this.#entries.filter(([, res]) => types.includes(res.Type));
  }
}

const props = (res: CfnResource) => res.Properties ?? {};

/** Finds the functions, queues and state machines that other resources refer to, by Ref, GetAtt or ARN. */
class References {
  readonly #reading: TemplateReading;
  readonly #functionById: Map<string, FunctionSpec>;
  readonly #functionByArn: Map<string, FunctionSpec>;
  readonly #queueNameByArn: Map<string, string>;
  readonly #stateMachineNameByArn: Map<string, string>;

  constructor(
    reading: TemplateReading,
    functions: readonly FunctionSpec[],
    queues: readonly QueueSpec[],
    stateMachines: readonly StateMachineSpec[],
  ) {
    const { r } = reading;
    this.#reading = reading;
    this.#functionById = new Map(functions.map((f) => [f.logicalId, f]));
    this.#functionByArn = new Map(functions.map((f) => [r.arn(f.logicalId), f]));
    this.#queueNameByArn = new Map(queues.map((q) => [r.arn(q.logicalId), q.name]));
    this.#stateMachineNameByArn = new Map(stateMachines.map((sm) => [sm.arn, sm.name]));
  }

  function(value: unknown): FunctionSpec | undefined {
    const id = referencedId(value);
    return id ? this.#functionById.get(id) : this.#functionByArn.get(String(this.#reading.r.resolve(value)));
  }

  requireFunction(value: unknown, where: string): FunctionSpec {
    const fn = this.function(value);
    if (!fn)
      throw new ConfigError(
        `${where} refers to a function that is not in the template: ${JSON.stringify(value)}`,
      );
    return fn;
  }

  queueName(value: unknown): string | undefined {
    return this.#named(value, 'AWS::SQS::Queue') ?? this.#queueNameByArn.get(this.#arn(value));
  }

  stateMachineName(value: unknown): string | undefined {
    return (
      this.#named(value, 'AWS::StepFunctions::StateMachine') ??
      this.#stateMachineNameByArn.get(this.#arn(value))
    );
  }

  #named(value: unknown, type: string): string | undefined {
    const id = referencedId(value);
    const { template, r } = this.#reading;
    return id && template.Resources[id]?.Type === type ? r.physicalName(id) : undefined;
  }

  #arn(value: unknown): string {
    return String(this.#reading.r.resolve(value));
  }
}

function readFunctions(reading: TemplateReading): FunctionSpec[] {
  const { r } = reading;
  return reading.ofType('AWS::Lambda::Function').map(([id, res]) => {
    const functionName = r.physicalName(id);
    const env = r.resolve(
      (props(res).Environment as { Variables?: unknown } | undefined)?.Variables ?? {},
    ) as Record<string, unknown>;
    return {
      logicalId: id,
      functionName,
      folder: functionFolder(id, res, functionName),
      timeoutSeconds: num(props(res).Timeout, 3),
      memoryMb: num(props(res).MemorySize, 128),
      environment: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
    };
  });
}

/** The Parameter Store parameters, values resolved (the local Parameter Store holds String parameters only). */
function readParameters(reading: TemplateReading): ParameterSpec[] {
  const { r } = reading;
  return reading.ofType('AWS::SSM::Parameter').map(([id, res]) => {
    const type = String(props(res).Type ?? 'String');
    if (type !== 'String')
      throw new ConfigError(
        `SSM parameter ${id} is of type ${type}; the local Parameter Store holds String parameters only`,
      );
    return { logicalId: id, name: r.physicalName(id), value: String(r.resolve(props(res).Value)) };
  });
}

function readQueues(reading: TemplateReading): QueueSpec[] {
  const { r } = reading;
  return reading.ofType('AWS::SQS::Queue').map(([id, res]) => {
    const p = props(res);
    const redrive = (typeof p.RedrivePolicy === 'string' ? JSON.parse(p.RedrivePolicy) : p.RedrivePolicy) as
      | { deadLetterTargetArn: unknown; maxReceiveCount: unknown }
      | undefined;
    const dlqId = redrive && referencedId(redrive.deadLetterTargetArn);
    const dlqName = redrive
      ? dlqId
        ? r.physicalName(dlqId)
        : String(r.resolve(redrive.deadLetterTargetArn)).split(':').pop()
      : undefined;
    const visibility = num(p.VisibilityTimeout);
    const retention = num(p.MessageRetentionPeriod);
    const delay = num(p.DelaySeconds);
    return {
      logicalId: id,
      name: r.physicalName(id),
      fifo: p.FifoQueue === true || p.FifoQueue === 'true',
      ...(visibility !== undefined && { visibilityTimeoutSeconds: visibility }),
      ...(retention !== undefined && { messageRetentionSeconds: retention }),
      ...(delay !== undefined && { delaySeconds: delay }),
      ...(p.ContentBasedDeduplication !== undefined && {
        contentBasedDeduplication:
          p.ContentBasedDeduplication === true || p.ContentBasedDeduplication === 'true',
      }),
      ...(redrive &&
        dlqName && {
          redrive: { deadLetterQueueName: dlqName, maxReceiveCount: num(redrive.maxReceiveCount, 10) },
        }),
    };
  });
}

/** A table's global or local secondary indexes; an index without a projection projects all. */
function indexSpecs(indexes: unknown): TableSpec['globalSecondaryIndexes'] {
  return ((indexes as TableSpec['globalSecondaryIndexes'] | undefined) ?? []).map((index) => ({
    IndexName: index.IndexName,
    KeySchema: index.KeySchema,
    Projection: index.Projection ?? { ProjectionType: 'ALL' },
  }));
}

function readTables(reading: TemplateReading): TableSpec[] {
  const { r } = reading;
  return reading.ofType('AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable').map(([id, res]) => {
    const p = r.resolve(props(res)) as Record<string, unknown>;
    const ttl = p.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
    return {
      logicalId: id,
      name: r.physicalName(id),
      keySchema: (p.KeySchema as KeyElement[] | undefined) ?? [],
      attributeDefinitions: (p.AttributeDefinitions as TableSpec['attributeDefinitions'] | undefined) ?? [],
      globalSecondaryIndexes: indexSpecs(p.GlobalSecondaryIndexes),
      localSecondaryIndexes: indexSpecs(p.LocalSecondaryIndexes),
      ...(ttl?.Enabled !== false && ttl?.AttributeName && { ttlAttribute: ttl.AttributeName }),
    };
  });
}

function readStateMachines(reading: TemplateReading): StateMachineSpec[] {
  const { r } = reading;
  return reading.ofType('AWS::StepFunctions::StateMachine').map(([id, res]) => {
    const p = props(res);
    let definition: string;
    if (p.DefinitionString !== undefined) definition = String(r.resolve(p.DefinitionString));
    else if (p.Definition !== undefined) definition = JSON.stringify(r.resolve(p.Definition));
    else
      throw new ConfigError(
        `state machine ${id} has neither DefinitionString nor Definition (S3 locations are not supported)`,
      );
    const substitutions = r.resolve(p.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(substitutions))
      definition = definition.replaceAll(`\${${key}}`, String(value));
    return {
      logicalId: id,
      name: r.physicalName(id),
      arn: r.arn(id),
      definition,
      type: p.StateMachineType === 'EXPRESS' ? 'EXPRESS' : 'STANDARD',
    };
  });
}

/** Rules with an event pattern (a rule with a schedule is read by {@link readSchedules}). */
function readEventRules(reading: TemplateReading, refs: References): EventRuleSpec[] {
  const { r } = reading;
  const rules: EventRuleSpec[] = [];
  for (const [id, res] of reading.ofType('AWS::Events::Rule')) {
    const p = props(res);
    if (p.ScheduleExpression !== undefined || p.EventPattern === undefined) continue;
    const pattern = (
      typeof p.EventPattern === 'string' ? JSON.parse(p.EventPattern) : r.resolve(p.EventPattern)
    ) as Record<string, unknown>;
    const targets = (p.Targets as Array<Record<string, unknown>> | undefined) ?? [];
    rules.push({
      logicalId: id,
      name: r.physicalName(id),
      eventBusName: p.EventBusName === undefined ? 'default' : busName(r.resolve(p.EventBusName)),
      pattern,
      enabled: (p.State ?? 'ENABLED') === 'ENABLED',
      targets: targets.map((target) => ruleTarget(target, r, refs)),
    });
  }
  return rules;
}

function ruleTarget(target: Record<string, unknown>, r: IntrinsicResolver, refs: References): RuleTarget {
  const dlq = (target.DeadLetterConfig as { Arn?: unknown } | undefined)?.Arn;
  const dlqName = dlq === undefined ? undefined : refs.queueName(dlq);
  const queue = refs.queueName(target.Arn);
  if (queue) return { kind: 'sqs', queueName: queue, ...(dlqName && { deadLetterQueueName: dlqName }) };
  const fn = refs.function(target.Arn);
  if (fn)
    return {
      kind: 'lambda',
      functionName: fn.functionName,
      ...(dlqName && { deadLetterQueueName: dlqName }),
    };
  const sm = refs.stateMachineName(target.Arn);
  if (sm)
    return {
      kind: 'stateMachine',
      stateMachineName: sm,
      ...(target.Input !== undefined && { input: String(r.resolve(target.Input)) }),
    };
  return { kind: 'other', arn: String(r.resolve(target.Arn)) };
}

/**
 * Schedules that start a state machine: EventBridge rules with a schedule expression (one per
 * state machine target), then EventBridge Scheduler schedules.
 */
function readSchedules(reading: TemplateReading, refs: References): ScheduleSpec[] {
  const { r } = reading;
  const schedules: ScheduleSpec[] = [];
  const sources = [
    ...reading.ofType('AWS::Events::Rule').map(([id, res]) => ({ id, p: props(res), rule: true })),
    ...reading.ofType('AWS::Scheduler::Schedule').map(([id, res]) => ({ id, p: props(res), rule: false })),
  ];
  for (const { id, p, rule } of sources) {
    if (p.ScheduleExpression === undefined) continue;
    const targets = rule
      ? ((p.Targets as Array<Record<string, unknown>> | undefined) ?? [])
      : [(p.Target as Record<string, unknown> | undefined) ?? {}];
    for (const target of targets) {
      const sm = refs.stateMachineName(target.Arn);
      if (!sm) continue;
      schedules.push({
        logicalId: id,
        name: r.physicalName(id),
        expression: String(r.resolve(p.ScheduleExpression)),
        ...(p.ScheduleExpressionTimezone !== undefined && {
          timezone: String(r.resolve(p.ScheduleExpressionTimezone)),
        }),
        enabled: (p.State ?? 'ENABLED') === 'ENABLED',
        stateMachineName: sm,
        ...(target.Input !== undefined && { input: String(r.resolve(target.Input)) }),
      });
    }
  }
  return schedules;
}

/** SQS event source mappings (mappings of other sources are not emulated). */
function readEventSourceMappings(reading: TemplateReading, refs: References): EventSourceMappingSpec[] {
  const mappings: EventSourceMappingSpec[] = [];
  for (const [id, res] of reading.ofType('AWS::Lambda::EventSourceMapping')) {
    const p = props(res);
    const queue = refs.queueName(p.EventSourceArn);
    if (!queue) continue;
    const fn = refs.requireFunction(p.FunctionName, `event source mapping ${id}`);
    const maxConcurrency = num(
      (p.ScalingConfig as { MaximumConcurrency?: unknown } | undefined)?.MaximumConcurrency,
    );
    mappings.push({
      logicalId: id,
      queueName: queue,
      functionFolder: fn.folder,
      functionName: fn.functionName,
      batchSize: num(p.BatchSize, 10),
      maximumBatchingWindowSeconds: num(p.MaximumBatchingWindowInSeconds, 0),
      ...(maxConcurrency !== undefined && { maximumConcurrency: maxConcurrency }),
      reportBatchItemFailures: ((p.FunctionResponseTypes as string[] | undefined) ?? []).includes(
        'ReportBatchItemFailures',
      ),
      enabled: p.Enabled !== false,
    });
  }
  return mappings;
}

/** HTTP API routes whose integration is a Lambda function. */
function readHttpRoutes(reading: TemplateReading, refs: References): HttpRouteSpec[] {
  const { r, template } = reading;
  const routes: HttpRouteSpec[] = [];
  for (const [id, res] of reading.ofType('AWS::ApiGatewayV2::Route')) {
    const p = props(res);
    const routeKey = String(r.resolve(p.RouteKey));
    const targetText = p.Target === undefined ? undefined : String(r.resolve(p.Target));
    const integrationId = targetText?.replace(/^integrations\//, '');
    const integration = integrationId ? template.Resources[integrationId] : undefined;
    if (integration?.Type !== 'AWS::ApiGatewayV2::Integration') continue;
    const fn = refs.requireFunction(integration.Properties?.IntegrationUri, `HTTP route ${id} (${routeKey})`);
    const [method, ...rest] = routeKey === '$default' ? ['ANY', '$default'] : routeKey.split(' ');
    routes.push({
      method: method ?? 'ANY',
      path: rest.join(' '),
      functionFolder: fn.folder,
      functionName: fn.functionName,
      iam: p.AuthorizationType === 'AWS_IAM',
    });
  }
  return routes;
}

/** The CloudWatch alarms, with the ARNs their alarm actions notify. */
function readAlarms(reading: TemplateReading): AlarmSpec[] {
  const { r } = reading;
  return reading.ofType('AWS::CloudWatch::Alarm').map(([id, res]): AlarmSpec => {
    const p = props(res);
    return {
      name: r.physicalName(id),
      ...(p.AlarmDescription !== undefined && { description: String(r.resolve(p.AlarmDescription)) }),
      alarmActions: ((p.AlarmActions as unknown[] | undefined) ?? []).map((a) => String(r.resolve(a))),
    };
  });
}

/** The functions subscribed to topics, with the alarm names their message-body filter passes. */
function readTopicSubscriptions(reading: TemplateReading, refs: References): TopicFunctionSubscriptionSpec[] {
  return reading.ofType('AWS::SNS::Subscription').flatMap(([id, res]): TopicFunctionSubscriptionSpec[] => {
    const p = props(res);
    if (p.Protocol !== 'lambda') return [];
    const filter = reading.r.resolve(p.FilterPolicy ?? {}) as { AlarmName?: unknown };
    const functionName = refs.requireFunction(p.Endpoint, `topic subscription ${id}`).functionName;
    return [
      {
        topicArn: String(reading.r.resolve(p.TopicArn)),
        functionName,
        ...asyncInvokeConfig(reading, refs, functionName),
        ...(p.FilterPolicyScope === 'MessageBody' &&
          Array.isArray(filter.AlarmName) && { alarmNames: filter.AlarmName.map(String) }),
      },
    ];
  });
}

/** A function's retries and on-failure queue for asynchronous invocations, as its EventInvokeConfig sets them. */
function asyncInvokeConfig(
  reading: TemplateReading,
  refs: References,
  functionName: string,
): Pick<TopicFunctionSubscriptionSpec, 'retryAttempts' | 'deadLetterQueueName'> {
  for (const [id, res] of reading.ofType('AWS::Lambda::EventInvokeConfig')) {
    const p = props(res);
    if (refs.requireFunction(p.FunctionName, `event invoke config ${id}`).functionName !== functionName)
      continue;
    const onFailure = (p.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
      ?.OnFailure;
    const queue = onFailure?.Destination === undefined ? undefined : refs.queueName(onFailure.Destination);
    return {
      ...(p.MaximumRetryAttempts !== undefined && { retryAttempts: num(p.MaximumRetryAttempts, 2) }),
      ...(queue && { deadLetterQueueName: queue }),
    };
  }
  return {};
}

/** The template's outputs that resolve locally. */
function readOutputs({ template, r }: TemplateReading): Record<string, string> {
  return Object.fromEntries(
    Object.entries(template.Outputs ?? {}).flatMap(([key, output]) => {
      try {
        return [[key, String(r.resolve(output.Value))]];
      } catch {
        return [];
      }
    }),
  );
}

/** A bus given by name or ARN, as a rule's EventBusName may be. */
function busName(value: unknown): string {
  const text = String(value);
  return text.startsWith('arn:') ? text.slice(text.lastIndexOf('/') + 1) : text;
}

export interface StackTemplateOptions {
  /** The repository root (holds infra/ and cdk.out/). */
  readonly rootDir: string;
  readonly stage: string;
  readonly pipelines: readonly Pipeline[];
  readonly pipelinesDir: string;
  /**
   * Where the shared functions find the pipelines (EsyncStackProps.catalog): baked into them, or
   * read from the SSM parameters each pipeline publishes, as a stage deployed with a stack per
   * pipeline does.
   * @default 'baked'
   */
  readonly catalog?: CatalogMode;
  /**
   * Keep synthesized templates under `<pipelinesDir>/../.esync/cache`, keyed by the stage, the
   * pipelines and the infra sources, so an unchanged app is not synthesized again.
   * @default true
   */
  readonly cache?: boolean;
  /**
   * Use `cdk.out/<stack>.template.json` when `cdk synth` wrote it after every input last changed.
   * @default true
   */
  readonly cdkOut?: boolean;
  readonly log?: (line: string) => void;
}

export interface LoadedTemplate {
  readonly template: CfnTemplate;
  readonly stackName: string;
  /** Where it came from: synthesized now, the cache, or a `cdk synth` output newer than its inputs. */
  readonly source: 'synth' | 'cache' | 'cdk.out' | 'given';
}

function filesUnder(dir: string, skip: (file: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (skip(file)) continue;
    if (entry.isDirectory()) out.push(...filesUnder(file, skip));
    else if (entry.isFile() && /\.(ts|json|ya?ml)$/.test(entry.name)) out.push(file);
  }
  return out.sort();
}

/** The files a synthesized template depends on: the CDK app (not the local stack) and the pipelines. */
function templateInputs(options: StackTemplateOptions): string[] {
  const infra = path.join(options.rootDir, 'infra');
  const local = path.join(infra, 'local');
  return [
    ...filesUnder(infra, (file) => file === local),
    ...filesUnder(options.pipelinesDir, () => false),
    path.join(options.rootDir, 'shared', 'naming.ts'),
    path.join(options.rootDir, 'package-lock.json'),
  ].filter((file) => existsSync(file));
}

/**
 * The CloudFormation template of the stage's stack: from `cdk.out` when `cdk synth` wrote it
 * after every input last changed, from the cache, or synthesized in this process with bundling
 * skipped (the local stack runs the handler sources, not bundles).
 */
export async function loadStackTemplate(options: StackTemplateOptions): Promise<LoadedTemplate> {
  const stackName = stackNameOf(options.stage);
  const catalog = options.catalog ?? 'baked';
  const inputs = templateInputs(options);
  const newestInput = Math.max(0, ...inputs.map((file) => statSync(file).mtimeMs));
  const cdkOut = path.join(options.rootDir, 'cdk.out', `${stackName}.template.json`);
  if (
    (options.cdkOut ?? true) &&
    existsSync(cdkOut) &&
    statSync(cdkOut).mtimeMs > newestInput &&
    !hasPipelineStacks(path.dirname(cdkOut), stackName)
  ) {
    const template = JSON.parse(readFileSync(cdkOut, 'utf8')) as CfnTemplate;
    if (catalogModeOf(template) === catalog) return { template, stackName, source: 'cdk.out' };
  }

  const hash = createHash('sha256');
  hash.update(`${options.stage}\n${catalog}\n${JSON.stringify(options.pipelines)}\n`);
  for (const file of inputs)
    hash.update(`${path.relative(options.rootDir, file)}\n`).update(readFileSync(file));
  const cacheFile = path.join(
    options.pipelinesDir,
    '..',
    '.esync',
    'cache',
    `template-${hash.digest('hex').slice(0, 20)}.json`,
  );
  const cached = (options.cache ?? true) ? readCachedTemplate(cacheFile) : undefined;
  if (cached) return { template: cached, stackName, source: 'cache' };

  const started = Date.now();
  const template = await synthesizeInProcess(options, stackName);
  options.log?.(`template: synthesized ${stackName} in ${Date.now() - started} ms`);
  if (options.cache ?? true) {
    mkdirSync(path.dirname(cacheFile), { recursive: true });
    // Written whole under another name first: a concurrent start never reads half a template.
    const partial = `${cacheFile}.${process.pid}.partial`;
    writeFileSync(partial, JSON.stringify(template));
    renameSync(partial, cacheFile);
    pruneTemplateCache(path.dirname(cacheFile));
  }
  return { template, stackName, source: 'synth' };
}

/**
 * Whether `cdk synth` wrote the stage as per-pipeline stacks (infra/app.ts does when the stage
 * has pipelines): the stage's own template then lacks them, and the local stack synthesizes the
 * one-stack layout instead.
 */
function hasPipelineStacks(cdkOutDir: string, stackName: string): boolean {
  return readdirSync(cdkOutDir).some(
    (file) => file.startsWith(`${stackName}-`) && file.endsWith('.template.json'),
  );
}

/** Whether a template's functions read the pipelines from SSM parameters, or have them baked in. */
function catalogModeOf(template: CfnTemplate): CatalogMode {
  const reads = Object.values(template.Resources).some(
    (r) =>
      r.Type === 'AWS::Lambda::Function' &&
      (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.[
        PIPELINE_PARAMETERS_ENV
      ] !== undefined,
  );
  return reads ? 'parameters' : 'baked';
}

/** A cached template; undefined when there is none or it cannot be read (pruned meanwhile, cut short). */
function readCachedTemplate(file: string): CfnTemplate | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CfnTemplate;
  } catch {
    return undefined;
  }
}

/** Templates kept in the cache: one per recent state of the app and pipelines (each ~200 KB). */
const CACHED_TEMPLATES = 8;

/** Every edit of the infra makes a new cache entry: the oldest beyond {@link CACHED_TEMPLATES} go. */
function pruneTemplateCache(dir: string): void {
  try {
    const entries = readdirSync(dir)
      .filter((name) => /^template-[0-9a-f]+\.json$/.test(name))
      .map((name) => ({ file: path.join(dir, name), mtime: statSync(path.join(dir, name)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const { file } of entries.slice(CACHED_TEMPLATES)) rmSync(file, { force: true });
  } catch {
    // Another process pruning at the same time removed a file first: the cache is only smaller.
  }
}

/** The stack's name for a stage, as the CDK app names it. */
export function stackNameOf(stage: string): string {
  return `esync-${stage}`;
}

/**
 * Synthesizes the stage's stack in this process. `aws:cdk:bundling-stacks` is empty so
 * NodejsFunction skips esbuild: only the template is wanted.
 */
async function synthesizeInProcess(options: StackTemplateOptions, stackName: string): Promise<CfnTemplate> {
  const stackModule = path.join(options.rootDir, 'infra', 'stacks', 'esync-stack.ts');
  if (!existsSync(stackModule)) throw new ConfigError(`cannot synthesize: ${stackModule} does not exist`);
  const cdk = await import('aws-cdk-lib');
  const { EsyncStack } = (await import(stackModule)) as {
    EsyncStack: new (scope: unknown, id: string, props: Record<string, unknown>) => unknown;
  };
  const outdir = mkdtempSync(path.join(tmpdir(), 'esync-synth-'));
  try {
    // cdk.json's feature flags change what constructs emit: the app gets them as `cdk synth` would.
    const cdkJson = path.join(options.rootDir, 'cdk.json');
    const flags = existsSync(cdkJson)
      ? ((JSON.parse(readFileSync(cdkJson, 'utf8')) as { context?: Record<string, unknown> }).context ?? {})
      : {};
    // The built-in CloudFormation validation (a WASM rules engine, ~5 s here) is `cdk synth`'s job
    // in CI; the local stack only reads the template.
    // The local functions run on this machine, in no VPC: a stage's network (a VPC lookup needs
    // an AWS account) is left out of the local template.
    const { network: _network, ...local } = flags;
    const app = new cdk.App({
      outdir,
      context: { ...local, stage: options.stage, 'aws:cdk:bundling-stacks': [] },
      builtinCloudFormationValidation: false,
    });
    new EsyncStack(app, stackName, {
      stage: options.stage,
      pipelines: options.pipelines,
      bundle: false,
      layout: 'single',
      catalog: options.catalog ?? 'baked',
    });
    return app.synth().getStackByName(stackName).template as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
