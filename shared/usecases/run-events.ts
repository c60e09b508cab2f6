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
