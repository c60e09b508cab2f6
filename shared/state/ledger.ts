import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  paginateQuery,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { IgnoredEventKind } from '../cdc/debezium-kinds.ts';
import { mapWithConcurrency } from '../connectors/targets/support/batch.ts';
import { type RunCounts, zeroCounts } from '../domain/run-counts.ts';
import { TransientError } from '../errors.ts';
import { conditionHeld } from './items.ts';
import { expiresAt, keys } from './keys.ts';
import { queryAll } from './query-all.ts';

/** How the records of one queue message were accounted for. */
export interface MessageOutcome {
  readonly loaded: number;
  readonly skipped: number;
  readonly conflicts: number;
  readonly quarantined: number;
  readonly deadLettered: number;
  /** Records a pipeline's `transform.filter` left out. */
  readonly filtered?: number;
  /** Keys whose target content intentionally differs from the source (quarantined, parked, kept, filtered). */
  readonly excludedKeys: readonly string[];
  /** The message was a CDC event of a kind that changes no row (a tombstone, a heartbeat...). */
  readonly ignored?: IgnoredEventKind;
  /** Fields a change did not carry (Debezium's unavailable value), left as the target stored them. */
  readonly unavailableFields?: number;
  /**
   * Changes that met another change of the same version with other content (`compareChanges`),
   * or, at a source whose API answers for one record, of the same instant (`usecases/source-ties.ts`).
   */
  readonly ties?: number;
  /** Of `ties`, those decided by reading the record again at the source; the others by version and hash. */
  readonly tiesReread?: number;
}

/** A message registered before it is sent, or registered done without being sent (`vouchedBy`). */
export interface RegisteredMessage {
  readonly messageKey: string;
  readonly records: number;
  /** Records sent without the fields `schema.onDrift: discard` leaves out. */
  readonly fieldsDiscarded?: number;
  /** The message's `contentDigest`: a later run asks whether this run loaded it clean. */
  readonly content?: string;
  /**
   * The ledger scope of an earlier verified run that loaded the same content clean (see
   * {@link LedgerRepository.loadedClean}): the message is not sent, its records are counted
   * skipped, as Load would count them, and it never waits in the pending index.
   */
  readonly vouchedBy?: string;
}

/** The completed state of a message an earlier clean load of the same content vouches for. */
function vouchedOutcome(records: number, vouchedBy: string, at: string) {
  return {
    state: 'done',
    loaded: 0,
    skipped: records,
    conflicts: 0,
    quarantined: 0,
    deadLettered: 0,
    filtered: 0,
    excludedKeys: [],
    unavailableFields: 0,
    ties: 0,
    tiesReread: 0,
    doneAt: at,
    vouchedBy,
  };
}

/**
 * Whether a ledger item is a message whose every record was written or found already held: none
 * left out, refused, parked, filtered or dead-lettered, so the same records again change nothing
 * in the target and count all skipped.
 */
function isCleanLoad(item: Record<string, unknown>): boolean {
  const none = (field: string) => Number(item[field] ?? 0) === 0;
  return (
    item.state === 'done' &&
    Number(item.loaded ?? 0) + Number(item.skipped ?? 0) === Number(item.records ?? -1) &&
    ['conflicts', 'quarantined', 'deadLettered', 'filtered', 'unavailableFields'].every(none) &&
    item.ignored === undefined &&
    (!Array.isArray(item.excludedKeys) || item.excludedKeys.length === 0)
  );
}

/** BatchGetItem reads at most 100 keys per request. */
const BATCH_GET_LIMIT = 100;
/** Rounds of UnprocessedKeys read again; what stays unread is not vouched for, so it is sent. */
const BATCH_GET_ROUNDS = 3;
/** Abandons of {@link LedgerRepository.abandonRegistered} in flight at once: a queue batch's messages (SQS's 10). */
const ABANDON_CONCURRENCY = 10;

/** Where a message of a partition's Extract comes from: the partition, and its rows sent up to it. */
export interface MessageOrigin {
  readonly partition: string;
  /** The partition's extracted rows once this message's flush is sent (its progress then). */
  readonly upTo: number;
}

/** A scope's messages still waiting for Load, and their records. */
export interface PendingMessages {
  readonly messages: number;
  readonly records: number;
}

export interface LedgerTotals extends Required<RunCounts> {
  /** CDC events that changed no row, by kind. */
  readonly ignored: Readonly<Partial<Record<IgnoredEventKind, number>>>;
  readonly unavailableFields: number;
  /** Version ties (each also counted loaded or skipped). */
  readonly ties: number;
  /** Of `ties`, those decided by reading the record again at the source; the others by content hash. */
  readonly tiesReread: number;
  /** Records sent without the fields `schema.onDrift: discard` leaves out (each also has an outcome). */
  readonly fieldsDiscarded: number;
  readonly messages: number;
  readonly pendingMessages: number;
  /** Records of the pending messages, as {@link LedgerRepository.pending} counts them. */
  readonly pendingRecords: number;
  /** Messages registered done, not sent: an earlier verified run loaded the same content clean. */
  readonly vouchedMessages: number;
  /** Records of `vouchedMessages` (each also counted skipped). */
  readonly vouchedRecords: number;
  readonly excludedKeys: readonly string[];
}

/**
 * The message ledger makes a run's counters exact under at-least-once delivery. Extract
 * registers each message (state `sent`, its record count) before sending it; Load completes
 * it once (state `done`, outcome counts) with a conditional update, so a redelivered or
 * duplicated message is never counted twice. Totals are summed from the ledger, never from
 * counters incremented per delivery.
 */
export class LedgerRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly retentionDays = 30,
  ) {}

  /**
   * Registers messages before they are sent (BatchWriteItem, 25 at a time). Messages of a
   * partition's Extract carry `origin`, so a registration whose send never happened can be told
   * apart later (see {@link abandonReadAgain}). `fieldsDiscarded` counts the message's records that
   * Extract sent without the fields `schema.onDrift: discard` leaves out. A vouched message is
   * registered done, outside the pending index.
   */
  async register(
    scope: string,
    messages: readonly RegisteredMessage[],
    origin?: MessageOrigin,
  ): Promise<void> {
    const ttl = expiresAt(this.retentionDays);
    const sentAt = new Date().toISOString();
    for (let i = 0; i < messages.length; i += 25) {
      let requests = messages.slice(i, i + 25).map((m) => ({
        PutRequest: {
          Item: {
            ...keys.message(scope, m.messageKey),
            type: 'msg',
            records: m.records,
            ...(m.fieldsDiscarded ? { fieldsDiscarded: m.fieldsDiscarded } : {}),
            sentAt,
            expiresAt: ttl,
            ...(origin ? { partition: origin.partition, upTo: origin.upTo } : {}),
            ...(m.content ? { content: m.content } : {}),
            ...(m.vouchedBy
              ? vouchedOutcome(m.records, m.vouchedBy, sentAt)
              : { state: 'sent', ...keys.pendingMessage(scope, m.messageKey) }),
          },
        },
      }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 8)
          throw new TransientError(`ledger registration of ${requests.length} messages kept being throttled`);
        if (attempt > 0)
          await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt) * Math.random()));
        const out = await this.ddb.send(new BatchWriteCommand({ RequestItems: { [this.table]: requests } }));
        requests = (out.UnprocessedItems?.[this.table] ?? []) as typeof requests;
      }
    }
  }

  /**
   * Completes a message with its outcome, once. Returns false when it was already complete
   * (a duplicate delivery), in which case nothing changes. A message nobody registered
   * (pushed changes: webhooks, CDC) is created complete.
   */
  async complete(
    scope: string,
    messageKey: string,
    records: number,
    outcome: MessageOutcome,
  ): Promise<boolean> {
    return this.#updateWhileSent(
      scope,
      messageKey,
      `SET #state = :done, records = if_not_exists(records, :records), loaded = :l, skipped = :s, conflicts = :c, quarantined = :q, deadLettered = :d, filtered = :f, excludedKeys = :x, doneAt = :at, #type = :type, expiresAt = if_not_exists(expiresAt, :ttl), unavailableFields = :u, ties = :t, tiesReread = :tr${outcome.ignored ? ', ignored = :ig' : ''} REMOVE gsi1pk, gsi1sk`,
      {
        ':done': 'done',
        ':records': records,
        ':l': outcome.loaded,
        ':s': outcome.skipped,
        ':c': outcome.conflicts,
        ':q': outcome.quarantined,
        ':d': outcome.deadLettered,
        ':f': outcome.filtered ?? 0,
        ':x': outcome.excludedKeys.slice(0, 1000),
        ':at': new Date().toISOString(),
        ':u': outcome.unavailableFields ?? 0,
        ':t': outcome.ties ?? 0,
        ':tr': outcome.tiesReread ?? 0,
        ...(outcome.ignored ? { ':ig': outcome.ignored } : {}),
      },
    );
  }

  /**
   * Marks a message on its last allowed receive before Load applies it. Should this invocation
   * end without completing it (the process killed, the function timed out), SQS moves the
   * message to the DLQ, and the totals count it dead-lettered once `invocationEndsAt` (epoch ms)
   * has passed: no completion can come from that receive after the invocation's end. A
   * completion, then or after a redrive, still replaces the mark. Returns false when the message
   * was complete or abandoned already, and nothing changed.
   */
  async markLastReceive(
    scope: string,
    messageKey: string,
    unit: { readonly records: number; readonly keys: readonly string[] },
    invocationEndsAt: number,
  ): Promise<boolean> {
    return this.#updateWhileSent(
      scope,
      messageKey,
      'SET #state = if_not_exists(#state, :sent), records = if_not_exists(records, :records), lastReceiveEndsAt = :ends, lastReceiveKeys = :keys, #type = :type, expiresAt = if_not_exists(expiresAt, :ttl), gsi1pk = :gpk, gsi1sk = :gsk',
      {
        ':records': unit.records,
        ':ends': invocationEndsAt,
        ':keys': unit.keys.slice(0, 1000),
        ...pendingValues(scope, messageKey),
      },
    );
  }

  /**
   * Applies `update` to a message item that is new or still `sent` (its `:sent`, `:type` and
   * `:ttl` values given here); false when the message was complete or abandoned already.
   */
  async #updateWhileSent(
    scope: string,
    messageKey: string,
    update: string,
    values: Record<string, unknown>,
  ): Promise<boolean> {
    return conditionHeld(
      this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.message(scope, messageKey),
          UpdateExpression: update,
          ConditionExpression: 'attribute_not_exists(#state) OR #state = :sent',
          ExpressionAttributeNames: { '#state': 'state', '#type': 'type' },
          ExpressionAttributeValues: {
            ':sent': 'sent',
            ':type': 'msg',
            ':ttl': expiresAt(this.retentionDays),
            ...values,
          },
        }),
      ),
    );
  }

  /**
   * Of `messages` (keys in `scope`, an earlier run's ledger, each with the content digest of the
   * message asking), those that run loaded clean with the same content. Eventually consistent
   * reads (that run has ended); keys DynamoDB leaves unprocessed are not vouched for.
   */
  async loadedClean(
    scope: string,
    messages: readonly { messageKey: string; content: string }[],
  ): Promise<Set<string>> {
    const wanted = new Map(messages.map((m) => [m.messageKey, m.content]));
    const all = [...wanted.keys()];
    const clean = new Set<string>();
    for (let i = 0; i < all.length; i += BATCH_GET_LIMIT) {
      let request = all
        .slice(i, i + BATCH_GET_LIMIT)
        .map((k): Record<string, unknown> => keys.message(scope, k));
      for (let round = 1; request.length > 0 && round <= BATCH_GET_ROUNDS; round++) {
        if (round > 1) await new Promise((r) => setTimeout(r, 50 * 2 ** round * Math.random()));
        const out = await this.ddb.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: request } } }),
        );
        for (const item of out.Responses?.[this.table] ?? []) {
          const messageKey = String(item.sk).slice('MSG#'.length);
          if (isCleanLoad(item) && item.content === wanted.get(messageKey)) clean.add(messageKey);
        }
        request = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return clean;
  }

  /**
   * Abandons the messages of an earlier run of a resumed plan that the resuming run reads again:
   * `readAgain` says their partition's progress, as the resuming run claimed it, does not reach
   * them. Registered and never sent, sent but never loaded, or loaded already, none counts in
   * the earlier run any more, so their rows count once, in the run that reads them again, and
   * nobody waits for a registration nothing will complete. Returns how many were abandoned.
   */
  async abandonReadAgain(scope: string, readAgain: (origin: MessageOrigin) => boolean): Promise<number> {
    let abandoned = 0;
    for await (const item of this.#messages(scope))
      if ((item.state === 'sent' || item.state === 'done') && item.upTo !== undefined)
        if (readAgain({ partition: String(item.partition), upTo: Number(item.upTo) }))
          abandoned += (await this.#abandon(item.pk as string, item.sk as string)) ? 1 : 0;
    return abandoned;
  }

  /**
   * Abandons messages this run registered and will not send: their partition was taken over
   * by a run that reads their rows again. Each abandon is a conditional update of its own item,
   * so they run side by side (at most {@link ABANDON_CONCURRENCY} at once) in any order.
   */
  async abandonRegistered(scope: string, messageKeys: readonly string[]): Promise<void> {
    await mapWithConcurrency(messageKeys, ABANDON_CONCURRENCY, (messageKey) => {
      const { pk, sk } = keys.message(scope, messageKey);
      return this.#abandon(pk, sk);
    });
  }

  /**
   * The keys of a scope's abandoned messages that may have left a quarantine object: completed
   * with quarantined records before they were abandoned, or never completed (a Load may have
   * written the object and stopped before completing). A run that reads their rows again
   * quarantines those in objects of its own (usecases/resume.ts deletes these).
   */
  async abandonedWithRejects(scope: string): Promise<string[]> {
    const found: string[] = [];
    for await (const item of this.#messages(scope))
      if (item.state === 'abandoned' && (item.doneAt === undefined || Number(item.quarantined ?? 0) > 0))
        found.push(String(item.sk).slice('MSG#'.length));
    return found;
  }

  /** Every message item of a scope, read consistently. */
  #messages(scope: string): AsyncIterable<Record<string, unknown>> {
    return queryAll(this.ddb, {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
      ExpressionAttributeValues: { ':pk': scope, ':msg': 'MSG#' },
    });
  }

  async #abandon(pk: string, sk: string): Promise<boolean> {
    return conditionHeld(
      this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk, sk },
          UpdateExpression: 'SET #state = :abandoned REMOVE gsi1pk, gsi1sk',
          ConditionExpression: '#state IN (:sent, :done)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':abandoned': 'abandoned', ':sent': 'sent', ':done': 'done' },
        }),
      ),
    );
  }

  /**
   * The scope's messages still waiting for Load, read from the sparse pending index (gsi1): only
   * they are read, so a poll costs what is left, not what the run holds. A message leaves the
   * index when completed or abandoned; one whose last receive ended unseen counts as
   * dead-lettered here as in {@link totals}. The index is eventually consistent: it may still
   * hold a message just completed or not yet show one just registered, so "nothing pending"
   * here is a hint to sum with {@link totals}, never a verdict.
   */
  async pending(scope: string): Promise<PendingMessages> {
    let messages = 0;
    let records = 0;
    const now = Date.now();
    const pages = paginateQuery(
      { client: this.ddb },
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': keys.pendingOf(scope) },
        ProjectionExpression: 'records, lastReceiveEndsAt',
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? [])
        if (!deadLetteredUnseen(item, now)) {
          messages++;
          records += Number(item.records ?? 0);
        }
    return { messages, records };
  }

  /** Sums a scope's ledger (abandoned registrations count for nothing). */
  async totals(scope: string): Promise<LedgerTotals> {
    const counts = zeroCounts();
    const ignored: Partial<Record<IgnoredEventKind, number>> = {};
    let unavailableFields = 0;
    let ties = 0;
    let tiesReread = 0;
    let fieldsDiscarded = 0;
    let messages = 0;
    let pendingMessages = 0;
    let pendingRecords = 0;
    let vouchedMessages = 0;
    let vouchedRecords = 0;
    const excluded: string[] = [];
    const now = Date.now();
    for await (const item of this.#messages(scope)) {
      if (item.state === 'abandoned') continue;
      messages++;
      counts.extracted += Number(item.records ?? 0);
      fieldsDiscarded += Number(item.fieldsDiscarded ?? 0);
      if (item.state !== 'done') {
        if (!deadLetteredUnseen(item, now)) {
          pendingMessages++;
          pendingRecords += Number(item.records ?? 0);
          continue;
        }
        counts.deadLettered += Number(item.records ?? 0);
        if (Array.isArray(item.lastReceiveKeys)) excluded.push(...(item.lastReceiveKeys as string[]));
        continue;
      }
      if (item.vouchedBy !== undefined) {
        vouchedMessages++;
        vouchedRecords += Number(item.records ?? 0);
      }
      counts.loaded += Number(item.loaded ?? 0);
      counts.skipped += Number(item.skipped ?? 0);
      counts.filtered += Number(item.filtered ?? 0);
      counts.conflicts += Number(item.conflicts ?? 0);
      counts.quarantined += Number(item.quarantined ?? 0);
      counts.deadLettered += Number(item.deadLettered ?? 0);
      unavailableFields += Number(item.unavailableFields ?? 0);
      ties += Number(item.ties ?? 0);
      tiesReread += Number(item.tiesReread ?? 0);
      if (typeof item.ignored === 'string') {
        const kind = item.ignored as IgnoredEventKind;
        ignored[kind] = (ignored[kind] ?? 0) + 1;
      }
      if (Array.isArray(item.excludedKeys)) excluded.push(...(item.excludedKeys as string[]));
    }
    return {
      ...counts,
      ignored,
      unavailableFields,
      ties,
      tiesReread,
      fieldsDiscarded,
      messages,
      pendingMessages,
      pendingRecords,
      vouchedMessages,
      vouchedRecords,
      excludedKeys: excluded,
    };
  }
}

/** The `gsi1` keys of a pending message as the values `:gpk` and `:gsk` of an update. */
function pendingValues(scope: string, messageKey: string): Record<':gpk' | ':gsk', string> {
  const { gsi1pk, gsi1sk } = keys.pendingMessage(scope, messageKey);
  return { ':gpk': gsi1pk, ':gsk': gsi1sk };
}

/**
 * A message whose last allowed receive ended without a completion: SQS has moved it, or moves
 * it at its next receive, to the DLQ, and no Load can complete it until it is redriven.
 */
function deadLetteredUnseen(item: Record<string, unknown>, now: number): boolean {
  return typeof item.lastReceiveEndsAt === 'number' && item.lastReceiveEndsAt <= now;
}
