/**
 * The extension point of ESync: what a module in the user's `extensions/` folder imports to add
 * validators, sources and targets of its own. Each module exports the values `defineValidator`,
 * `defineSource` and `defineTarget` return; `esync validate`, `esync dev|run` (the local stack)
 * and the CDK app load the folder, refuse a pipeline naming anything no module registers, and
 * bundle each module into the functions that run what it registers (README, Extending ESync).
 */

export { RowMapper } from '../connectors/sources/support/rows.ts';
export type {
  ChangeWindow,
  ConnectorContext,
  Cursor,
  FieldInfo,
  Partition,
  SourceConnector,
  SourceDiscovery,
  SourceRow,
  TargetConnector,
  TargetSnapshotRecord,
  TargetState,
  TargetWrite,
  WriteOutcome,
} from '../connectors/types.ts';
export { compareCursors } from '../domain/cursor.ts';
export type { CustomValidator } from '../domain/validation.ts';
export { ConnectorError, TransientError } from '../errors.ts';
export type { RecordData } from '../records/envelope.ts';
export { parseExactJson } from '../records/exact-json.ts';
export {
  type ConnectorSpec,
  defineSource,
  defineTarget,
  defineValidator,
  type SourceDefinition,
  type TargetDefinition,
  type ValidatorDefinition,
} from './definitions.ts';
