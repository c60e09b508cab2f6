import { snsEventSchema } from '../../shared/usecases/contracts.ts';
import { notifyAlarmWebhooks } from '../../shared/usecases/notify-webhooks.ts';
import { phaseHandler } from '../phase-handler.ts';

/** Subscribed to the stage's alarm topic: posts each pipeline alarm to that pipeline's chat webhooks. */
export const handler = phaseHandler('alert-webhook', snsEventSchema, async (deps, event) => {
  let posted = 0;
  for (const record of event.Records) posted += (await notifyAlarmWebhooks(deps, record.Sns.Message)).posted;
  return { posted };
});
