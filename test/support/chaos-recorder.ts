import {
  DynamoDBServiceException,
  InternalServerError,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { SQSServiceException } from '@aws-sdk/client-sqs';
import type { ClientDecorator } from '../../shared/aws/clients.ts';
import { type PartiqlInsert, parseInsert } from '../../shared/connectors/targets/dynamodb/batch-insert.ts';
import { META } from '../../shared/connectors/targets/dynamodb/dynamodb-target.ts';
import type { FaultCounter, FaultKind } from './chaos-faults.ts';

/** One conditional PutItem (or PartiQL INSERT) the target table accepted, with the version it replaced. */
export interface AppliedWrite {
  readonly table: string;
  readonly key: string;
  readonly version: string;
  /** The stored version the write replaced (from `ReturnValues: ALL_OLD`); absent for a new item. */
  readonly previous?: string;
  readonly deleted: boolean;
}

/** A checkpoint write, with what the watched target held at that instant. */
export interface CheckpointWrite {
  readonly pipeline: string;
  readonly cursor: unknown;
  readonly setBy: string;
  /** Newest applied version per key of the watched table when the checkpoint was written. */
  readonly applied: ReadonlyMap<string, string>;
}

export interface ChaosRecorderOptions {
  /** Target tables whose writes are recorded and throttled, with their key attribute. */
  readonly targets: ReadonlyMap<string, string>;
  /** The table whose applied versions are snapshotted at each checkpoint write. */
  readonly checkpointWatch: string;
  readonly stateTable: string;
  readonly faults: FaultCounter;
  readonly random: () => number;
  /** Share of target write attempts refused: half throttled, half answered a 500. */
  readonly throttleRate: number;
  /** Keys (per table) whose first `burstAttempts` PutItem attempts are all throttled. */
  readonly burstKeys: ReadonlyMap<string, ReadonlySet<string>>;
  readonly burstAttempts: number;
  /** Share of quarantine PutObject attempts answered SlowDown. */
  readonly slowDownRate: number;
  /** Share of ledger completions at which the Load process is killed (see `ChaosRates.loadKill`). */
  readonly killRate: number;
  /** Share of state-table attempts answered with throttling or a 500. */
  readonly stateFaultRate: number;
  /** Share of SQS send and delete attempts answered with throttling or a 500. */
  readonly sqsFaultRate: number;
  /** Share of SQS change-visibility attempts answered with throttling or a 500. */
  readonly sqsVisibilityFaultRate: number;
  /** Told of every SendMessageBatch, before it is sent. */
  readonly onSendBatch?: (queueUrl: string, entries: number) => void;
}

type Input = Record<string, unknown>;
interface Args {
  readonly input: Input;
  readonly request?: unknown;
}
interface Output {
  readonly output?: unknown;
}
interface MiddlewareContext {
  readonly commandName?: string;
}
type Next = (args: Args) => Promise<Output>;
interface Stack {
  add(
    middleware: (next: Next, context: MiddlewareContext) => Next,
    options: { step: string; name: string; priority?: string },
  ): void;
}

/** A string attribute, as the plain value of a document client or the `{S}` of the low-level one. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const s = (value as { S?: unknown } | undefined)?.S;
  return typeof s === 'string' ? s : undefined;
}

/** A DynamoDB AttributeValue as a plain value (what the state table's checkpoint cursor holds). */
export function plainValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const v = value as Record<string, unknown>;
  if ('S' in v) return v.S;
  if ('N' in v) return Number(v.N);
  if ('BOOL' in v) return v.BOOL;
  if ('NULL' in v) return null;
  if ('L' in v) return (v.L as unknown[]).map(plainValue);
  if ('M' in v)
    return Object.fromEntries(
      Object.entries(v.M as Record<string, unknown>).map(([k, x]) => [k, plainValue(x)]),
    );
  return value;
}

/**
 * Records every applied target write and every checkpoint write of the handlers in this process,
 * and injects the AWS-side faults: DynamoDB throttling and 500s on the target tables (random, and
 * throttling bursts on chosen keys that outlast the in-call retries), and S3 SlowDown on quarantine writes.
 *
 * Installed through `decorateClients`, it sits inside the SDK's retry loop, so every attempt is
 * seen and a throttled attempt is retried by the SDK exactly as a real one (a target
 * BatchExecuteStatement's statements are throttled one by one, see {@link #targetInserts}). Target PutItems get
 * `ReturnValues: ALL_OLD`, so each applied write is recorded with the version it replaced, in the
 * table's own commit order, whatever order concurrent responses arrive in.
 */
export class ChaosRecorder {
  readonly #options: ChaosRecorderOptions;
  readonly applied: AppliedWrite[] = [];
  readonly checkpoints: CheckpointWrite[] = [];
  /** Newest applied version per key of the watched table. */
  readonly #watched = new Map<string, string>();
  readonly #burstAttempts = new Map<string, number>();
  readonly #stoppedRuns = new Map<string, Promise<unknown>>();
  /** Invocations of stopped runs refused as they started. */
  refusedAfterStop = 0;
  readonly #slowDownsPerRequest = new WeakMap<object, number>();
  readonly #faultsPerRequest = new WeakMap<object, number>();
  readonly #sqsAttempts = new Map<FaultKind, number>();
  /** Messages whose completion already drew for a kill: each is killed at its first completion at most. */
  readonly #killDrawn = new Set<string>();
  /** Until this instant the killed Load process is dead: answers are lost, completions fail. */
  #deadUntil = 0;
  /** Past {@link #deadUntil}, it stays dead until it has lost an answer, but not past this instant. */
  #deadAtMostUntil = 0;
  /** Whether a target write's answer was lost since the last kill. */
  #unheardSinceKill = true;

  constructor(options: ChaosRecorderOptions) {
    this.#options = options;
  }

  /**
   * Emulates what StopExecution does on AWS and the local interpreter does not: Map iterations not
   * yet started never start. From now on, any invocation of the run fails at its first read of the
   * run record (where every phase begins); one already past it runs on, as a Lambda does. The
   * refusal waits for `stopped` (the StopExecution call) to settle, so a step that would never
   * have started cannot fail the execution before the stop lands.
   */
  stopRun(runId: string, stopped: Promise<unknown>): void {
    this.#stoppedRuns.set(runId, stopped);
  }

  /** The decorator to pass to `decorateClients`. */
  readonly decorate: ClientDecorator = (client, service) => {
    const stack = client.middlewareStack as unknown as Stack;
    if (service === 'dynamodb') {
      stack.add((next, context) => (args) => next(this.#askForOldItem(args, context)), {
        step: 'initialize',
        name: 'chaosReturnOldItem',
      });
      // Per-statement throttling is an answer, not an error: the SDK's retry loop never sees it.
      stack.add(
        (next, context) => (args) =>
          context.commandName === 'BatchExecuteStatementCommand'
            ? this.#targetInserts(next, args)
            : next(args),
        { step: 'initialize', name: 'chaosTargetInserts' },
      );
      stack.add((next, context) => (args) => this.#dynamoDbAttempt(next, args, context), {
        step: 'finalizeRequest',
        priority: 'low',
        name: 'chaosDynamoDbAttempt',
      });
    } else if (service === 's3') {
      stack.add((next, context) => (args) => this.#s3Attempt(next, args, context), {
        step: 'finalizeRequest',
        priority: 'low',
        name: 'chaosS3Attempt',
      });
    } else if (service === 'sqs') {
      stack.add(
        (next, context) => (args) => {
          if (context.commandName === 'SendMessageBatchCommand') {
            const entries = args.input.Entries;
            this.#options.onSendBatch?.(
              String(args.input.QueueUrl),
              Array.isArray(entries) ? entries.length : 0,
            );
          }
          return next(args);
        },
        { step: 'initialize', name: 'chaosSendObserver' },
      );
      stack.add((next, context) => (args) => this.#sqsAttempt(next, args, context), {
        step: 'finalizeRequest',
        priority: 'low',
        name: 'chaosSqsAttempt',
      });
    }
  };

  #isTargetPut(args: Args, context: MiddlewareContext): boolean {
    return (
      context.commandName === 'PutItemCommand' && this.#options.targets.has(String(args.input.TableName))
    );
  }

  /** A BatchExecuteStatement whose statements all insert into target tables. */
  #isTargetInsert(args: Args, context: MiddlewareContext): boolean {
    if (context.commandName !== 'BatchExecuteStatementCommand') return false;
    const statements = (args.input.Statements ?? []) as { Statement?: string; Parameters?: never[] }[];
    try {
      return statements.every((st) =>
        this.#options.targets.has(parseInsert(String(st.Statement), st.Parameters ?? []).table),
      );
    } catch {
      return false;
    }
  }

  #askForOldItem(args: Args, context: MiddlewareContext): Args {
    if (!this.#isTargetPut(args, context)) return args;
    return { ...args, input: { ...args.input, ReturnValues: 'ALL_OLD' } };
  }

  async #dynamoDbAttempt(next: Next, args: Args, context: MiddlewareContext): Promise<Output> {
    if (this.#isTargetPut(args, context)) return this.#targetPut(next, args);
    if (this.#isTargetInsert(args, context)) return this.#insertAttempt(next, args);
    if (this.#isCompletion(args, context)) this.#completion(args);
    if (this.#touchesStateTable(args) && this.#drawFault(context, this.#options.stateFaultRate)) {
      const throttle = this.#options.random() < 0.5;
      this.#options.faults.add(throttle ? 'stateThrottle' : 'state5xx');
      throw throttle ? throttled(this.#options.stateTable) : internalError();
    }
    if (context.commandName === 'GetItemCommand' && args.input.TableName === this.#options.stateTable) {
      const key = (args.input.Key ?? {}) as Record<string, unknown>;
      const pk = text(key.pk);
      if (
        pk?.startsWith('RUN#') &&
        text(key.sk) === 'RUN' &&
        this.#stoppedRuns.has(pk.slice('RUN#'.length))
      ) {
        this.refusedAfterStop++;
        await this.#stoppedRuns.get(pk.slice('RUN#'.length));
        throw new Error(
          `chaos: execution of ${pk.slice('RUN#'.length)} was stopped; this step would not start`,
        );
      }
    }
    const item = (args.input.Item ?? {}) as Record<string, unknown>;
    const pk = text(item.pk);
    const isCheckpoint =
      context.commandName === 'PutItemCommand' &&
      args.input.TableName === this.#options.stateTable &&
      pk?.startsWith('PIPE#') === true &&
      text(item.sk) === 'CHECKPOINT';
    // What the target held when the checkpoint was sent, not when it was acknowledged.
    const applied = isCheckpoint ? new Map(this.#watched) : undefined;
    const result = await next(args);
    if (applied)
      this.checkpoints.push({
        pipeline: (pk as string).slice('PIPE#'.length),
        cursor: plainValue(item.cursor),
        setBy: text(item.setBy) ?? '',
        applied,
      });
    return result;
  }

  #touchesStateTable(args: Args): boolean {
    const table = this.#options.stateTable;
    const requests = args.input.RequestItems as Record<string, unknown> | undefined;
    return args.input.TableName === table || (requests !== undefined && table in requests);
  }

  /** A draw at `rate`, at most twice per request: the SDK's third attempt always gets through. */
  #drawFault(context: MiddlewareContext, rate: number): boolean {
    const drawn = this.#faultsPerRequest.get(context) ?? 0;
    if (drawn >= 2 || rate <= 0 || this.#options.random() >= rate) return false;
    this.#faultsPerRequest.set(context, drawn + 1);
    return true;
  }

  /**
   * Whether an SQS fault kind with a rate above zero strikes this attempt because it has not yet
   * struck at all by its kind's {@link FIRST_FAULT_BY}th attempt: the few deletes of a run whose
   * receives take large batches (a loaded machine) may otherwise all escape a 2% rate.
   */
  #dueFirstFault(context: MiddlewareContext, kind: FaultKind, rate: number): boolean {
    const attempts = (this.#sqsAttempts.get(kind) ?? 0) + 1;
    this.#sqsAttempts.set(kind, attempts);
    if (rate <= 0 || attempts !== FIRST_FAULT_BY || this.#options.faults.get(kind) > 0) return false;
    this.#faultsPerRequest.set(context, (this.#faultsPerRequest.get(context) ?? 0) + 1);
    return true;
  }

  /** Load's ledger completion of a message (`SET #state = :done` on a `MSG#` item). */
  #isCompletion(args: Args, context: MiddlewareContext): boolean {
    if (context.commandName !== 'UpdateItemCommand' || args.input.TableName !== this.#options.stateTable)
      return false;
    const sk = text((args.input.Key as Record<string, unknown> | undefined)?.sk);
    return sk?.startsWith('MSG#') === true && String(args.input.UpdateExpression).includes(':done');
  }

  /**
   * Kills the Load process at a drawn completion: the message's target writes are done, its
   * completion is lost, and for a moment the process is dead (see {@link #targetPut}).
   */
  #completion(args: Args): void {
    const key = args.input.Key as Record<string, unknown>;
    const id = `${text(key.pk)}|${text(key.sk)}`;
    if (this.#dead()) throw killed();
    if (this.#killDrawn.has(id)) return;
    this.#killDrawn.add(id);
    if (this.#options.random() >= this.#options.killRate) return;
    this.#options.faults.add('loadKilled');
    this.#deadUntil = Date.now() + KILL_MS;
    this.#deadAtMostUntil = Date.now() + KILL_MAX_MS;
    this.#unheardSinceKill = false;
    throw killed();
  }

  /**
   * Whether the killed Load process is dead: for {@link KILL_MS}, then until the first target
   * write's answer it loses (at most {@link KILL_MAX_MS}), so that each kill catches a write in
   * flight however slowly a loaded machine sends them, as a Lambda killed mid-batch would.
   */
  #dead(): boolean {
    const now = Date.now();
    return now < this.#deadUntil || (!this.#unheardSinceKill && now < this.#deadAtMostUntil);
  }

  async #sqsAttempt(next: Next, args: Args, context: MiddlewareContext): Promise<Output> {
    const kind = SQS_FAULTS[context.commandName ?? ''];
    const rate =
      kind === 'sqsVisibilityFault' ? this.#options.sqsVisibilityFaultRate : this.#options.sqsFaultRate;
    if (kind && (this.#dueFirstFault(context, kind, rate) || this.#drawFault(context, rate))) {
      this.#options.faults.add(kind);
      const throttle = this.#options.random() < 0.5;
      throw new SQSServiceException({
        name: throttle ? 'ThrottlingException' : 'InternalError',
        $fault: throttle ? 'client' : 'server',
        $metadata: { httpStatusCode: throttle ? 400 : 500 },
        message: throttle ? 'chaos: rate exceeded' : 'chaos: internal error',
      });
    }
    return next(args);
  }

  /**
   * Whether this attempt to write `key` of a target table is refused, and how: throttled (bursts,
   * then at random) or answered a 500 (at random).
   */
  #refusesTarget(table: string, key: string): TargetFault | undefined {
    if (this.#options.burstKeys.get(table)?.has(key)) {
      const id = `${table}|${key}`;
      const attempts = this.#burstAttempts.get(id) ?? 0;
      if (attempts < this.#options.burstAttempts) {
        this.#burstAttempts.set(id, attempts + 1);
        if (attempts + 1 === this.#options.burstAttempts) this.#options.faults.add('throttleBurst');
        this.#options.faults.add('targetThrottle');
        return 'throttle';
      }
    }
    if (this.#options.random() >= this.#options.throttleRate) return undefined;
    const fault: TargetFault = this.#options.random() < 0.5 ? 'throttle' : '5xx';
    this.#options.faults.add(fault === 'throttle' ? 'targetThrottle' : 'target5xx');
    return fault;
  }

  #recordApplied(write: AppliedWrite): void {
    this.applied.push(write);
    if (write.table === this.#options.checkpointWatch) {
      const held = this.#watched.get(write.key);
      if (held === undefined || held < write.version) this.#watched.set(write.key, write.version);
    }
  }

  /** The write landed, but the process that sent it is dead: nobody hears the answer. */
  #answerUnheard(): void {
    if (this.#dead()) {
      this.#unheardSinceKill = true;
      this.#options.faults.add('killedInFlight');
      throw killed();
    }
  }

  async #targetPut(next: Next, args: Args): Promise<Output> {
    const table = String(args.input.TableName);
    const item = (args.input.Item ?? {}) as Record<string, unknown>;
    const key = text(item[this.#options.targets.get(table) ?? 'pk']) ?? '';
    const version = text(item[META.version]) ?? '';
    const fault = this.#refusesTarget(table, key);
    if (fault) throw fault === 'throttle' ? throttled(table) : internalError();
    const result = await next(args);
    const old = (result.output as { Attributes?: Record<string, unknown> } | undefined)?.Attributes;
    const previous = old ? text(old[META.version]) : undefined;
    const deleted = item[META.deleted] !== undefined;
    this.#recordApplied({ table, key, version, deleted, ...(previous !== undefined && { previous }) });
    this.#answerUnheard();
    return result;
  }

  /**
   * A BatchExecuteStatement of PartiQL inserts into target tables: each statement is refused as a
   * target put would be (a refused statement is not sent and is answered
   * `ProvisionedThroughputExceeded` or `InternalServerError` in its place, as DynamoDB answers it). What was applied is recorded per attempt, in
   * {@link #insertAttempt}.
   */
  async #targetInserts(next: Next, args: Args): Promise<Output> {
    const statements = (args.input.Statements ?? []) as { Statement?: string; Parameters?: never[] }[];
    let inserts: PartiqlInsert[];
    try {
      inserts = statements.map((st) => parseInsert(String(st.Statement), st.Parameters ?? []));
    } catch {
      return next(args);
    }
    if (!inserts.every((insert) => this.#options.targets.has(insert.table))) return next(args);
    const keyOf = (insert: PartiqlInsert) =>
      text(insert.item[this.#options.targets.get(insert.table) ?? 'pk']) ?? '';
    const shed = inserts.map((insert) => this.#refusesTarget(insert.table, keyOf(insert)));
    const kept = statements.filter((_, i) => !shed[i]);
    const result =
      kept.length > 0 ? await next({ ...args, input: { ...args.input, Statements: kept } }) : { output: {} };
    const answers = [...((result.output as { Responses?: unknown[] }).Responses ?? [])];
    const Responses = shed.map((fault) => {
      if (fault === undefined) return answers.shift();
      return fault === 'throttle'
        ? { Error: { Code: 'ProvisionedThroughputExceeded', Message: 'chaos: throughput exceeded' } }
        : { Error: { Code: 'InternalServerError', Message: 'chaos: internal server error' } };
    });
    return { ...result, output: { ...(result.output as object), Responses } };
  }

  /**
   * One attempt of a target BatchExecuteStatement (inside the SDK's retry loop, as a put's): each
   * insert the table accepted is recorded as an applied write of a new item (an INSERT never
   * replaces one), also when the SDK then sends the request again because the answer was lost.
   */
  async #insertAttempt(next: Next, args: Args): Promise<Output> {
    const statements = (args.input.Statements ?? []) as { Statement?: string; Parameters?: never[] }[];
    const result = await next(args);
    const answers = (result.output as { Responses?: { Error?: unknown }[] }).Responses ?? [];
    for (const [i, statement] of statements.entries()) {
      if (answers[i] === undefined || answers[i]?.Error !== undefined) continue;
      const insert = parseInsert(String(statement.Statement), statement.Parameters ?? []);
      this.#recordApplied({
        table: insert.table,
        key: text(insert.item[this.#options.targets.get(insert.table) ?? 'pk']) ?? '',
        version: text(insert.item[META.version]) ?? '',
        deleted: insert.item[META.deleted] !== undefined,
      });
    }
    this.#answerUnheard();
    return result;
  }

  async #s3Attempt(next: Next, args: Args, context: MiddlewareContext): Promise<Output> {
    if (
      context.commandName === 'PutObjectCommand' &&
      String(args.input.Key ?? '').startsWith('quarantine/') &&
      (this.#slowDownsPerRequest.get(context) ?? 0) < 2 &&
      this.#options.random() < this.#options.slowDownRate
    ) {
      // At most twice per request: the SDK's three attempts always get the object written.
      this.#slowDownsPerRequest.set(context, (this.#slowDownsPerRequest.get(context) ?? 0) + 1);
      this.#options.faults.add('s3SlowDown');
      throw new S3ServiceException({
        name: 'SlowDown',
        $fault: 'server',
        $metadata: { httpStatusCode: 503 },
        message: 'chaos: Please reduce your request rate.',
      });
    }
    return next(args);
  }
}

/** How long a killed Load process stays dead: long enough to catch the writes it had in flight. */
const KILL_MS = 100;
/** How long it may stay dead waiting for a write in flight to lose the answer of. */
const KILL_MAX_MS = 2000;

/** By which attempt of its operations an SQS fault kind has struck at least once. */
const FIRST_FAULT_BY = 3;

/** The SQS operations whose attempts are faulted, with the fault each counts as. */
const SQS_FAULTS: Readonly<Record<string, FaultKind>> = {
  SendMessageCommand: 'sqsSendFault',
  SendMessageBatchCommand: 'sqsSendFault',
  DeleteMessageCommand: 'sqsDeleteFault',
  DeleteMessageBatchCommand: 'sqsDeleteFault',
  ChangeMessageVisibilityCommand: 'sqsVisibilityFault',
  ChangeMessageVisibilityBatchCommand: 'sqsVisibilityFault',
};

/**
 * What a killed process's requests come to: a permanent client error, so neither the SDK nor
 * ESync retries it in the dead process; the message fails and SQS delivers it again.
 */
function killed(): DynamoDBServiceException {
  return new DynamoDBServiceException({
    name: 'ChaosProcessKilled',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: 'chaos: the Load process was killed',
  });
}

/** How a target write attempt is refused. */
type TargetFault = 'throttle' | '5xx';

function internalError(): InternalServerError {
  return new InternalServerError({
    message: 'chaos: internal server error',
    $metadata: { httpStatusCode: 500 },
  });
}

function throttled(table: string): ProvisionedThroughputExceededException {
  return new ProvisionedThroughputExceededException({
    message: `chaos: the level of configured provisioned throughput for table ${table} was exceeded`,
    $metadata: { httpStatusCode: 400 },
  });
}
