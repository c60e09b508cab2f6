import { SQSClient } from '@aws-sdk/client-sqs';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { EsyncFunction } from '../../infra/constructs/esync-function.ts';
import { LoadConsumer } from '../../infra/constructs/load-consumer.ts';
import { SqsEventSource } from '../../local/sqs-event-source.ts';
import { ConfigError } from '../../shared/errors.ts';
import { formatProblem, parsePipelineText } from '../../shared/pipeline/load.ts';
import { type Pipeline, type PipelineInput, pipelineSchema } from '../../shared/pipeline/schema.ts';

const PIPELINE = `name: batching
source:
  type: cdc
  key: [id]
triggers:
  cdc:
    pattern: { source: [test] }
target:
  type: dynamodb
`;

/**
 * A batch size and window, and the refusal synth and the local event source give (none when
 * accepted); `esync validate` says the same unless `validateSays` gives its range message.
 */
interface Case {
  readonly batchSize: number;
  readonly window: number;
  readonly refusal?: string;
  readonly validateSays?: string;
}

const CASES: readonly Case[] = [
  { batchSize: 1, window: 0 },
  { batchSize: 10, window: 0 },
  { batchSize: 11, window: 1 },
  { batchSize: 100, window: 300 },
  {
    batchSize: 11,
    window: 0,
    refusal: 'a batchSize above 10 (got 11) needs batchingWindowSeconds of at least 1',
  },
  {
    batchSize: 101,
    window: 1,
    refusal: 'batchSize must be an integer from 1 to 100, got 101',
    validateSays: 'must be ≤ 100, got 101',
  },
  {
    batchSize: 0,
    window: 1,
    refusal: 'batchSize must be an integer from 1 to 100, got 0',
    validateSays: 'must be ≥ 1, got 0',
  },
  {
    batchSize: 10,
    window: 301,
    refusal: 'batchingWindowSeconds must be an integer from 0 to 300, got 301',
    validateSays: 'must be ≤ 300, got 301',
  },
];

function validateProblems(batchSize: number, window: number): string[] {
  const text = `${PIPELINE}load:\n  batchSize: ${batchSize}\n  batchingWindowSeconds: ${window}\n`;
  return parsePipelineText(text, 'pipelines/batching.yaml').problems.map(formatProblem);
}

const CDC_PIPELINE: PipelineInput = {
  name: 'batching',
  source: { type: 'cdc', key: ['id'] },
  triggers: { cdc: { pattern: { source: ['test'] } } },
  target: { type: 'dynamodb' },
};

function synthLoadConsumer(batchSize: number, window: number): Template {
  const valid = pipelineSchema.parse(CDC_PIPELINE);
  return synthPipelineConsumer({
    ...valid,
    load: { ...valid.load, batchSize, batchingWindowSeconds: window },
  });
}

function synthPipelineConsumer(pipeline: Pipeline): Template {
  const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'LoadBatching');
  const loadFunction = new EsyncFunction(stack, 'Load', {
    handlerName: 'load',
    functionName: 'esync-dev-batching-load-fn',
    description: 'batching test',
    timeout: Duration.seconds(60),
    environment: {},
    pipelineCatalog: '[]',
    logRetention: RetentionDays.ONE_DAY,
    logKey: new kms.Key(stack, 'Key'),
    removalPolicy: RemovalPolicy.DESTROY,
    bundle: false,
  });
  new LoadConsumer(stack, 'Consumer', {
    pipeline,
    loadQueue: new sqs.Queue(stack, 'Queue', { visibilityTimeout: Duration.seconds(360) }),
    loadFunction,
  });
  return Template.fromStack(stack);
}

function startLocalSource(batchSize: number, window: number): SqsEventSource {
  return new SqsEventSource({
    sqs: new SQSClient({ region: 'us-east-1' }),
    queueUrl: 'http://localhost/q',
    queueArn: 'arn:aws:sqs:us-east-1:123456789012:q',
    handler: async () => undefined,
    batchSize,
    maximumBatchingWindowSeconds: window,
  });
}

describe.each(CASES)(
  'load.batchSize $batchSize with batchingWindowSeconds $window',
  ({ batchSize, window, refusal, validateSays }) => {
    if (refusal === undefined) {
      it('is accepted by esync validate, synth and the local event source alike', () => {
        expect(validateProblems(batchSize, window)).toEqual([]);
        synthLoadConsumer(batchSize, window).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          BatchSize: batchSize,
        });
        expect(startLocalSource(batchSize, window).settings).toMatchObject({
          batchSize,
          maximumBatchingWindowSeconds: window,
        });
      });
    } else {
      it('is refused by esync validate, synth and the local event source alike, naming the field', () => {
        const field = refusal.startsWith('batchSize') ? 'batchSize' : 'batchingWindowSeconds';

        const problems = validateProblems(batchSize, window);

        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(new RegExp(`^pipelines/batching\\.yaml:\\d+:\\d+ load\\.${field} `));
        expect(problems[0]).toContain(validateSays ?? refusal);
        expect(() => synthLoadConsumer(batchSize, window)).toThrow(
          `pipeline batching: load.${field}: ${refusal}`,
        );
        expect(() => startLocalSource(batchSize, window)).toThrow(ConfigError);
        expect(() => startLocalSource(batchSize, window)).toThrow(`SqsEventSource: ${refusal}`);
      });
    }
  },
);

describe('the event source of a pipeline that leaves load.batchSize out', () => {
  it.each([
    [
      'webhook',
      {
        name: 'hooks',
        source: { type: 'webhook', key: ['id'] },
        triggers: { webhook: { signature: 'standard-webhooks', secret: 'hook' } },
        target: { type: 'dynamodb' },
      },
      10,
    ],
    ['cdc', CDC_PIPELINE, 10],
    [
      'postgres',
      {
        name: 'users',
        source: { type: 'postgres', connection: { secret: 'db' }, table: 'users', key: ['id'] },
        target: { type: 'dynamodb' },
      },
      2,
    ],
  ] as const satisfies readonly (readonly [string, PipelineInput, number])[])(
    'takes the batch size its %s source gives',
    (_type, input, batchSize) => {
      const template = synthPipelineConsumer(pipelineSchema.parse(input));

      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: batchSize });
    },
  );
});
