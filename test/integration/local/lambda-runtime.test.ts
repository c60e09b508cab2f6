import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LambdaInvocationError, LambdaRuntime } from '../../../local/lambda-runtime.ts';

const functionsDir = path.join(import.meta.dirname, 'fixtures', 'functions');

function runtime(timeoutSeconds = 30) {
  return new LambdaRuntime({
    functionsDir,
    functions: [
      { name: 'double', functionName: 'esync-dev-core-double-fn', timeoutSeconds },
      { name: 'flaky', functionName: 'esync-dev-core-flaky-fn' },
      { name: 'fail', functionName: 'esync-dev-core-fail-fn', timeoutSeconds: 1 },
    ],
  });
}

describe('in-process Lambda runtime', () => {
  it('invokes a handler by ARN with a Lambda context counting down from the configured timeout', async () => {
    // Act
    const invoked = Date.now();
    const result = (await runtime(12).invoke(
      'arn:aws:lambda:us-east-1:000000000000:function:esync-dev-core-double-fn',
      { value: 4 },
    )) as Record<string, unknown>;
    const answered = Date.now();

    // Assess
    expect(result.value).toBe(8);
    expect(result.functionName).toBe('esync-dev-core-double-fn');
    // The deadline is set at the call: 12 s less the time the call had taken when the handler asked.
    expect(result.remainingMs).toBeGreaterThanOrEqual(12_000 - (answered - invoked));
    expect(result.remainingMs).toBeLessThanOrEqual(12_000);
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('passes the event and the result through JSON, as Lambda does', async () => {
    // Prepare
    const event = { value: 1, when: new Date('2024-01-02T03:04:05Z'), dropped: undefined };

    // Act
    const result = await runtime().invoke('double', event);

    // Assess
    expect(event.when).toBeInstanceOf(Date);
    expect(result).not.toHaveProperty('dropped');
    expect((result as { value: number }).value).toBe(2);
  });

  it('reports a thrown error with its name and message, as Step Functions sees it', async () => {
    // Act
    const failure = await runtime()
      .invoke('esync-dev-core-fail-fn', {})
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(LambdaInvocationError);
    expect((failure as LambdaInvocationError).name).toBe('SourceUnreachableError');
    expect((failure as LambdaInvocationError).payload).toMatchObject({
      errorType: 'SourceUnreachableError',
      errorMessage: 'connection refused by db.example:5432',
    });
  });

  it('fails an invocation that outlives its timeout with Sandbox.Timedout', async () => {
    // Act
    const failure = runtime().invoke('fail', { sleepMs: 1500 });

    // Assess
    await expect(failure).rejects.toMatchObject({ name: 'Sandbox.Timedout' });
  });

  it('gives each runtime its own module instances, like separate cold starts', async () => {
    // Prepare
    const first = runtime();
    const second = runtime();

    // Act
    const a = await first.invoke('flaky', { key: 'k', failures: 0 });
    const b = await first.invoke('flaky', { key: 'k', failures: 0 });
    const c = await second.invoke('flaky', { key: 'k', failures: 0 });

    // Assess
    expect([a, b, c].map((r) => (r as { attempts: number }).attempts)).toEqual([1, 2, 1]);
  });

  it('names the known functions when asked for an unknown one', async () => {
    // Act
    const failure = runtime().invoke('nope', {});

    // Assess
    await expect(failure).rejects.toThrow(
      /no local function matches "nope" \(known: esync-dev-core-double-fn/,
    );
  });
});
