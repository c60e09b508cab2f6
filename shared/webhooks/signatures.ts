import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError, UnauthorizedError } from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';

/** The `triggers.webhook` block of a pipeline. */
export type WebhookTrigger = NonNullable<Pipeline['triggers']['webhook']>;

/** Request headers; names are matched without regard to case. */
export type WebhookHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Why a delivery was refused. Safe to log and to return to the caller: it reveals no secret. */
export type SignatureFailure = 'missing-header' | 'malformed' | 'mismatch' | 'stale-timestamp';

/** A delivery whose signature does not hold. Maps to 401 at the edge. */
export class SignatureError extends UnauthorizedError {
  readonly reason: SignatureFailure;
  constructor(reason: SignatureFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A delivery whose signature holds. */
export interface VerifiedDelivery {
  readonly scheme: WebhookTrigger['signature'];
  /** The sender's id of the delivery, the same on redelivery (`X-GitHub-Delivery`, `webhook-id`); the dedup key. */
  readonly deliveryId?: string;
  /** The signed timestamp, in Unix seconds, when the scheme signs one. */
  readonly timestamp?: number;
}

type Body = string | Uint8Array;
/** One secret, or several during a rotation (any of them verifies). */
type Secrets = string | readonly string[];

/** A header's value, its name matched without regard to case (the first value when repeated). */
export function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers))
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : (value as string | undefined);
  return undefined;
}

function requireHeader(headers: WebhookHeaders, name: string): string {
  const value = headerValue(headers, name)?.trim();
  if (!value) throw new SignatureError('missing-header', `the ${name} header is missing`);
  return value;
}

function secretList(secrets: Secrets): readonly string[] {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0 || list.some((s) => s === ''))
    throw new ConfigError('a webhook signing secret is empty');
  return list;
}

function hmac(algorithm: string, key: string | Buffer, ...parts: Body[]): Buffer {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Constant-time comparison that also refuses different lengths without comparing. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function checkTimestamp(raw: string, name: string, toleranceSeconds: number, now: Date): number {
  if (!/^\d{1,16}$/.test(raw))
    throw new SignatureError('malformed', `the ${name} header is not a Unix timestamp`);
  let seconds = Number(raw);
  // Some senders sign milliseconds; a seconds value this large would be in the year 33658.
  if (seconds > 1e12) seconds = Math.floor(seconds / 1000);
  const skew = Math.abs(now.getTime() / 1000 - seconds);
  if (skew > toleranceSeconds)
    throw new SignatureError(
      'stale-timestamp',
      `the ${name} header is ${Math.round(skew)} s away from now; at most ${toleranceSeconds} s is accepted`,
    );
  return seconds;
}

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. The delivery id is
 * `X-GitHub-Delivery`.
 */
export function verifyGithubSignature(
  body: Body,
  headers: WebhookHeaders,
  secrets: Secrets,
): VerifiedDelivery {
  const signature = requireHeader(headers, 'x-hub-signature-256');
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(signature);
  if (!match)
    throw new SignatureError('malformed', 'the x-hub-signature-256 header is not sha256=<64 hex digits>');
  const given = Buffer.from(match[1] as string, 'hex');
  if (!secretList(secrets).some((secret) => sameBytes(hmac('sha256', secret, body), given)))
    throw new SignatureError('mismatch', 'the x-hub-signature-256 signature does not match the body');
  const deliveryId = headerValue(headers, 'x-github-delivery')?.trim();
  return { scheme: 'github', ...(deliveryId ? { deliveryId } : {}) };
}

/** The HMAC key of a Standard Webhooks secret: base64 after an optional `whsec_` prefix. */
export function standardWebhooksKey(secret: string): Buffer {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length === 0)
    throw new ConfigError('a Standard Webhooks secret must be base64, optionally prefixed by whsec_');
  return key;
}

/**
 * Standard Webhooks (standardwebhooks.com): `webhook-signature` lists space-separated
 * `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`; the sender lists one
 * per secret while it rotates, and any match verifies. The timestamp must be within
 * `toleranceSeconds` of now, so a captured delivery cannot be replayed later.
 */
export function verifyStandardWebhook(
  body: Body,
  headers: WebhookHeaders,
  secrets: Secrets,
  options: { readonly toleranceSeconds: number; readonly now?: Date },
): VerifiedDelivery {
  const id = requireHeader(headers, 'webhook-id');
  const rawTimestamp = requireHeader(headers, 'webhook-timestamp');
  const signatures = requireHeader(headers, 'webhook-signature')
    .split(' ')
    .filter((s) => s !== '')
    .map((entry) => {
      const comma = entry.indexOf(',');
      return comma < 0
        ? { version: entry, value: '' }
        : { version: entry.slice(0, comma), value: entry.slice(comma + 1) };
    })
    .filter((s) => s.version === 'v1')
    .map((s) => Buffer.from(s.value, 'base64'));
  if (signatures.length === 0)
    throw new SignatureError('malformed', 'the webhook-signature header holds no v1,<base64> signature');
  if (!/^\d{1,16}$/.test(rawTimestamp))
    throw new SignatureError('malformed', 'the webhook-timestamp header is not a Unix timestamp');
  const keys = secretList(secrets).map(standardWebhooksKey);
  const verified = keys.some((key) => {
    const expected = hmac('sha256', key, `${id}.${rawTimestamp}.`, body);
    return signatures.some((given) => sameBytes(expected, given));
  });
  if (!verified) throw new SignatureError('mismatch', 'no webhook-signature signature matches the delivery');
  const timestamp = checkTimestamp(
    rawTimestamp,
    'webhook-timestamp',
    options.toleranceSeconds,
    options.now ?? new Date(),
  );
  return { scheme: 'standard-webhooks', deliveryId: id, timestamp };
}

/**
 * Generic HMAC: `header` holds the hex HMAC (optionally prefixed `<algorithm>=`) of the raw body,
 * or, when `timestampHeader` is set, of `<timestamp>.<body>` with the timestamp within
 * `toleranceSeconds` of now.
 */
export function verifyHmacSignature(
  body: Body,
  headers: WebhookHeaders,
  secrets: Secrets,
  options: {
    readonly header: string;
    readonly algorithm: 'sha256' | 'sha512' | 'sha1';
    readonly timestampHeader?: string | undefined;
    readonly toleranceSeconds: number;
    readonly now?: Date;
  },
): VerifiedDelivery {
  const signature = requireHeader(headers, options.header);
  const hexLength = { sha1: 40, sha256: 64, sha512: 128 }[options.algorithm];
  const match = new RegExp(`^(?:${options.algorithm}=)?([0-9a-fA-F]{${hexLength}})$`).exec(signature);
  if (!match)
    throw new SignatureError(
      'malformed',
      `the ${options.header} header is not ${hexLength} hex digits of an HMAC-${options.algorithm.toUpperCase()}`,
    );
  const given = Buffer.from(match[1] as string, 'hex');
  const rawTimestamp = options.timestampHeader ? requireHeader(headers, options.timestampHeader) : undefined;
  if (rawTimestamp !== undefined && !/^\d{1,16}$/.test(rawTimestamp))
    throw new SignatureError('malformed', `the ${options.timestampHeader} header is not a Unix timestamp`);
  const parts: Body[] = rawTimestamp === undefined ? [body] : [`${rawTimestamp}.`, body];
  if (!secretList(secrets).some((secret) => sameBytes(hmac(options.algorithm, secret, ...parts), given)))
    throw new SignatureError('mismatch', `the ${options.header} signature does not match the body`);
  if (rawTimestamp === undefined || options.timestampHeader === undefined) return { scheme: 'hmac' };
  const timestamp = checkTimestamp(
    rawTimestamp,
    options.timestampHeader,
    options.toleranceSeconds,
    options.now ?? new Date(),
  );
  return { scheme: 'hmac', timestamp };
}

/**
 * The signing secrets a Secrets Manager value holds: a JSON array of strings during a rotation
 * (old and new both verify), otherwise the value itself.
 */
export function signingSecrets(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (
        Array.isArray(parsed) &&
        parsed.length > 0 &&
        parsed.every((s) => typeof s === 'string' && s !== '')
      )
        return parsed;
    } catch {
      // not JSON: the value is a secret that happens to start with "["
    }
  }
  return [value];
}

/**
 * Verifies a delivery the way the pipeline's `triggers.webhook` says.
 * @param secret - The secret's value as stored (see {@link signingSecrets} for rotation).
 * @throws SignatureError (an UnauthorizedError) naming the reason; never the expected signature.
 */
export function verifyDelivery(
  trigger: WebhookTrigger,
  secret: string,
  headers: WebhookHeaders,
  rawBody: Body,
  now: Date = new Date(),
): VerifiedDelivery {
  const secrets = signingSecrets(secret);
  switch (trigger.signature) {
    case 'github':
      return verifyGithubSignature(rawBody, headers, secrets);
    case 'standard-webhooks':
      return verifyStandardWebhook(rawBody, headers, secrets, {
        toleranceSeconds: trigger.toleranceSeconds,
        now,
      });
    case 'hmac':
      return verifyHmacSignature(rawBody, headers, secrets, {
        header: trigger.header,
        algorithm: trigger.algorithm,
        timestampHeader: trigger.timestampHeader,
        toleranceSeconds: trigger.toleranceSeconds,
        now,
      });
  }
}
