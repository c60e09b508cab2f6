/**
 * The search for hard deletes of one Verify partition (`deletes.mode: verify`), over as many
 * invocations as it takes. It reads the target's live keys of the partition (vanished.ts), then
 * the source's keys at any time: the partition's key range, or, for a source whose partitions are
 * not ranges of the record key (a key expression; S3, GitHub, HTTP, DynamoDB), the whole source,
 * which may take longer than one invocation has. So each read checks the time after every page;
 * an invocation whose time runs short saves where the search stands in S3 (the candidates' keys,
 * versions and content hashes, in chunks, and the positions of both reads: no record data) and
 * hands back its key in the continuation; the next invocation goes on from there. Deletes are
 * sent only by the invocation that finishes the search, so each is sent once.
 *
 * A target read by segments (DynamoDB's Scan, the S3 lake's object list) goes on after its last
 * page too; a partition's slice of the run's one target read, the records an S3 lake's
 * comparison already holds and a PostgreSQL target's key range (an index range scan) are read
 * within one invocation.
 */
import { getJsonObject, putJsonObject } from '../../aws/s3-json.ts';
import type {
  Partition,
  SourceConnector,
  TargetChange,
  TargetConnector,
  TargetSnapshotRecord,
} from '../../connectors/types.ts';
import type { Pipeline } from '../../pipeline/schema.ts';
import type { Version } from '../../records/version.ts';
import type { Deps } from '../deps.ts';
import { KEY_READ_PARTITIONS, type KeyReadPosition, VanishedKeys } from '../vanished.ts';
import type { VerifyItem } from './6-verify-partition.ts';
import { keysOfPartition, partitionTargetRecords, SEGMENT_PAGE } from './6-verify-target.ts';

/** Candidates one saved chunk holds, so no object (nor its JSON text) grows without bound. */
export const SEARCH_CHUNK = 50_000;

/** Where a stopped search stands, saved beside its chunks of candidates. */
interface SavedSearch {
  /** The target's read: done, or where its segmented read goes on (`null`: its start). */
  readonly target: { readonly done: boolean; readonly from: string | null };
  /** The source's key read, once the target is read: its partitions and where it stands. */
  readonly source: (KeyReadPosition & { readonly parts: Partition[] }) | null;
  readonly chunks: number;
}

type Chunk = [key: string, version: string, hash: string | null, tie: string][];

/** The search's outcome: the keys the source lacks, or where it stands for the next invocation. */
export type DeletesSearch = { readonly vanished: ReadonlyMap<string, Version> } | { readonly search: string };

/** What the partition found so far that the search reads and adds to. */
export interface SearchFindings {
  /** Records read from the target (or its slice) as a whole. */
  targetRead: number;
  /** The partition's live target records, when comparing read them whole (an S3 lake). */
  readonly targetRecords?: readonly TargetSnapshotRecord[];
}

/** The search being run: whose partition, and the invocation's place in its loop. */
export interface SearchAt {
  readonly pipeline: Pipeline;
  readonly runId: string;
  readonly item: VerifyItem;
  /** The invocation's `seq`; a stop saves under the next one's. */
  readonly seq: number;
  /** Where the invocation before left the search (continuation `search`). @default - it starts */
  readonly search?: string | undefined;
}

const searchKey = (at: SearchAt, seq: number) =>
  `reports/${at.pipeline.name}/${at.runId}/verify/deletes/${encodeURIComponent(at.item.partition.id)}/${seq}`;

const asChange = (r: TargetSnapshotRecord): TargetChange => ({ ...r, tie: '' });

/** One page of the target's read of the partition's keys, from a position (`null`: its start). */
type TargetPages = (from: string | null) => Promise<{ changes: TargetChange[]; next: string | null }>;

/**
 * How the partition reads the target's keys: page by page with a position to go on from, when
 * the target reads by segments and the run planned no slices (the whole target, as one segment);
 * else in one page (its slice, what the comparison read, or the target's own range read).
 */
function targetPages(deps: Deps, at: SearchAt, target: TargetConnector, found: SearchFindings): TargetPages {
  const { pipeline, item } = at;
  const held = found.targetRecords;
  if (held) return async () => ({ changes: held.map(asChange), next: null });
  const segmented = target.segmented;
  if (segmented && !item.targetSlice) {
    const holds = keysOfPartition(pipeline, item.partition as Partition);
    return async (from) => {
      const page = await segmented.readSegment({ index: 0, total: 1 }, from, SEGMENT_PAGE);
      found.targetRead += page.changes.length;
      return { changes: page.changes.filter((c) => holds(c.key)), next: page.next };
    };
  }
  return async () => {
    const changes: TargetChange[] = [];
    const count = (n: number) => {
      found.targetRead += n;
    };
    for await (const page of partitionTargetRecords(deps, pipeline, item, target, count))
      changes.push(...page.map(asChange));
    return { changes, next: null };
  };
}

async function saveSearch(
  deps: Deps,
  key: string,
  state: Omit<SavedSearch, 'chunks'>,
  vanishing: VanishedKeys,
): Promise<void> {
  const put = (name: string, body: unknown) =>
    putJsonObject(deps.clients.s3, deps.config.dataBucket, name, body);
  const changes = vanishing.changes();
  const chunks = Math.ceil(changes.length / SEARCH_CHUNK);
  for (let n = 0; n < chunks; n++)
    await put(
      `${key}-${n}.json`,
      changes.slice(n * SEARCH_CHUNK, (n + 1) * SEARCH_CHUNK).map((c) => [c.key, c.version, c.hash, c.tie]),
    );
  await put(`${key}.json`, { ...state, chunks } satisfies SavedSearch);
}

async function loadSearch(deps: Deps, key: string): Promise<{ state: SavedSearch; vanishing: VanishedKeys }> {
  const get = <T>(name: string) => getJsonObject<T>(deps.clients.s3, deps.config.dataBucket, name);
  const state = await get<SavedSearch>(`${key}.json`);
  const vanishing = new VanishedKeys();
  for (let n = 0; n < state.chunks; n++)
    vanishing.addTarget(
      (await get<Chunk>(`${key}-${n}.json`)).map(([k, version, hash, tie]) => ({
        key: k,
        version,
        hash,
        tie,
      })),
    );
  return { state, vanishing };
}

/** The source partitions whose keys the search reads: the item's key range, or the whole source. */
async function keyReadParts(at: SearchAt, source: SourceConnector): Promise<Partition[]> {
  if (at.item.findDeletes === 'range') return [at.item.partition as Partition];
  return source.planPartitions({ from: null, to: null }, KEY_READ_PARTITIONS);
}

/**
 * Searches the partition's hard deletes from where the invocation before left it, until it is
 * done or `timeIsShort` after a page; then saves where it stands (a retried invocation writes
 * the same key again) and returns that key for the continuation.
 */
export async function searchDeletes(
  deps: Deps,
  at: SearchAt,
  from: { readonly source: SourceConnector; readonly target: TargetConnector },
  found: SearchFindings,
  timeIsShort: () => boolean,
): Promise<DeletesSearch> {
  const { state, vanishing } = at.search
    ? await loadSearch(deps, at.search)
    : { state: { target: { done: false, from: null }, source: null }, vanishing: new VanishedKeys() };
  const stop = async (saved: Omit<SavedSearch, 'chunks'>): Promise<DeletesSearch> => {
    const key = searchKey(at, at.seq + 1);
    await saveSearch(deps, key, saved, vanishing);
    return { search: key };
  };
  if (!state.target.done) {
    const pages = targetPages(deps, at, from.target, found);
    let position = state.target.from;
    do {
      const page = await pages(position);
      vanishing.addTarget(page.changes);
      position = page.next;
    } while (position !== null && !timeIsShort());
    if (position !== null) return stop({ target: { done: false, from: position }, source: null });
    vanishing.targetRead();
  }
  if (vanishing.size === 0) return { vanished: new Map() };
  const parts = state.source?.parts ?? (await keyReadParts(at, from.source));
  const position = state.source ?? { part: 0, cursor: null };
  const done = { done: true, from: null };
  if (!state.target.done && timeIsShort()) return stop({ target: done, source: { parts, ...position } });
  const stopped = await vanishing.readSource(from.source, at.pipeline, parts, position, timeIsShort);
  if (stopped) return stop({ target: done, source: { parts, ...stopped } });
  return { vanished: vanishing.candidates() };
}
