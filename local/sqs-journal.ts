import { appendFileSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A write-ahead journal of the local queues. local-aws-sqs keeps its queues in memory only, so
 * every request that changes them (create a queue, send, receive, change visibility, delete,
 * purge) is appended to a file, one JSON line, before its answer leaves: a message whose
 * SendMessage was answered is on disk. `appendFileSync` without fsync survives the death of the
 * process (SIGKILL included: the data is in the kernel's page cache); a power cut may lose the
 * last writes. At the next start {@link replaySqsJournal} computes what the queues held, with
 * receive counts, delays and the visibility of messages in flight, and the stack puts it back.
 *
 * Only the JSON protocol (what the current SDK speaks) is journaled. A message that
 * local-aws-sqs moves to a dead-letter queue keeps its id there: the journal follows it when the
 * DLQ hands it out, and until then puts it back in its source queue with its receive count, from
 * where the next receive moves it to the DLQ again.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
type Json = Record<string, unknown>;

/** A message as the journal restores it. */
export interface JournaledMessage {
  readonly body: string;
  readonly messageAttributes?: Json;
  readonly groupId?: string;
  readonly deduplicationId?: string;
  /** Times it was handed out (SQS's ApproximateReceiveCount). */
  receiveCount: number;
  /** Epoch ms from when it may be received: its delay, or the visibility of its last receive. */
  visibleAt: number;
}

/** What the queues held when the journal ends. */
export interface SqsJournalState {
  /** Queues in creation order, with the attributes they were created with. */
  readonly queues: ReadonlyArray<{ readonly name: string; readonly attributes: Record<string, string> }>;
  /** Messages still on each queue, by queue name, in the order they were sent. */
  readonly messages: ReadonlyMap<string, JournaledMessage[]>;
}

type Line =
  | { q: string; a: Record<string, string> }
  | {
      s: string;
      m: Array<{ i: string; b: string; ma?: Json; g?: string; d?: string; dl: number }>;
      t: number;
    }
  | { r: string; m: Array<{ i: string; h: string; b?: string; ma?: Json; n?: number }>; v: number; t: number }
  | { c: string; e: Array<[string, number]>; t: number }
  | { x: string; h: string[] }
  | { p: string }
  | { dq: string };

const queueName = (url: unknown) => (typeof url === 'string' ? url.slice(url.lastIndexOf('/') + 1) : '');

/** The journal file of a data dir, and the one a restore is replaying from. */
export function journalFiles(file: string): { current: string; replaying: string } {
  return { current: file, replaying: `${file}.replaying` };
}

/** Wraps local-aws-sqs's request handler so each change is journaled to `file` before it is answered. */
export function journaledSqsHandler(file: string, handler: Handler): Handler {
  const where = new Map<string, string>();
  const attributes = new Map<string, Record<string, string>>();
  const queueDefaults = (queue: string) => ({
    delaySeconds: Number(attributes.get(queue)?.DelaySeconds ?? 0),
    visibilityTimeout: Number(attributes.get(queue)?.VisibilityTimeout ?? 30),
  });
  const append = (line: Line) => appendFileSync(file, `${JSON.stringify(line)}\n`);
  return (req, res) => {
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
    if (!JOURNALED.has(action)) return handler(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    const written: Buffer[] = [];
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk) written.push(Buffer.from(chunk as string));
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function') written.push(Buffer.from(chunk as string));
      if (res.statusCode === 200) {
        const line = journalLine(
          action,
          parse(Buffer.concat(chunks)),
          parse(Buffer.concat(written)),
          where,
          queueDefaults,
        );
        if (line && 'q' in line) attributes.set(line.q, line.a);
        if (line) append(line);
      }
      return end(chunk, ...rest);
    }) as typeof res.end;
    return handler(req, res);
  };
}

const JOURNALED = new Set([
  'CreateQueue',
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'ChangeMessageVisibility',
  'ChangeMessageVisibilityBatch',
  'DeleteMessage',
  'DeleteMessageBatch',
  'PurgeQueue',
  'DeleteQueue',
]);

function parse(bytes: Buffer): Json {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Json) : {};
  } catch {
    return {};
  }
}

/** The journal line of one answered request; `where` follows each message id to its queue. */
function journalLine(
  action: string,
  request: Json,
  response: Json,
  where: Map<string, string>,
  defaults: (queue: string) => { delaySeconds: number; visibilityTimeout: number },
): Line | undefined {
  const q = queueName(request.QueueUrl ?? response.QueueUrl);
  const t = Date.now();
  switch (action) {
    case 'CreateQueue':
      return {
        q: queueName(response.QueueUrl ?? request.QueueName),
        a: (request.Attributes as Record<string, string>) ?? {},
      };
    case 'SendMessage':
    case 'SendMessageBatch':
      return sendLine(action, q, request, response, where, defaults(q).delaySeconds, t);
    case 'ReceiveMessage': {
      const messages = (response.Messages as Json[] | undefined) ?? [];
      if (messages.length === 0) return undefined;
      const v = Number(request.VisibilityTimeout ?? defaults(q).visibilityTimeout);
      return { r: q, m: messages.map((m) => receivedEntry(m, q, where)), v, t };
    }
    case 'ChangeMessageVisibility':
      return { c: q, e: [[String(request.ReceiptHandle), Number(request.VisibilityTimeout)]], t };
    case 'ChangeMessageVisibilityBatch': {
      const ok = new Set(((response.Successful as Json[] | undefined) ?? []).map((s) => s.Id));
      const entries = ((request.Entries as Json[] | undefined) ?? []).filter((e) => ok.has(e.Id));
      return { c: q, e: entries.map((e) => [String(e.ReceiptHandle), Number(e.VisibilityTimeout)]), t };
    }
    case 'DeleteMessage':
      return { x: q, h: [String(request.ReceiptHandle)] };
    case 'DeleteMessageBatch': {
      const ok = new Set(((response.Successful as Json[] | undefined) ?? []).map((s) => s.Id));
      const entries = (request.Entries as Json[] | undefined) ?? [];
      return { x: q, h: entries.filter((e) => ok.has(e.Id)).map((e) => String(e.ReceiptHandle)) };
    }
    case 'PurgeQueue':
      return { p: q };
    case 'DeleteQueue':
      return { dq: q };
    default:
      return undefined;
  }
}

function sendLine(
  action: string,
  q: string,
  request: Json,
  response: Json,
  where: Map<string, string>,
  queueDelay: number,
  t: number,
): Line | undefined {
  const sent =
    action === 'SendMessage'
      ? [{ request, messageId: response.MessageId }]
      : ((response.Successful as Json[] | undefined) ?? []).map((s) => ({
          request: ((request.Entries as Json[] | undefined) ?? []).find((e) => e.Id === s.Id) ?? {},
          messageId: s.MessageId,
        }));
  if (sent.length === 0) return undefined;
  return {
    s: q,
    t,
    m: sent.map(({ request: r, messageId }) => {
      where.set(String(messageId), q);
      return {
        i: String(messageId),
        b: String(r.MessageBody ?? ''),
        ...(r.MessageAttributes !== undefined && { ma: r.MessageAttributes as Json }),
        ...(typeof r.MessageGroupId === 'string' && { g: r.MessageGroupId }),
        ...(typeof r.MessageDeduplicationId === 'string' && { d: r.MessageDeduplicationId }),
        dl: Number(r.DelaySeconds ?? queueDelay),
      };
    }),
  };
}

/** A received message; one the journal has not seen on this queue (moved to a DLQ) with its body. */
function receivedEntry(m: Json, q: string, where: Map<string, string>) {
  const id = String(m.MessageId);
  const known = where.get(id) === q;
  where.set(id, q);
  if (known) return { i: id, h: String(m.ReceiptHandle) };
  const attributes = (m.Attributes as Record<string, string> | undefined) ?? {};
  return {
    i: id,
    h: String(m.ReceiptHandle),
    b: String(m.Body ?? ''),
    ...(m.MessageAttributes !== undefined && { ma: m.MessageAttributes as Json }),
    n: Number(attributes.ApproximateReceiveCount ?? 1),
  };
}

/**
 * What the queues held at the end of the journal `file`: the queues created, and each message
 * sent and not deleted, with its receive count and when it may next be received.
 */
export function replaySqsJournal(file: string): SqsJournalState {
  const queues = new Map<string, Record<string, string>>();
  const messages = new Map<string, Map<string, JournaledMessage>>();
  const byHandle = new Map<string, string>();
  const home = new Map<string, string>();
  const onQueue = (q: string) => messages.get(q) ?? messages.set(q, new Map()).get(q) ?? new Map();
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      continue; // only the last line can be cut, by a death in the middle of its write
    }
    if ('q' in line) queues.set(line.q, line.a);
    else if ('s' in line)
      for (const m of line.m) {
        home.set(m.i, line.s);
        onQueue(line.s).set(m.i, {
          body: m.b,
          ...(m.ma && { messageAttributes: m.ma }),
          ...(m.g && { groupId: m.g }),
          ...(m.d && { deduplicationId: m.d }),
          receiveCount: 0,
          visibleAt: line.t + m.dl * 1000,
        });
      }
    else if ('r' in line)
      for (const m of line.m) {
        byHandle.set(m.h, m.i);
        const from = home.get(m.i);
        const message = from === undefined ? undefined : messages.get(from)?.get(m.i);
        if (from !== undefined && from !== line.r) messages.get(from)?.delete(m.i);
        const kept = message ?? {
          body: m.b ?? '',
          ...(m.ma && { messageAttributes: m.ma }),
          receiveCount: 0,
          visibleAt: 0,
        };
        kept.receiveCount = m.n ?? kept.receiveCount + 1;
        kept.visibleAt = line.t + line.v * 1000;
        home.set(m.i, line.r);
        onQueue(line.r).set(m.i, kept);
      }
    else if ('c' in line)
      for (const [h, v] of line.e) {
        const id = byHandle.get(h);
        const message = id === undefined ? undefined : messages.get(line.c)?.get(id);
        if (message) message.visibleAt = line.t + v * 1000;
      }
    else if ('x' in line)
      for (const h of line.h) {
        const id = byHandle.get(h);
        if (id !== undefined) messages.get(line.x)?.delete(id);
      }
    else if ('p' in line) messages.get(line.p)?.clear();
    else if ('dq' in line) {
      queues.delete(line.dq);
      messages.delete(line.dq);
    }
  }
  return {
    queues: [...queues].map(([name, attributes]) => ({ name, attributes })),
    messages: new Map([...messages].map(([q, m]) => [q, [...m.values()]])),
  };
}

/**
 * Starts a new journal from an old one: the old is renamed aside (kept until the restore is
 * done, so a death in the middle of the restore replays it again) and its state returned.
 */
export function beginReplay(file: string): SqsJournalState {
  const { replaying } = journalFiles(file);
  if (existsSync(replaying)) rmSync(file, { force: true });
  else if (existsSync(file)) renameSync(file, replaying);
  return replaySqsJournal(replaying);
}

/** The restore went through the new journal: the old one can go. */
export function endReplay(file: string): void {
  rmSync(journalFiles(file).replaying, { force: true });
}
