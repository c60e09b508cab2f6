import type { CfnTemplate } from '../template.ts';
import type { IamDenial, IamEnforcer } from './enforcer.ts';
import type { IamModel } from './model.ts';
import { type RequiredPermission, requiredPermissions } from './requests.ts';

/** What the local stack knows of a template's wiring, resolved to ARNs. */
export interface WiringFacts {
  /** SQS event source mappings: the function's role polls the queue. */
  readonly eventSourceMappings: ReadonlyArray<{ readonly functionName: string; readonly queueArn: string }>;
  /** Rules' (and schedules') targets that are not Lambda functions, with their dead-letter queues. */
  readonly ruleTargets: ReadonlyArray<{
    readonly ruleArn: string;
    readonly targetArn: string;
    readonly roleArn?: string;
    readonly deadLetterArn?: string;
  }>;
}

/**
 * Checks what AWS checks when the stack's services act for it, outside any function: Lambda
 * polling a queue with the function's role (checked when the mapping is created), EventBridge
 * sending to a queue or a dead-letter queue (the queue's policy and its key's policy), and
 * EventBridge or Scheduler starting an execution with the target's role. Lambda targets and HTTP
 * routes are checked at each invocation instead (the function's Lambda permissions).
 */
export function checkWiring(enforcer: IamEnforcer, model: IamModel, facts: WiringFacts): IamDenial[] {
  const scope = { model, secretNames: new Set<string>() };
  const denials: IamDenial[] = [];
  const add = (denial: IamDenial | undefined) => {
    if (denial) denials.push(denial);
  };
  for (const mapping of facts.eventSourceMappings) {
    const role = model.functionRoles.get(mapping.functionName);
    const permissions: RequiredPermission[] = [
      ...['ReceiveMessage', 'DeleteMessage', 'GetQueueAttributes'].map((a) => ({
        action: `sqs:${a}`,
        resource: mapping.queueArn,
      })),
      ...(
        requiredPermissions('SQSClient', 'ReceiveMessage', { QueueUrl: mapping.queueArn }, scope) ?? []
      ).slice(1),
    ];
    add(
      enforcer.check(
        { role: role?.arn ?? '' },
        `event source mapping of function ${mapping.functionName}`,
        permissions,
      ),
    );
  }
  for (const target of facts.ruleTargets) {
    const label = `rule ${target.ruleArn.split('/').pop()}`;
    const service = { service: 'events.amazonaws.com', sourceArn: target.ruleArn };
    const sendTo = (queueArn: string) =>
      requiredPermissions('SQSClient', 'SendMessage', { QueueUrl: queueArn }, scope) ?? [];
    if (target.targetArn.startsWith('arn:aws:sqs:'))
      add(enforcer.check(service, label, sendTo(target.targetArn)));
    if (target.targetArn.startsWith('arn:aws:states:'))
      add(
        enforcer.check({ role: target.roleArn ?? '' }, `${label} (target role)`, [
          { action: 'states:StartExecution', resource: target.targetArn },
        ]),
      );
    if (target.deadLetterArn)
      add(enforcer.check(service, `${label} (dead-letter queue)`, sendTo(target.deadLetterArn)));
  }
  return denials;
}

/** Reads the wiring facts from a template with the resolver's ARNs. */
export function wiringFacts(
  template: CfnTemplate,
  resolve: (value: unknown) => unknown,
  functionNameOf: (value: unknown) => string | undefined,
): WiringFacts {
  const eventSourceMappings: Array<{ functionName: string; queueArn: string }> = [];
  const ruleTargets: Array<{ ruleArn: string; targetArn: string; roleArn?: string; deadLetterArn?: string }> =
    [];
  for (const [id, res] of Object.entries(template.Resources)) {
    const props = res.Properties ?? {};
    if (res.Type === 'AWS::Lambda::EventSourceMapping') {
      const queueArn = String(resolve(props.EventSourceArn));
      const functionName = functionNameOf(props.FunctionName);
      if (queueArn.startsWith('arn:aws:sqs:') && functionName)
        eventSourceMappings.push({ functionName, queueArn });
    }
    const targets =
      res.Type === 'AWS::Events::Rule'
        ? ((props.Targets as Array<Record<string, unknown>> | undefined) ?? [])
        : res.Type === 'AWS::Scheduler::Schedule' && props.Target
          ? [props.Target as Record<string, unknown>]
          : [];
    const ruleArn = String(resolve({ 'Fn::GetAtt': [id, 'Arn'] }));
    for (const target of targets) {
      const dlq = (target.DeadLetterConfig as { Arn?: unknown } | undefined)?.Arn;
      ruleTargets.push({
        ruleArn,
        targetArn: String(resolve(target.Arn)),
        ...(target.RoleArn !== undefined && { roleArn: String(resolve(target.RoleArn)) }),
        ...(dlq !== undefined && { deadLetterArn: String(resolve(dlq)) }),
      });
    }
  }
  return { eventSourceMappings, ruleTargets };
}
