import { isPushOnlySource } from './push-only-sources.ts';
import type { Pipeline } from './schema.ts';
import type { PipelineWarning } from './warnings.ts';

/**
 * What a channel's versions are made of, which decides whether they order with another
 * channel's (`records/version.ts`):
 * - `change-time`: the source's own change time of the record (a commit time, an
 *   `updated_at`, an object's LastModified): the one order every channel shares;
 * - `read-time`: the time a full read started, which the read's data is the state at or
 *   after: in the same order, by ESync's clock against the source's;
 * - `cursor`: the cursor's first field: a timestamp joins the shared order, an integer gives
 *   positions (`p:`) that sort below every timestamped version;
 * - `arrival-time`: when a delivery arrived, not when the record changed;
 * - `sender`: whatever the sender of an `esync.change` event sets.
 */
export type VersionBasis = 'change-time' | 'read-time' | 'cursor' | 'arrival-time' | 'sender';

/** One way changes reach a pipeline's target, and the version it stamps them with. */
export interface PipelineChannel {
  readonly pipeline: string;
  readonly channel: 'poll' | 'webhook' | 'bus' | 'kafka';
  /** The setting that opens the channel. */
  readonly via: string;
  readonly basis: VersionBasis;
  /** The version the channel carries, for people. */
  readonly version: string;
}

/** Whether the channels of one combination order their changes the same way. */
export type SharedOrder = 'one' | 'if-timestamp-cursor' | 'if-sender-follows' | 'no';

/** Channels whose changes meet in one target: one pipeline's, or several pipelines' on one key space. */
export interface ChannelCombination {
  readonly pipelines: readonly string[];
  /** The target they meet in. */
  readonly target: string;
  readonly channels: readonly PipelineChannel[];
  readonly order: SharedOrder;
  /** What ESync does with the combination. */
  readonly explanation: string;
}

const STREAM_VERSION =
  'the commit time (source.ts_ms), then the log position: t:<time>|3|<position>; snapshot reads s:, below every change';

function cursorVersion(cursor: readonly string[], rank: 1 | 2): string {
  const [field] = cursor;
  return `cursor [${cursor.join(', ')}]: t:<time>|${rank}|<key> when ${field} holds timestamps, p:<position> (below every timestamp) when it holds integers`;
}

function pollChannel(p: Pipeline): PipelineChannel {
  const via = p.triggers.schedule ? 'triggers.schedule' : 'esync run';
  const channel = { pipeline: p.name, channel: 'poll', via } as const;
  if (p.source.type === 'github')
    return { ...channel, basis: 'change-time', version: "the resource's updated_at: t:<time>|2|<key>" };
  if (p.source.type === 's3')
    return {
      ...channel,
      basis: 'change-time',
      version: "the object's LastModified: t:<time>|2|<object>|<line>",
    };
  if (p.source.cursor.length > 0)
    return { ...channel, basis: 'cursor', version: cursorVersion(p.source.cursor, 2) };
  return { ...channel, basis: 'read-time', version: 'the time the full read started: t:<time>|2|<key>' };
}

function webhookChannel(p: Pipeline): PipelineChannel {
  const channel = { pipeline: p.name, channel: 'webhook', via: 'triggers.webhook' } as const;
  const source = p.source;
  if (source.type === 'github' || (source.type === 'webhook' && source.mapping === 'github'))
    return { ...channel, basis: 'change-time', version: "the entity's updated_at: t:<time>|1|<key>" };
  if (source.cursor.length > 0)
    return { ...channel, basis: 'cursor', version: cursorVersion(source.cursor, 1) };
  return {
    ...channel,
    basis: 'arrival-time',
    version: 'the arrival time of the delivery: t:<time>|1|<delivery id>',
  };
}

/** Plain records from Kafka, mapped as a JSON webhook body is (`kafka/records.ts`). */
function plainKafkaChannel(p: Pipeline): PipelineChannel {
  const channel = { pipeline: p.name, channel: 'kafka', via: 'triggers.kafka' } as const;
  if (p.source.cursor.length > 0)
    return { ...channel, basis: 'cursor', version: cursorVersion(p.source.cursor, 1) };
  return {
    ...channel,
    basis: 'arrival-time',
    version: "the Kafka record's timestamp: t:<time>|1|<topic>:<partition>:<offset>",
  };
}

/** The channels that feed one pipeline's target. */
export function pipelineChannels(p: Pipeline): PipelineChannel[] {
  const { source, triggers } = p;
  const stream = (channel: 'bus' | 'kafka', via: string) =>
    ({ pipeline: p.name, channel, via, basis: 'change-time', version: STREAM_VERSION }) as const;
  const channels: PipelineChannel[] = [];
  if (!isPushOnlySource(source.type)) channels.push(pollChannel(p));
  if (triggers.webhook) channels.push(webhookChannel(p));
  if (triggers.cdc)
    channels.push(
      source.type === 'cdc' && source.format === 'esync'
        ? {
            ...stream('bus', 'triggers.cdc'),
            basis: 'sender',
            version: 'the version the esync.change event carries, as its sender set it',
          }
        : stream('bus', 'triggers.cdc'),
    );
  if (triggers.kafka)
    channels.push(source.type === 'kafka' ? plainKafkaChannel(p) : stream('kafka', 'triggers.kafka'));
  return channels;
}

/**
 * The key space a pipeline writes, when another pipeline can name the same one; undefined for a
 * target that is the pipeline's own (a DynamoDB table ESync creates, an S3 lake folder).
 */
export function sharedTargetOf(p: Pipeline): string | undefined {
  const t = p.target;
  switch (t.type) {
    case 'dynamodb':
      return t.table === undefined ? undefined : `dynamodb table ${t.table}`;
    case 'postgres':
      return `postgres table ${t.schema}.${t.table} (connection ${t.connection.secret})`;
    case 'http':
      return `http ${t.url}`;
    case 's3':
      return undefined;
  }
}

function sharedOrderOf(channels: readonly PipelineChannel[]): SharedOrder {
  const bases = new Set(channels.map((c) => c.basis));
  if (bases.has('arrival-time')) return 'no';
  if (bases.has('sender')) return 'if-sender-follows';
  if (bases.has('cursor')) return 'if-timestamp-cursor';
  return 'one';
}

const EXPLANATIONS: Readonly<Record<SharedOrder, string>> = {
  one: 'One version order: the newer change wins whichever channel brought it; at an equal millisecond a change stream wins over a poll, a poll over a webhook; equal versions are decided by content hash. Every change is counted once, loaded or skipped as stale.',
  'if-timestamp-cursor':
    'One version order when every cursor named holds timestamps (e.g. [updated_at]); an integer cursor gives positions (p:), which sort below every timestamped version, so its changes would lose to every other channel: name a timestamp cursor.',
  'if-sender-follows':
    'One version order only when the esync.change sender builds versions as records/version.ts does (t:<ISO time>|3|<position> for a stream); any other version compares by its bytes alone.',
  no: 'No shared order: a delivery versioned by its arrival time overwrites a newer change that came by another channel before it arrived.',
};

/**
 * The advice for a channel whose versions keep a combination from one order. A cursor gets none:
 * whether it holds timestamps shows only in the data, and the combination's explanation says
 * what an integer one does.
 */
function adviceFor(
  channel: PipelineChannel,
  others: readonly PipelineChannel[],
): PipelineWarning | undefined {
  if (others.every((o) => o.basis === channel.basis)) return undefined;
  const names = [...new Set(others.map((o) => `${o.pipeline} ${o.channel}`))].join(', ');
  const at = (path: string, message: string) => ({ pipeline: channel.pipeline, path, message });
  switch (channel.basis) {
    case 'arrival-time':
      return at(
        'source.cursor',
        `is empty: the ${channel.channel} channel is versioned by arrival time and cannot be ordered with ${names}. Name the entity timestamp as cursor (e.g. [updated_at]).`,
      );
    case 'sender':
      return at(
        'source.format',
        `is esync: the bus channel carries its sender's versions, ordered with ${names} only when they are t:<ISO time>|3|<position> (records/version.ts). Use format debezium, or build versions that way.`,
      );
    default:
      return undefined;
  }
}

function combinationOf(pipelines: readonly Pipeline[], target: string): ChannelCombination {
  const channels = pipelines.flatMap(pipelineChannels);
  const order = sharedOrderOf(channels);
  return {
    pipelines: pipelines.map((p) => p.name),
    target,
    channels,
    order,
    explanation: EXPLANATIONS[order],
  };
}

/** Pipelines that write the same key space must make the same key of the same record. */
function keyWarnings(pipelines: readonly Pipeline[], target: string): PipelineWarning[] {
  const [first, ...rest] = pipelines;
  if (!first) return [];
  const key = (p: Pipeline) => p.source.keyExpression ?? `[${p.source.key.join(', ')}]`;
  return rest
    .filter((p) => key(p) !== key(first))
    .map((p) => ({
      pipeline: p.name,
      path: 'source.key',
      message: `is ${key(p)}, but ${first.name} writes the same ${target} with key ${key(first)}: one record would be stored under two keys and neither version order nor dedup would meet. Use the same key fields (or key expression).`,
    }));
}

/**
 * The combinations of channels among `pipelines`: each pipeline fed by more than one channel,
 * and each key space that several pipelines write; with a warning and advice for every channel
 * that keeps a combination from one version order.
 */
export function channelCombinations(pipelines: readonly Pipeline[]): {
  combinations: ChannelCombination[];
  warnings: PipelineWarning[];
} {
  const groups = new Map<string, Pipeline[]>();
  for (const p of pipelines) {
    const target = sharedTargetOf(p) ?? `${p.target.type} target of ${p.name}`;
    groups.set(target, [...(groups.get(target) ?? []), p]);
  }
  const combinations: ChannelCombination[] = [];
  const warnings: PipelineWarning[] = [];
  for (const [target, members] of groups) {
    const combination = combinationOf(members, target);
    if (combination.channels.length < 2) continue;
    combinations.push(combination);
    warnings.push(...keyWarnings(members, target));
    for (const channel of combination.channels) {
      const advice = adviceFor(
        channel,
        combination.channels.filter((c) => c !== channel),
      );
      if (advice) warnings.push(advice);
    }
  }
  return { combinations, warnings };
}
