import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EXECUTION_STATUS_CHANGE } from '../../shared/usecases/contracts.ts';
import { RULE_TARGET_RETRY, ruleTargetDeadLetterQueue } from './cdc-route.ts';
import type { EncryptionKey } from './encryption-key.ts';

/** The statuses that end an execution; RUNNING and PENDING_REDRIVE do not. */
export const EXECUTION_END_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;

export interface RunEndRouteProps {
  /** `esync-<stage>-core-run-ends`. */
  readonly ruleName: string;
  /** `esync-<stage>-core-run-ends-dlq`. */
  readonly deadLetterQueueName: string;
  /**
   * The ARN of every run state machine of the stage, as a wildcard (`…:stateMachine:esync-<stage>-*-sm`):
   * by the naming pattern, so the rule never changes when a pipeline is added or removed.
   */
  readonly stateMachineArnPattern: string;
  /** The run-ended function. */
  readonly handler: lambda.IFunction;
  readonly encryptionKey: EncryptionKey;
}

/**
 * Sends the end of every run execution (Step Functions status change events on the default bus)
 * to the run-ended function, so a run ends on its record even when its own states never ran:
 * stopped, timed out, or failed where RecordFailure could not. EventBridge retries for a day; an
 * event it cannot deliver lands in the route's DLQ instead of being dropped.
 */
export class RunEndRoute extends Construct {
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: RunEndRouteProps) {
    super(scope, id);
    this.deadLetterQueue = ruleTargetDeadLetterQueue(this, props.deadLetterQueueName, props.encryptionKey);
    this.rule = new events.Rule(this, 'Rule', {
      ruleName: props.ruleName,
      description: 'Ends of ESync run executions, to their run records',
      eventPattern: {
        source: ['aws.states'],
        detailType: [EXECUTION_STATUS_CHANGE],
        detail: {
          status: [...EXECUTION_END_STATUSES],
          stateMachineArn: events.Match.wildcard(props.stateMachineArnPattern),
        },
      },
    });
    this.rule.addTarget(
      new targets.LambdaFunction(props.handler, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: RULE_TARGET_RETRY.attempts,
        maxEventAge: RULE_TARGET_RETRY.maxEventAge,
      }),
    );
  }
}
