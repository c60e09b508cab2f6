import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { ConfigError } from '../shared/errors.ts';
import { InvocationSandboxes, type Sandbox } from './invocation-sandbox.ts';
import { createLambdaContext } from './lambda-context.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './servers.ts';

/** How one function is deployed: what the local runtime needs to invoke it like Lambda would. */
export interface LocalFunction {
  /** Folder under functions/ holding `handler.ts`, e.g. `load`. */
  readonly name: string;
  /** Deployed function name, e.g. `esync-dev-core-load-fn`. */
  readonly functionName: string;
  /** @default 60 */
  readonly timeoutSeconds?: number;
  /** @default 1024 */
  readonly memoryMb?: number;
}

export interface LambdaRuntimeOptions {
  /** Folder holding one folder per function. */
  readonly functionsDir: string;
  readonly functions: readonly LocalFunction[];
  /** @default LOCAL_REGION */
  readonly region?: string;
  /**
   * End an invocation at its function's timeout, as Lambda does: the caller gets
   * `Sandbox.Timedout`, the AWS calls the handler still makes are refused, and the next invocation
   * starts cold (see `InvocationSandboxes`).
   * @default true
   */
  readonly enforceTimeouts?: boolean;
  /** @default - no logging */
  readonly log?: (line: string) => void;
  /**
   * Runs each invocation as the function's role and checks that its caller may invoke it.
   * @default - no IAM checks
   */
  readonly principals?: InvocationPrincipals;
}

/** How the runtime takes part in IAM checks (the local stack's `IamEnforcer`). */
export interface InvocationPrincipals {
  /** @throws when the principal the current work runs as may not invoke the function */
  authorizeInvoke(functionArn: string): void;
  /** Runs `work` as the function's execution role. */
  runAsFunction<T>(functionName: string, work: () => T): T;
}

/** What Lambda reports when a handler fails: the payload Step Functions shows as Cause. */
export interface LambdaErrorPayload {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

/**
 * A failed invocation, as a caller of Lambda sees it: `name` is the handler error's name
 * (Step Functions' Error), `payload` what Lambda returns (its JSON is Step Functions' Cause).
 */
export class LambdaInvocationError extends Error {
  readonly payload: LambdaErrorPayload;
  readonly functionName: string;
  constructor(functionName: string, payload: LambdaErrorPayload, options?: { cause?: unknown }) {
    super(payload.errorMessage, options);
    this.name = payload.errorType;
    this.payload = payload;
    this.functionName = functionName;
  }
}

type Handler = (event: unknown, context: Context) => unknown;

let runtimeInstances = 0;

/**
 * Runs the deployed handler modules in this process, the way Lambda invokes them: the event and
 * the result cross a JSON boundary, the handler gets a Lambda context whose remaining time counts
 * down from the function's timeout, and a failure comes back as Lambda's `{errorType,
 * errorMessage}`; an invocation that outlives its timeout is ended as Lambda ends it. Modules are
 * imported once (a warm container); import them only after the environment they read at cold
 * start is set.
 */
export class LambdaRuntime {
  readonly #options: LambdaRuntimeOptions;
  readonly #byName = new Map<string, LocalFunction>();
  readonly #byFunctionName = new Map<string, LocalFunction>();
  readonly #modules = new Map<string, Promise<Handler>>();
  readonly #region: string;
  readonly #instance = ++runtimeInstances;
  readonly #sandboxes: InvocationSandboxes;
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #coldStarts = 0;

  /** Installs the end of timed-out invocations in the clients built from now on (see {@link close}). */
  constructor(options: LambdaRuntimeOptions) {
    this.#options = options;
    this.#region = options.region ?? LOCAL_REGION;
    this.#sandboxes = new InvocationSandboxes(options.log);
    for (const fn of options.functions) {
      this.#byName.set(fn.name, fn);
      this.#byFunctionName.set(fn.functionName, fn);
    }
  }

  /** Every function this runtime knows (several deployed functions may share a folder). */
  get functions(): readonly LocalFunction[] {
    return [...this.#byFunctionName.values()];
  }

  /** ARN of a function, as Lambda would give it. */
  functionArn(fn: LocalFunction): string {
    return `arn:aws:lambda:${this.#region}:${LOCAL_ACCOUNT_ID}:function:${fn.functionName}`;
  }

  /**
   * Finds a function by folder name, deployed name or ARN (with or without a qualifier), as the
   * `FunctionName` of a Step Functions `lambda:invoke` task may give it.
   */
  resolve(reference: string): LocalFunction {
    const arn = /^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:([^:]+)(?::.*)?$/.exec(reference);
    const name = arn?.[1] ?? reference;
    const fn = this.#byFunctionName.get(name) ?? this.#byName.get(name);
    if (!fn) {
      const known = [...this.#byName.values()].map((f) => f.functionName).join(', ');
      throw new ConfigError(`no local function matches "${reference}" (known: ${known || 'none'})`);
    }
    return fn;
  }

  /**
   * Invokes a function with an event and returns its result after a JSON round trip.
   * @throws LambdaInvocationError when the handler throws, rejects or times out
   */
  async invoke(reference: string, event: unknown): Promise<unknown> {
    const fn = this.resolve(reference);
    const principals = this.#options.principals;
    principals?.authorizeInvoke(reference.startsWith('arn:') ? reference : this.functionArn(fn));
    const asFunction = <T>(work: () => T): T =>
      principals ? principals.runAsFunction(fn.functionName, work) : work();
    const handler = await asFunction(() => this.#load(fn));
    const context = createLambdaContext({
      functionName: fn.functionName,
      timeoutSeconds: fn.timeoutSeconds ?? 60,
      ...(fn.memoryMb !== undefined && { memoryMb: fn.memoryMb }),
      region: this.#region,
      accountId: LOCAL_ACCOUNT_ID,
    });
    const input = jsonRoundTrip(event);
    const sandbox: Sandbox = { functionName: fn.functionName, requestId: context.awsRequestId };
    this.#inFlight++;
    try {
      const run = this.#sandboxes.run(sandbox, () =>
        asFunction(() => Promise.resolve().then(() => handler(input, context))),
      );
      const enforce = this.#options.enforceTimeouts ?? true;
      return jsonRoundTrip(await (enforce ? this.#endAtTimeout(fn, sandbox, run) : run));
    } catch (error) {
      if (error instanceof LambdaInvocationError) throw error;
      throw new LambdaInvocationError(fn.functionName, errorPayload(error), { cause: error });
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /**
   * Races the handler with its timeout. At the timeout, as Lambda does, the invocation fails
   * with `Sandbox.Timedout`, its sandbox is ended (nothing it does afterwards reaches AWS) and the
   * function's environment is reset: the next invocation starts cold.
   */
  async #endAtTimeout(fn: LocalFunction, sandbox: Sandbox, run: Promise<unknown>): Promise<unknown> {
    const timeoutSeconds = fn.timeoutSeconds ?? 60;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const seconds = `${timeoutSeconds.toFixed(2)} seconds`;
        this.#sandboxes.end(sandbox, `timed out after ${seconds}`);
        this.#modules.delete(fn.functionName);
        this.#options.log?.(`lambda: ${fn.functionName} ${sandbox.requestId} timed out after ${seconds}`);
        reject(
          new LambdaInvocationError(fn.functionName, {
            errorType: 'Sandbox.Timedout',
            errorMessage: `RequestId: ${sandbox.requestId} Error: Task timed out after ${seconds}`,
            trace: [],
          }),
        );
      }, timeoutSeconds * 1000);
      timer.unref();
    });
    try {
      return await Promise.race([run, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops checking the clients built from now on for ended invocations. */
  close(): void {
    this.#sandboxes.close();
  }

  /** Resolves when no invocation is running (those already started are awaited, not cut). */
  whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #load(fn: LocalFunction): Promise<Handler> {
    let loaded = this.#modules.get(fn.functionName);
    if (!loaded) {
      const file = path.resolve(this.#options.functionsDir, fn.name, 'handler.ts');
      // One module instance per deployed function and runtime, like one container each: functions
      // sharing a folder keep separate state, and a stack started after another in the same
      // process does not reuse clients bound to the previous stack's servers. A reset environment
      // (after a timeout) gets a new instance too.
      const url = `${pathToFileURL(file).href}?runtime=${this.#instance}&function=${encodeURIComponent(fn.functionName)}&start=${++this.#coldStarts}`;
      loaded = import(url).then((module: { handler?: unknown }) => {
        if (typeof module.handler !== 'function')
          throw new ConfigError(`${file} does not export a function named handler`);
        this.#options.log?.(`lambda: ${fn.functionName} cold start`);
        return module.handler as Handler;
      });
      this.#modules.set(fn.functionName, loaded);
      loaded.catch(() => this.#modules.delete(fn.functionName));
    }
    return loaded;
  }
}

/** Lambda serializes results and events as JSON: dates become strings, undefined disappears. */
function jsonRoundTrip(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function errorPayload(error: unknown): LambdaErrorPayload {
  if (error instanceof Error)
    return {
      errorType: error.name || 'Error',
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    };
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}
