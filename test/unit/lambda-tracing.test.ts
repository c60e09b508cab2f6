import { Tracer } from '@aws-lambda-powertools/tracer';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import AWSXRay from 'aws-xray-sdk-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { traceWithoutPayloads } from '../../shared/lambda/tracing.ts';
import { fixtureTemplate, resourcesOf } from '../infra/fixtures.ts';

const RECORD_VALUE = 'alice@example.com';
const context = { functionName: 'esync-dev-core-api-fn', awsRequestId: 'req-1' } as Context;

/** The environment every deployed function gets, from the synthesized template. */
function deployedTracerEnvironment(): Record<string, string> {
  const functions = Object.values(resourcesOf(fixtureTemplate(), 'AWS::Lambda::Function'));
  const envs = functions.map(
    (f) => (f.Properties.Environment as { Variables: Record<string, string> }).Variables,
  );
  expect(envs.length).toBeGreaterThan(5);
  for (const env of envs)
    expect(env).toMatchObject({
      POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
      POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
    });
  return {
    POWERTOOLS_TRACER_CAPTURE_RESPONSE: String(envs[0]?.POWERTOOLS_TRACER_CAPTURE_RESPONSE),
    POWERTOOLS_TRACER_CAPTURE_ERROR: String(envs[0]?.POWERTOOLS_TRACER_CAPTURE_ERROR),
  };
}

describe('traces of a handler returning record data', () => {
  const saved = { ...process.env };
  let segment: AWSXRay.Segment;

  beforeEach(() => {
    Object.assign(process.env, deployedTracerEnvironment(), {
      POWERTOOLS_TRACE_ENABLED: 'true',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      AWS_LAMBDA_FUNCTION_NAME: context.functionName,
      _HANDLER: 'index.handler',
    });
    segment = new AWSXRay.Segment('esync-test');
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  /** Runs the traced handler inside the test segment; the segment as X-Ray would receive it. */
  async function traced(body: () => Promise<unknown>): Promise<string> {
    const tracer = new Tracer({ serviceName: 'esync-api' });
    const handler = middy(body).use(traceWithoutPayloads(tracer));
    await AWSXRay.getNamespace().runAndReturn(async () => {
      AWSXRay.setSegment(segment);
      await handler({}, context).catch(() => undefined);
    });
    return JSON.stringify(segment);
  }

  it('records the invocation but not the response', async () => {
    const sent = await traced(async () => ({
      statusCode: 200,
      body: JSON.stringify({ email: RECORD_VALUE }),
    }));

    expect(sent).toContain('## index.handler');
    expect(sent).not.toContain(RECORD_VALUE);
  });

  it('flags an error without its message', async () => {
    const sent = await traced(async () => {
      throw new Error(`value ${RECORD_VALUE} is out of range`);
    });

    expect(sent).toContain('"error":true');
    expect(sent).not.toContain(RECORD_VALUE);
  });
});
