import * as z from 'zod';

/** The fields of an EventBridge event that routing needs (the rest is kept but not read). */
export const eventBridgeEventSchema = z.object({
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  time: z.string().optional(),
  detail: z.unknown(),
});

export type EventBridgeEvent = z.infer<typeof eventBridgeEventSchema>;

/** True for anything shaped like an EventBridge event, as a rule delivers it to a queue. */
export function isEventBridgeEvent(value: unknown): value is EventBridgeEvent {
  return eventBridgeEventSchema.safeParse(value).success;
}

/** The `detail` of an EventBridge event and its id; any other value is returned as the detail itself. */
export function unwrapEventBridge(value: unknown): {
  detail: unknown;
  eventId?: string;
  detailType?: string;
} {
  const parsed = eventBridgeEventSchema.safeParse(value);
  if (!parsed.success) return { detail: value };
  return { detail: parsed.data.detail, eventId: parsed.data.id, detailType: parsed.data['detail-type'] };
}
