import { randomUUID } from 'node:crypto';
import type { AwsClients } from '../../shared/aws/clients.ts';
import { LambdaInvocationError, type LambdaRuntime } from '../lambda-runtime.ts';
import type { HistoryRecorder } from './history.ts';
import type { Json, JsonObject } from './model.ts';

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

/** An error as the interpreter matches it in Retry/Catch: `name` is Error, `message` is Cause. */
export function taskError(error: string, cause: string): Error {
  const e = new Error(cause);
  e.name = error;
  return e;
}

/**
 * The handler of one Task state: calls its integration and records the task's history events
 * (scheduled, started, succeeded or failed) as Step Functions does.
 */
export function bindTask(
  stateName: string,
  state: JsonObject,
  history: HistoryRecorder,
  lambda: LambdaRuntime,
  getClients: () => AwsClients,
  region: string,
): (input: Json) => Promise<Json> {
  const resource = String(state.Resource);
  const integration = describeResource(resource);
  return async (input) => {
    // Lets the interpreter's own event for entering this state reach the history first.
    await new Promise((resolve) => setImmediate(resolve));
    history.task('Scheduled', {
      resourceType: integration.resourceType,
      resource: integration.resource,
      region,
      parameters: JSON.stringify(input),
      ...(typeof state.TimeoutSeconds === 'number' && { timeoutInSeconds: state.TimeoutSeconds }),
    });
    history.task('Started', { resourceType: integration.resourceType, resource: integration.resource });
    try {
      const output = await integration.call(input, { lambda, getClients, stateName });
      history.task('Succeeded', {
        resourceType: integration.resourceType,
        resource: integration.resource,
        output: JSON.stringify(output),
      });
      return output;
    } catch (error) {
      const failure = toTaskFailure(error, integration.errorPrefix);
      history.task('Failed', {
        resourceType: integration.resourceType,
        resource: integration.resource,
        error: failure.name,
        cause: failure.message,
      });
      throw failure;
    }
  };
}

interface TaskEnvironment {
  readonly lambda: LambdaRuntime;
  readonly getClients: () => AwsClients;
  readonly stateName: string;
}

interface Integration {
  readonly resourceType: string;
  readonly resource: string;
  /** Prefix of service error names, as Step Functions reports them (e.g. `DynamoDB.`). */
  readonly errorPrefix: string;
  call(input: Json, env: TaskEnvironment): Promise<Json>;
}

const SDK_PACKAGES: Record<string, { module: string; client: keyof AwsClients; prefix: string }> = {
  dynamodb: { module: '@aws-sdk/client-dynamodb', client: 'dynamodb', prefix: 'DynamoDb' },
  sqs: { module: '@aws-sdk/client-sqs', client: 'sqs', prefix: 'Sqs' },
  s3: { module: '@aws-sdk/client-s3', client: 's3', prefix: 'S3' },
  eventbridge: { module: '@aws-sdk/client-eventbridge', client: 'eventBridge', prefix: 'EventBridge' },
  sfn: { module: '@aws-sdk/client-sfn', client: 'sfn', prefix: 'Sfn' },
  secretsmanager: {
    module: '@aws-sdk/client-secrets-manager',
    client: 'secretsManager',
    prefix: 'SecretsManager',
  },
};

/** Optimized integrations ESync may use, mapped to the SDK call they make. */
const OPTIMIZED: Record<string, { service: string; action: string; prefix: string }> = {
  'events:putEvents': { service: 'eventbridge', action: 'putEvents', prefix: 'EventBridge' },
  'sqs:sendMessage': { service: 'sqs', action: 'sendMessage', prefix: 'SQS' },
  'dynamodb:getItem': { service: 'dynamodb', action: 'getItem', prefix: 'DynamoDB' },
  'dynamodb:putItem': { service: 'dynamodb', action: 'putItem', prefix: 'DynamoDB' },
  'dynamodb:updateItem': { service: 'dynamodb', action: 'updateItem', prefix: 'DynamoDB' },
  'dynamodb:deleteItem': { service: 'dynamodb', action: 'deleteItem', prefix: 'DynamoDB' },
};

function describeResource(resource: string): Integration {
  return lambdaIntegration(resource) ?? sdkIntegration(resource) ?? unsupported(resource);
}

/** `lambda:invoke` (the result wrapped as the optimized integration returns it) or a function ARN. */
function lambdaIntegration(resource: string): Integration | undefined {
  if (resource === LAMBDA_INVOKE)
    return {
      resourceType: 'lambda',
      resource: 'invoke',
      errorPrefix: '',
      async call(input, { lambda }) {
        const params = (input ?? {}) as JsonObject;
        if (typeof params.FunctionName !== 'string')
          throw taskError('States.Runtime', 'lambda:invoke needs a FunctionName parameter');
        const payload = (await lambda.invoke(params.FunctionName, params.Payload ?? {})) as Json;
        return {
          ExecutedVersion: '$LATEST',
          Payload: payload,
          SdkHttpMetadata: { HttpStatusCode: 200 },
          SdkResponseMetadata: { RequestId: randomUUID() },
          StatusCode: 200,
        };
      },
    };
  if (/^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:/.test(resource))
    return {
      resourceType: 'lambda',
      resource,
      errorPrefix: '',
      async call(input, { lambda }) {
        return (await lambda.invoke(resource, input)) as Json;
      },
    };
  return undefined;
}

/** An `aws-sdk:<service>:<action>` integration, or an optimized one that maps to an SDK call. */
function sdkIntegration(resource: string): Integration | undefined {
  const sdk = /^arn:aws[\w-]*:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$/.exec(resource);
  const optimized = /^arn:aws[\w-]*:states:::([a-z0-9]+:[A-Za-z0-9]+)$/.exec(resource);
  const target = sdk
    ? { service: sdk[1] ?? '', action: sdk[2] ?? '', prefix: SDK_PACKAGES[sdk[1] ?? '']?.prefix ?? '' }
    : optimized
      ? OPTIMIZED[optimized[1] ?? '']
      : undefined;
  const pkg = target && SDK_PACKAGES[target.service];
  if (!target || !pkg) return undefined;
  const [resourceType, resourceName] = sdk ? [sdk[1] ?? '', sdk[2] ?? ''] : (optimized?.[1] ?? '').split(':');
  return {
    resourceType: resourceType ?? '',
    resource: resourceName ?? '',
    errorPrefix: `${target.prefix}.`,
    async call(input, { getClients }) {
      const module = (await import(pkg.module)) as Record<string, unknown>;
      const commandName = `${target.action.charAt(0).toUpperCase()}${target.action.slice(1)}Command`;
      const Command = module[commandName] as (new (input: unknown) => unknown) | undefined;
      if (!Command) throw taskError('States.Runtime', `${pkg.module} has no ${commandName}`);
      let params = input as JsonObject;
      if (resource.endsWith(':sqs:sendMessage') && typeof params.MessageBody !== 'string')
        params = { ...params, MessageBody: JSON.stringify(params.MessageBody) };
      const client = getClients()[pkg.client] as unknown as {
        send(command: unknown): Promise<Record<string, unknown>>;
      };
      const { $metadata: _metadata, ...output } = await client.send(new Command(params));
      if (resource.endsWith(':events:putEvents') && Number(output.FailedEntryCount ?? 0) > 0)
        throw taskError('EventBridge.FailedEntry', JSON.stringify(output));
      return JSON.parse(JSON.stringify(output)) as Json;
    },
  };
}

function unsupported(resource: string): Integration {
  return {
    resourceType: 'unsupported',
    resource,
    errorPrefix: '',
    async call() {
      throw taskError('States.Runtime', `the local stack cannot run Task resource ${resource}`);
    },
  };
}

function toTaskFailure(error: unknown, prefix: string): Error {
  if (error instanceof LambdaInvocationError) return taskError(error.name, JSON.stringify(error.payload));
  if (error instanceof Error && error.name.startsWith('States.')) return error;
  if (error instanceof Error) return taskError(prefix + error.name, error.message);
  return taskError('States.TaskFailed', String(error));
}
