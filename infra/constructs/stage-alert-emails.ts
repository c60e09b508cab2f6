import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface StageAlertEmailsProps {
  /** The stage's alarm topic, which every pipeline alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  /** The stage's `alerts.notify.emails`. */
  readonly emails: readonly string[];
}

/**
 * The stage's alert emails: each address subscribed to the alarm topic without a filter, so it
 * hears every pipeline's alarms (a pipeline's own emails are filtered to its alarms).
 */
export class StageAlertEmails extends Construct {
  constructor(scope: Construct, id: string, props: StageAlertEmailsProps) {
    super(scope, id);
    for (const [i, email] of props.emails.entries())
      new sns.Subscription(this, `Email${i}`, {
        topic: props.alarmTopic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: email,
      });
  }
}
