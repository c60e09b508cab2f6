import type { RecordData } from './envelope.ts';
import type { Version } from './version.ts';

/** What the target holds for one key, as far as sync decisions need it. */
export interface TargetState {
  /** Version of our last write (of a tombstone too). */
  readonly version: Version;
  /** Content hash of the data we wrote last (`_h`). */
  readonly hash: string;
  /** True when our last write was a delete (a tombstone). */
  readonly deleted: boolean;
  /** Current data of the record (absent when the target cannot read it back, or for tombstones). */
  readonly data?: RecordData;
}
