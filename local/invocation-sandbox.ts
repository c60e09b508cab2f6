import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type ClientDecorator, decorateClients } from '../shared/aws/clients.ts';

/** One invocation as the local runtime tracks it: ended when it passes its function's timeout. */
export interface Sandbox {
  readonly functionName: string;
  readonly requestId: string;
  /** Why the invocation was ended; undefined while it may still act. */
  endedBecause?: string;
}

/** A call an ended invocation tried to make: Lambda had stopped its sandbox, so nothing is sent. */
export class SandboxEndedError extends Error {
  override readonly name = 'SandboxEndedError';
}

/**
 * The sandboxes of the invocations running in this process. Lambda stops a timed-out invocation
 * by stopping its execution environment, so nothing it would do afterwards happens. Handlers run
 * in this process (so tests' client decorators and the IAM checks see their calls), where they
 * cannot be stopped: instead, every work started from an invocation carries its sandbox, and once
 * it is ended each AWS call made from it is refused before it is sent, and an answer that arrives
 * after the end is withheld, so the handler cannot act on it.
 */
export class InvocationSandboxes {
  readonly #current = new AsyncLocalStorage<Sandbox>();
  readonly #log: (line: string) => void;
  readonly #uninstall: () => void;

  /** Installs the check in every client `createAwsClients` builds from now on, until {@link close}. */
  constructor(log: (line: string) => void = () => {}) {
    this.#log = log;
    this.#uninstall = decorateClients(this.#decorator);
  }

  /** Runs `work` in a new sandbox, which stays attached to everything `work` starts. */
  run<T>(sandbox: Sandbox, work: () => T): T {
    return this.#current.run(sandbox, work);
  }

  /** Ends a sandbox: from now on its calls are refused. */
  end(sandbox: Sandbox, reason: string): void {
    sandbox.endedBecause = reason;
  }

  /** Removes the check from clients built from now on. */
  close(): void {
    this.#uninstall();
  }

  readonly #decorator: ClientDecorator = (client) => {
    (client as DynamoDBClient).middlewareStack.add(
      (next, context) => async (args) => {
        const sandbox = this.#current.getStore();
        const call = `${String(context.clientName ?? 'client')} ${String(context.commandName ?? 'call')}`;
        this.#refuseIfEnded(sandbox, `${call} was not sent`);
        const answer = await next(args);
        this.#refuseIfEnded(sandbox, `the answer to its ${call} is withheld`);
        return answer;
      },
      // Inside the retries: an attempt the SDK would make after the end is refused as well.
      { step: 'finalizeRequest', priority: 'low', name: 'esyncLocalSandboxEnd' },
    );
  };

  #refuseIfEnded(sandbox: Sandbox | undefined, what: string): void {
    if (sandbox?.endedBecause === undefined) return;
    const message = `invocation ${sandbox.requestId} of ${sandbox.functionName} ${sandbox.endedBecause}; Lambda would have stopped it there, so ${what}`;
    this.#log(`warn: lambda: ${message}`);
    throw new SandboxEndedError(message);
  }
}
