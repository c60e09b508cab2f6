import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { STAGES, type Stage } from '../shared/naming.ts';

/** What differs between stages: how long logs are kept and whether data outlives the stack. */
export interface StageSettings {
  readonly stage: Stage;
  readonly logRetention: RetentionDays;
  /** Tables, bucket and key: kept in staging and prod, so a stack deletion never deletes data. */
  readonly dataRemovalPolicy: RemovalPolicy;
  /** Tables refuse DeleteTable (DynamoDB deletion protection), even from CloudFormation. */
  readonly tableDeletionProtection: boolean;
  /** Requests per second the HTTP API accepts before throttling (429). */
  readonly apiRateLimit: number;
  readonly apiBurstLimit: number;
}

/**
 * The stage named by `-c stage=...`.
 * @throws Error showing the value received and the stages allowed.
 */
export function parseStage(value: unknown): Stage {
  const text = value === undefined ? 'dev' : String(value);
  if ((STAGES as readonly string[]).includes(text)) return text as Stage;
  throw new Error(`unknown stage "${text}" (from -c stage=...); use one of: ${STAGES.join(', ')}`);
}

/** The settings of a stage. */
export function stageSettings(stage: Stage): StageSettings {
  switch (stage) {
    case 'prod':
      return {
        stage,
        logRetention: RetentionDays.THREE_MONTHS,
        dataRemovalPolicy: RemovalPolicy.RETAIN,
        tableDeletionProtection: true,
        apiRateLimit: 200,
        apiBurstLimit: 400,
      };
    case 'staging':
      return {
        stage,
        logRetention: RetentionDays.ONE_MONTH,
        dataRemovalPolicy: RemovalPolicy.RETAIN,
        tableDeletionProtection: false,
        apiRateLimit: 50,
        apiBurstLimit: 100,
      };
    case 'dev':
      return {
        stage,
        logRetention: RetentionDays.ONE_WEEK,
        dataRemovalPolicy: RemovalPolicy.DESTROY,
        tableDeletionProtection: false,
        apiRateLimit: 20,
        apiBurstLimit: 40,
      };
  }
}
