import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Deps } from './deps.ts';

/** Emits a run event on the ESync bus. */
export async function emitRunEvent(
  deps: Deps,
  detailType: string,
  detail: Record<string, unknown>,
): Promise<void> {
  await deps.clients.eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: deps.config.eventBus,
          Source: 'esync',
          DetailType: detailType,
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
}

/** What `esync.conflict.parked` says of a conflict: where to find it, never the record's data. */
export interface ConflictParked {
  readonly pipeline: string;
  readonly conflictId: string;
  readonly key: string;
  readonly fields: readonly string[];
}

/** Emits `esync.conflict.parked` for a conflict parked for the first time. */
export function emitConflictParked(deps: Deps, parked: ConflictParked): Promise<void> {
  const { pipeline, conflictId, key, fields } = parked;
  return emitRunEvent(deps, 'esync.conflict.parked', { pipeline, conflictId, key, fields });
}
