import * as z from 'zod';
import { ValidationError } from '../errors.ts';
import { zodIssues } from '../usecases/api/common.ts';

const stringRecord = z.record(z.string(), z.string());

/**
 * The fields of an API Gateway HTTP API (payload 2.0) event that the webhook receiver and the
 * management API read; everything else is ignored. Written here rather than taken from
 * Powertools' parser: its schemas import zod as `{ z }`, which bundles all of zod (353 KB more
 * loaded at each cold start, measured with esbuild's metafile); the tests hold the local
 * gateway's events and the samples in events/apigw to Powertools' full schema instead.
 */
const httpApiEventSchema = z.object({
  rawPath: z.string(),
  headers: stringRecord,
  queryStringParameters: stringRecord.optional(),
  pathParameters: stringRecord.nullish(),
  body: z.string().optional(),
  isBase64Encoded: z.boolean(),
  requestContext: z.object({
    requestId: z.string(),
    stage: z.string(),
    http: z.object({ method: z.string(), path: z.string() }),
    authorizer: z.object({ iam: z.object({ userArn: z.string().optional() }).optional() }).optional(),
  }),
});

/** An API Gateway HTTP API (payload 2.0) event, as far as ESync reads it. */
export type HttpApiEvent = z.infer<typeof httpApiEventSchema>;

/**
 * Parses the event API Gateway hands an HTTP API function (the webhook receiver, the management
 * API).
 * @throws ValidationError naming each field of the event that is missing or wrong (answered 400)
 */
export function parseHttpApiEvent(event: unknown): HttpApiEvent {
  const parsed = httpApiEventSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error, '').map((i) => ({
    ...i,
    path: i.path ? `event.${i.path}` : 'event',
  }));
  throw new ValidationError(
    `not an API Gateway HTTP API event (payload 2.0): ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
    { cause: parsed.error },
  );
}

/** The request body as text (API Gateway base64-encodes a body it does not take for text). */
export function bodyText(event: HttpApiEvent): string | undefined {
  if (event.body === undefined) return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}
