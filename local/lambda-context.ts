import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** What the local stack knows about the function it invokes in process. */
export interface LocalFunctionInfo {
  readonly functionName: string;
  /** @default 30 */
  readonly timeoutSeconds?: number;
  /** @default 1024 */
  readonly memoryMb?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
}

/**
 * A Lambda `Context` for one in-process invocation, shaped as the Node.js runtime builds it
 * (request id, ARN, log group, remaining time counted from the start of the invocation).
 */
export function createLambdaContext(info: LocalFunctionInfo): Context {
  const timeoutMs = (info.timeoutSeconds ?? 30) * 1000;
  const deadline = Date.now() + timeoutMs;
  const region = info.region ?? 'us-east-1';
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = () => {
    throw new Error('callback-style completion (done/fail/succeed) is not supported by the local stack');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: info.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${info.accountId ?? '000000000000'}:function:${info.functionName}`,
    memoryLimitInMB: String(info.memoryMb ?? 1024),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${info.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
