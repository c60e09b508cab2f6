import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ExecutionRecord, type ExecutionStatusChange, statusChange } from './model.ts';

export interface ExecutionStoreOptions {
  /**
   * Directory where executions and their histories are kept between runs.
   * @default - in memory
   */
  readonly dataDir?: string;
  /** @default - nobody is told of status changes */
  readonly onStatusChange?: (event: ExecutionStatusChange) => Promise<void>;
  readonly log: (line: string) => void;
}

/**
 * Where executions are kept (files under `<dataDir>/executions`, one per execution, replaced
 * whole) and whom their status changes are told, as Step Functions sends them to EventBridge.
 */
export class ExecutionStore {
  readonly #dir: string | undefined;
  readonly #options: ExecutionStoreOptions;
  readonly #notifications = new Set<Promise<void>>();

  constructor(options: ExecutionStoreOptions) {
    this.#options = options;
    this.#dir = options.dataDir && path.join(options.dataDir, 'executions');
    if (this.#dir) mkdirSync(this.#dir, { recursive: true });
  }

  /**
   * The kept executions. One still RUNNING was cut by a stop or a crash of the process and cannot
   * resume in process: it is reported as aborted, and flagged so its end can be announced.
   */
  load(): Array<{ record: ExecutionRecord; wasRunning: boolean }> {
    if (!this.#dir) return [];
    const records: Array<{ record: ExecutionRecord; wasRunning: boolean }> = [];
    for (const file of readdirSync(this.#dir)) {
      if (!file.endsWith('.json')) continue;
      const record = JSON.parse(readFileSync(path.join(this.#dir, file), 'utf8')) as ExecutionRecord;
      const wasRunning = record.status === 'RUNNING';
      if (wasRunning) {
        record.status = 'ABORTED';
        record.error = 'States.Aborted';
        record.cause = 'the local stack stopped while the execution was running';
        record.stopDate = record.stopDate ?? Date.now();
      }
      records.push({ record, wasRunning });
    }
    return records;
  }

  save(record: ExecutionRecord): void {
    if (!this.#dir) return;
    const file = path.join(this.#dir, `${encodeURIComponent(record.executionArn)}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(record));
    renameSync(`${file}.tmp`, file);
  }

  /** Tells the execution's status as it stands; a failure to deliver is logged, not thrown. */
  notify(record: ExecutionRecord): Promise<void> {
    const { onStatusChange, log } = this.#options;
    if (!onStatusChange) return Promise.resolve();
    const sent = onStatusChange(statusChange(record))
      .catch((error: unknown) =>
        log(
          `error: the status change of ${record.executionArn} was not delivered: ${(error as Error).message}`,
        ),
      )
      .finally(() => this.#notifications.delete(sent));
    this.#notifications.add(sent);
    return sent;
  }

  /** Resolves when every status change told so far is delivered (or failed). */
  async delivered(): Promise<void> {
    await Promise.all(this.#notifications);
  }
}
