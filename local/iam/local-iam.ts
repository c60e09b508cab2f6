import { decorateClients } from '../../shared/aws/clients.ts';
import { ConfigError } from '../../shared/errors.ts';
import { type CfnTemplate, IntrinsicResolver, type LocalPlacement } from '../template.ts';
import { type IamDenial, IamEnforcer, type IamEnforcerOptions } from './enforcer.ts';
import { buildIamModel } from './model.ts';
import { checkWiring, wiringFacts } from './wiring.ts';

/** The enforcer's mode and log, and what its model and secret names are made from. */
export interface LocalIamOptions extends Pick<IamEnforcerOptions, 'mode' | 'log'> {
  readonly template: CfnTemplate;
  readonly placement: LocalPlacement;
  /** Secret names the stack serves besides the template's (pipeline secrets). */
  readonly secretNames: Iterable<string>;
}

export interface LocalIam {
  readonly enforcer: IamEnforcer;
  /** Id of the HTTP API in the template's execute-api ARNs. */
  readonly httpApiId: string;
  /** Removes the check from clients built from now on. */
  uninstall(): void;
}

/**
 * Reads the template's roles and policies, checks the wiring AWS checks outside the functions
 * (refusing to start in enforce mode when it fails, as the deploy or the delivery would), and
 * installs the check of every call in the clients the handlers build.
 */
export function startLocalIam(options: LocalIamOptions): LocalIam {
  const model = buildIamModel(options.template, options.placement);
  const enforcer = new IamEnforcer({
    model,
    mode: options.mode,
    secretNames: new Set([...model.secretNames, ...options.secretNames]),
    ...(options.log && { log: options.log }),
  });
  const httpApiId = model.httpApiId ?? 'api';
  if (options.mode === 'off') return { enforcer, httpApiId, uninstall: () => {} };
  const r = new IntrinsicResolver(options.template, options.placement);
  const facts = wiringFacts(
    options.template,
    (value) => r.resolve(value),
    (value) => {
      const name = String(r.resolve(value));
      return name.startsWith('arn:') ? name.split(':')[6] : name;
    },
  );
  const denials = checkWiring(enforcer, model, facts);
  if (denials.length > 0 && options.mode === 'enforce') throw new ConfigError(wiringMessage(denials));
  return { enforcer, httpApiId, uninstall: decorateClients(enforcer.decorator) };
}

function wiringMessage(denials: readonly IamDenial[]): string {
  return [
    'the stack would not work on AWS: its IAM policies do not allow',
    ...denials.map((d) => `  - ${d.caller}: ${d.action} on ${d.resource}`),
    'add the grants, or start with --iam report to list every denied call instead',
  ].join('\n');
}
