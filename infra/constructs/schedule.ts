import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface PipelineScheduleProps {
  /** `esync-<stage>-<pipeline>-schedule`. */
  readonly ruleName: string;
  /** `rate(...)` or `cron(...)`, as the pipeline gives it (already validated). */
  readonly expression: string;
  readonly stateMachine: sfn.IStateMachine;
  readonly pipelineName: string;
}

/**
 * Starts a pipeline's run on its schedule. Step Functions names the execution, and the execution
 * name is the run id, so two firings can never share a run.
 */
export class PipelineSchedule extends Construct {
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: PipelineScheduleProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      ruleName: props.ruleName,
      description: `Scheduled run of pipeline ${props.pipelineName}`,
      schedule: events.Schedule.expression(props.expression),
      targets: [
        new targets.SfnStateMachine(props.stateMachine, {
          input: events.RuleTargetInput.fromObject({ trigger: 'schedule' }),
        }),
      ],
    });
  }
}
