import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { EncryptionKey } from './encryption-key.ts';

export interface AlarmTopicProps {
  /** e.g. `esync-dev-core-alarms`. */
  readonly topicName: string;
  readonly encryptionKey: EncryptionKey;
}

/** Where every ESync alarm goes; subscribe the on-call channel to it after deploying. */
export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: props.topicName,
      displayName: 'ESync alarms',
      masterKey: props.encryptionKey.key,
      enforceSSL: true,
    });
    // CloudWatch publishes alarm state changes into the encrypted topic.
    props.encryptionKey.grantServicePublish('cloudwatch.amazonaws.com');
  }
}
