import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';

export type { IamDenial, IamMode } from './modes.ts';

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ClientDecorator } from '../../shared/aws/clients.ts';
import type { IamModel, RoleInfo } from './model.ts';
import type { IamDenial, IamMode } from './modes.ts';
import { type Caller, evaluate, type PolicyStatement } from './policy.ts';
import { type RequiredPermission, requiredPermissions } from './requests.ts';

/** The principal a piece of work runs as. */
interface Identity {
  readonly label: string;
  readonly caller: Caller;
  /** The role's policies; none for a service principal. */
  readonly statements: readonly PolicyStatement[];
  /** `User: ...` in AccessDenied messages. */
  readonly user: string;
  /** Condition keys every call of this principal carries (a service's `aws:SourceArn`). */
  readonly context: Readonly<Record<string, string>>;
}

export interface IamEnforcerOptions {
  readonly model: IamModel;
  readonly mode: IamMode;
  /** Every secret name the local stack serves. */
  readonly secretNames: ReadonlySet<string>;
  /** @default - no logging */
  readonly log?: (line: string) => void;
}

/**
 * Checks the calls of the functions and state machines running in this process against the IAM
 * policies of their roles in the synthesized template. The local runtimes run each piece of work
 * as its principal ({@link runAsFunction}, {@link runAsStateMachine}); the SDK clients that
 * `createAwsClients` builds carry a middleware ({@link decorator}) that authorizes each call
 * before it is sent and, when it is denied, answers it with the service's own AccessDenied
 * response, which the unchanged SDK turns into its usual error. Calls made outside any
 * principal (tests, the CLI, the emulators themselves) are not checked.
 */
export class IamEnforcer {
  readonly mode: IamMode;
  readonly #model: IamModel;
  readonly #secretNames: ReadonlySet<string>;
  readonly #log: (line: string) => void;
  readonly #current = new AsyncLocalStorage<Identity>();
  readonly #denials = new Map<string, IamDenial>();

  constructor(options: IamEnforcerOptions) {
    this.mode = options.mode;
    this.#model = options.model;
    this.#secretNames = options.secretNames;
    this.#log = options.log ?? (() => {});
  }

  /** Every distinct call denied (enforce) or that would have been denied (report), in order. */
  get denials(): readonly IamDenial[] {
    return [...this.#denials.values()];
  }

  /**
   * Runs `work` as the operator, unchecked like every call made outside a principal: for a test
   * harness that acts from inside a function's call (a decorator's callback), whose own calls
   * would otherwise be taken for the function's.
   */
  asOperator<T>(work: () => T): T {
    return this.#current.exit(work);
  }

  /** Runs `work` as the function's execution role. */
  runAsFunction<T>(functionName: string, work: () => T): T {
    if (this.mode === 'off') return work();
    const role = this.#model.functionRoles.get(functionName);
    return this.#current.run(this.#roleIdentity(`function ${functionName}`, role, functionName), work);
  }

  /** Runs `work` (a task of an execution) as the state machine's role. */
  runAsStateMachine<T>(stateMachineName: string, work: () => T): T {
    if (this.mode === 'off') return work();
    const role = this.#model.stateMachineRoles.get(stateMachineName);
    return this.#current.run(
      this.#roleIdentity(`state machine ${stateMachineName}`, role, 'execution'),
      work,
    );
  }

  /** Runs `work` as an AWS service acting for a source (a rule, an API), as its targets see it. */
  runAsService<T>(service: string, sourceArn: string, label: string, work: () => T): T {
    if (this.mode === 'off') return work();
    return this.#current.run(this.#serviceIdentity(service, sourceArn, label), work);
  }

  /**
   * Whether the principal the current work runs as may invoke the function (a state machine's
   * `lambda:InvokeFunction`, a rule's or an API's Lambda permission).
   * @throws an `AccessDeniedException` in enforce mode when it may not
   */
  authorizeInvoke(functionArn: string): void {
    const denial = this.#authorize([{ action: 'lambda:InvokeFunction', resource: functionArn }]);
    if (denial && this.mode === 'enforce') {
      const error = new Error(denial.message);
      error.name = 'AccessDeniedException';
      throw error;
    }
  }

  /**
   * Checks, without running anything, whether a principal may perform the permissions: for
   * what AWS checks when a resource is wired (an event source mapping's role) or what a service
   * does for a rule (sending to a queue, starting an execution).
   */
  check(
    principal: { role: string } | { service: string; sourceArn: string },
    label: string,
    permissions: readonly RequiredPermission[],
  ): IamDenial | undefined {
    if (this.mode === 'off') return undefined;
    const identity =
      'role' in principal
        ? this.#roleIdentity(label, this.#model.rolesByArn.get(principal.role), 'local')
        : this.#serviceIdentity(principal.service, principal.sourceArn, label);
    return this.#current.run(identity, () => this.#authorize(permissions));
  }

  /** Installs the check in every client `createAwsClients` builds (see `decorateClients`). */
  readonly decorator: ClientDecorator = (client) => {
    if (this.mode === 'off') return;
    (client as DynamoDBClient).middlewareStack.add(
      (next, context) => async (args) => {
        const identity = this.#current.getStore();
        if (!identity) return next(args);
        const clientName = String(context.clientName ?? '');
        const permissions = requiredPermissions(
          clientName,
          String(context.commandName ?? ''),
          (args.input ?? {}) as Record<string, unknown>,
          { model: this.#model, secretNames: this.#secretNames },
        );
        const denial = permissions && this.#authorize(permissions);
        if (!denial || this.mode !== 'enforce') return next(args);
        return { response: accessDeniedResponse(clientName, denial.message), output: {} as never };
      },
      // Inside the deserializer: the answer is read by the client's own error handling.
      { step: 'deserialize', priority: 'low', name: 'esyncLocalIamEnforcement' },
    );
  };

  #roleIdentity(label: string, role: RoleInfo | undefined, session: string): Identity {
    const { accountId } = this.#model;
    const roleName = role?.name ?? `${label.replace(/\W+/g, '-')}-without-role`;
    return {
      label,
      caller: { kind: 'role', roleArn: role?.arn ?? `arn:aws:iam::${accountId}:role/${roleName}`, accountId },
      statements: role?.statements ?? [],
      user: `arn:aws:sts::${accountId}:assumed-role/${roleName}/${session}`,
      context: { 'aws:PrincipalArn': role?.arn ?? '', 'aws:PrincipalAccount': accountId },
    };
  }

  #serviceIdentity(service: string, sourceArn: string, label: string): Identity {
    return {
      label,
      caller: { kind: 'service', service },
      statements: [],
      user: service,
      context: { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': this.#model.accountId },
    };
  }

  /** The first permission the current principal lacks, recorded and logged; undefined when all are allowed. */
  #authorize(permissions: readonly RequiredPermission[]): IamDenial | undefined {
    const identity = this.#current.getStore();
    if (!identity || this.mode === 'off') return undefined;
    for (const permission of permissions) {
      const request = {
        caller: identity.caller,
        action: permission.action,
        resource: permission.resource,
        context: {
          'aws:SecureTransport': 'true',
          'aws:RequestedRegion': this.#model.region,
          ...identity.context,
          ...permission.context,
        },
      };
      const resource = this.#model.resourcePolicies
        .filter((p) => p.governs(permission.resource))
        .flatMap((p) => p.statements);
      const { decision, deniedBy } = evaluate(request, { identity: identity.statements, resource });
      if (decision === 'allow') continue;
      const why =
        decision === 'explicit-deny'
          ? `with an explicit deny in a ${deniedBy === 'resource' ? 'resource' : 'identity'}-based policy`
          : identity.caller.kind === 'role'
            ? `because no identity-based policy allows the ${permission.action} action`
            : `because no resource-based policy allows the ${permission.action} action`;
      const denial: IamDenial = {
        caller: identity.label,
        action: permission.action,
        resource: permission.resource,
        message: `User: ${identity.user} is not authorized to perform: ${permission.action} on resource: ${permission.resource} ${why}`,
      };
      const key = `${denial.caller}\n${denial.action}\n${denial.resource}`;
      if (!this.#denials.has(key)) {
        this.#denials.set(key, denial);
        this.#log(
          `${this.mode === 'enforce' ? 'error: iam: denied' : 'warn: iam: would deny'} ${denial.caller}: ${denial.action} on ${denial.resource}`,
        );
      }
      return denial;
    }
    return undefined;
  }
}

/** The service's AccessDenied answer, in its protocol: XML with 403 for S3, JSON with 400 for the rest. */
function accessDeniedResponse(clientName: string, message: string) {
  const requestId = randomUUID();
  if (clientName === 'S3Client') {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${escapeXml(message)}</Message><RequestId>${requestId}</RequestId></Error>`;
    return {
      statusCode: 403,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      body: Readable.from([Buffer.from(body)]),
    };
  }
  const body = JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message });
  return {
    statusCode: 400,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': requestId,
      // SQS's JSON protocol names the error as its query protocol did.
      ...(clientName === 'SQSClient' && { 'x-amzn-query-error': 'AccessDenied;Sender' }),
    },
    body: Readable.from([Buffer.from(body)]),
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
