import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** How the stage keeps the logs AWS services deliver for us (API access logs, state machine logs). */
export interface VendedLogSettings {
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The encrypted, retained log group a service delivers `name`'s logs to, named
 * `/aws/vendedlogs/<service>/<name>` (the prefix the naming Aspect strips).
 */
export function vendedLogGroup(
  scope: Construct,
  id: string,
  service: 'apigateway' | 'states',
  name: string,
  settings: VendedLogSettings,
): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    logGroupName: `/aws/vendedlogs/${service}/${name}`,
    retention: settings.logRetention,
    encryptionKey: settings.logKey,
    removalPolicy: settings.removalPolicy,
  });
}
