import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AuditRepository } from './audit.ts';
import { BaseRepository } from './bases.ts';
import { CheckpointRepository } from './checkpoints.ts';
import { ConflictRepository } from './conflicts.ts';
import { LedgerRepository } from './ledger.ts';
import { ProgressRepository } from './progress.ts';
import { RunRepository } from './runs.ts';
import { VerifyResultsRepository } from './verify-results.ts';

/** Every repository of the state table, built together. */
export interface StateRepositories {
  readonly checkpoints: CheckpointRepository;
  readonly runs: RunRepository;
  readonly ledger: LedgerRepository;
  readonly progress: ProgressRepository;
  readonly bases: BaseRepository;
  readonly conflicts: ConflictRepository;
  readonly audit: AuditRepository;
  readonly verifyResults: VerifyResultsRepository;
}

export function createStateRepositories(ddb: DynamoDBDocumentClient, table: string): StateRepositories {
  return {
    checkpoints: new CheckpointRepository(ddb, table),
    runs: new RunRepository(ddb, table),
    ledger: new LedgerRepository(ddb, table),
    progress: new ProgressRepository(ddb, table),
    bases: new BaseRepository(ddb, table),
    conflicts: new ConflictRepository(ddb, table),
    audit: new AuditRepository(ddb, table),
    verifyResults: new VerifyResultsRepository(ddb, table),
  };
}
