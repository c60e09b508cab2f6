import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { type HttpGateway, startHttpGateway } from '../../local/http-gateway.ts';
import type { PipelineInput } from '../../shared/pipeline/schema.ts';
import { type FuzzEnv, startFuzzEnv } from './fuzz-env.ts';

/**
 * The webhook half of the bad-input suite: generated bad deliveries sent over HTTP to the local
 * API gateway in front of the real webhook handler, which runs against the embedded SQS, DynamoDB
 * and Secrets Manager servers. Every answer must be a 4xx with a JSON error saying what is wrong,
 * and nothing may reach the load queues. Valid deliveries sent first (the controls) must be
 * accepted and queued, so a broken setup cannot pass for a strict one.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const WEBHOOK_KINDS = [
  'unsigned',
  'wrong-signature',
  'wrong-secret',
  'stale-timestamp',
  'replayed',
  'malformed-json',
  'wrong-content-type',
  'oversized',
  'deep-nesting',
  'unknown-pipeline',
  'huge-headers',
  'random-bytes',
] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

type Scheme = 'github' | 'standard-webhooks' | 'hmac';

interface FuzzPipeline {
  readonly name: string;
  readonly scheme: Scheme;
  readonly secretName: string;
  readonly secret: string;
  readonly maxBodyBytes: number;
  readonly toleranceSeconds: number;
}

/** The webhook pipelines under test: one per signature scheme, with small body limits so oversized bodies stay cheap. */
export const FUZZ_PIPELINES: readonly FuzzPipeline[] = [
  {
    name: 'fuzz-github',
    scheme: 'github',
    secretName: 'esync/fuzz/github',
    secret: 'gh-fuzz-secret-4f1c9a',
    maxBodyBytes: 32_768,
    toleranceSeconds: 300,
  },
  {
    name: 'fuzz-standard',
    scheme: 'standard-webhooks',
    secretName: 'esync/fuzz/standard',
    secret: `whsec_${Buffer.from('standard-webhooks-fuzz-key-7d2e').toString('base64')}`,
    maxBodyBytes: 16_384,
    toleranceSeconds: 300,
  },
  {
    name: 'fuzz-hmac',
    scheme: 'hmac',
    secretName: 'esync/fuzz/hmac',
    secret: 'hmac-fuzz-secret-b83e01',
    maxBodyBytes: 16_384,
    toleranceSeconds: 120,
  },
];

/** A pipeline that exists but takes no webhooks: a delivery to it is as unknown as one to a made-up name. */
const BATCH_PIPELINE = 'fuzz-batch';

function pipelineInputs(): PipelineInput[] {
  const webhook = FUZZ_PIPELINES.map(
    (p): PipelineInput => ({
      name: p.name,
      source: {
        type: 'webhook',
        mapping: p.scheme === 'github' ? 'github' : 'json',
        key: p.scheme === 'github' ? ['kind', 'id'] : ['id'],
      },
      target: { type: 'dynamodb' },
      triggers: {
        webhook: {
          signature: p.scheme,
          secret: p.secretName,
          maxBodyBytes: p.maxBodyBytes,
          toleranceSeconds: p.toleranceSeconds,
          ...(p.scheme === 'hmac' && {
            header: 'x-signature',
            algorithm: 'sha256',
            timestampHeader: 'x-timestamp',
          }),
        },
      },
    }),
  );
  const batch: PipelineInput = {
    name: BATCH_PIPELINE,
    source: { type: 'postgres', connection: { secret: 'esync/fuzz/db' }, table: 'users', key: ['id'] },
    target: { type: 'dynamodb' },
  };
  return [...webhook, batch];
}

const GITHUB_PAYLOAD = JSON.parse(
  readFileSync(path.join(ROOT, 'events/github/issues.opened.json'), 'utf8'),
) as {
  issue: Record<string, unknown>;
} & Record<string, unknown>;

const GITHUB_PAYLOAD_BYTES = Buffer.byteLength(JSON.stringify(GITHUB_PAYLOAD));

// ------------------------------------------------------------------------------------ recipes

type Signing =
  | { readonly mode: 'valid'; readonly offsetSeconds: number }
  /** No signature header; the other headers of the scheme listed in `keep` are still sent. */
  | { readonly mode: 'none'; readonly keep: readonly string[] }
  | { readonly mode: 'wrong-secret'; readonly secret: string }
  /** The signature header (or, with `header`, another signed header) replaced by junk. */
  | { readonly mode: 'garbage'; readonly value: string; readonly header?: 'timestamp' | 'id' }
  /** Signed over `signedBody`, sent with another body. */
  | { readonly mode: 'tamper'; readonly signedBody: string }
  /** Signed `ageSeconds` ago, sent with the timestamp header set to now. */
  | { readonly mode: 'replay-refreshed'; readonly ageSeconds: number };

/** A request as data; signatures are computed when it is sent, against the clock then. */
export interface RequestRecipe {
  readonly method: string;
  /** The pipeline segment of `/webhooks/<pipeline>` as sent (already URL-encoded), or a whole path. */
  readonly path: string;
  /** Whose scheme and secret sign the request. */
  readonly signer: FuzzPipeline;
  readonly body: string | Uint8Array;
  /** `null`: no content-type header. */
  readonly contentType: string | null;
  readonly signing: Signing;
  readonly deliveryId: string;
  readonly extraHeaders: ReadonlyArray<readonly [string, string]>;
  readonly description: string;
}

/** One generated bad request. */
export interface WebhookRecipe extends RequestRecipe {
  readonly kind: WebhookKind;
  /** Statuses a correct endpoint may answer. */
  readonly expect: readonly number[];
}

const printable = (min: number, max: number) =>
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: min,
    maxLength: max,
  });
const hexString = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`));
const headerName = fc.stringMatching(/^x-[a-z0-9-]{1,20}$/);

const pipelineArb = fc.constantFrom(...FUZZ_PIPELINES);
const timedPipelineArb = fc.constantFrom(...FUZZ_PIPELINES.filter((p) => p.scheme !== 'github'));

const jsonRecord = fc.record({
  id: fc.oneof(fc.integer({ min: 1, max: 2 ** 40 }), fc.stringMatching(/^[a-z0-9]{1,16}$/)),
  name: fc.string({ unit: 'grapheme', maxLength: 24 }),
  score: fc.integer(),
  active: fc.boolean(),
});

/** A body the pipeline would accept if nothing else were wrong with the request. */
function validBody(p: FuzzPipeline): fc.Arbitrary<string> {
  if (p.scheme === 'github')
    return fc
      .integer({ min: 1, max: 2 ** 31 })
      .map((id) => JSON.stringify({ ...GITHUB_PAYLOAD, issue: { ...GITHUB_PAYLOAD.issue, id } }));
  return fc.oneof(
    jsonRecord.map((r) => JSON.stringify(r)),
    fc.array(jsonRecord, { minLength: 1, maxLength: 3 }).map((rs) => JSON.stringify(rs)),
  );
}

const withValidBody = (arb: fc.Arbitrary<FuzzPipeline>) =>
  arb.chain((p) => fc.tuple(fc.constant(p), validBody(p), fc.uuid()));

const base = (kind: WebhookKind, p: FuzzPipeline, body: string | Uint8Array, deliveryId: string) => ({
  kind,
  method: 'POST',
  path: p.name,
  signer: p,
  body,
  contentType: 'application/json' as string | null,
  deliveryId,
  extraHeaders: [] as Array<readonly [string, string]>,
});

/** The headers a scheme sends besides the signature itself. */
const companionHeaders: Record<Scheme, readonly string[]> = {
  github: ['x-github-delivery', 'x-github-event'],
  'standard-webhooks': ['webhook-id', 'webhook-timestamp'],
  hmac: ['x-timestamp'],
};

function garbageSignature(p: FuzzPipeline): fc.Arbitrary<string> {
  const common = [printable(0, 80), fc.constantFrom('', ' ', 'null', 'sha256=', 'v1,', '0')];
  switch (p.scheme) {
    case 'github':
      return fc.oneof(
        hexString(64).map((h) => `sha256=${h}`),
        hexString(40).map((h) => `sha1=${h}`),
        hexString(63).map((h) => `sha256=${h}`),
        hexString(64),
        ...common,
      );
    case 'standard-webhooks':
      return fc.oneof(
        fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `v1,${Buffer.from(b).toString('base64')}`),
        fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => `v2,${Buffer.from(b).toString('base64')}`),
        fc
          .array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 2, maxLength: 4 })
          .map((bs) => bs.map((b) => `v1,${Buffer.from(b).toString('base64')}`).join(' ')),
        ...common,
      );
    case 'hmac':
      return fc.oneof(
        hexString(64),
        hexString(64).map((h) => `sha256=${h}`),
        hexString(128),
        hexString(40).map((h) => `sha1=${h}`),
        ...common,
      );
  }
}

const unsigned = withValidBody(pipelineArb).chain(([p, body, id]) =>
  fc.subarray([...companionHeaders[p.scheme]]).map(
    (keep): WebhookRecipe => ({
      ...base('unsigned', p, body, id),
      signing: { mode: 'none', keep },
      expect: [401],
      description: `${p.name}: no signature, kept ${keep.join(', ') || 'nothing'}`,
    }),
  ),
);

const wrongSignature = withValidBody(pipelineArb).chain(([p, body, id]) =>
  fc.oneof(
    garbageSignature(p).map(
      (value): WebhookRecipe => ({
        ...base('wrong-signature', p, body, id),
        signing: { mode: 'garbage', value },
        expect: [401],
        description: `${p.name}: signature ${JSON.stringify(value.slice(0, 60))}`,
      }),
    ),
    validBody(p)
      .filter((other) => other !== body)
      .map(
        (signedBody): WebhookRecipe => ({
          ...base('wrong-signature', p, body, id),
          signing: { mode: 'tamper', signedBody },
          expect: [401],
          description: `${p.name}: body changed after signing`,
        }),
      ),
    ...(p.scheme === 'github'
      ? []
      : [
          fc
            .oneof(
              printable(1, 20).filter((t) => !/^\d{1,16}$/.test(t.trim())),
              fc.constantFrom('-1', '1e9', '12.5'),
            )
            .map(
              (value): WebhookRecipe => ({
                ...base('wrong-signature', p, body, id),
                signing: { mode: 'garbage', value, header: 'timestamp' },
                expect: [401],
                description: `${p.name}: timestamp header ${JSON.stringify(value)}`,
              }),
            ),
        ]),
  ),
);

const wrongSecret = withValidBody(pipelineArb).chain(([p, body, id]) =>
  (p.scheme === 'standard-webhooks'
    ? fc.uint8Array({ minLength: 16, maxLength: 40 }).map((b) => `whsec_${Buffer.from(b).toString('base64')}`)
    : printable(1, 40)
  )
    .filter((secret) => secret !== p.secret)
    .map(
      (secret): WebhookRecipe => ({
        ...base('wrong-secret', p, body, id),
        signing: { mode: 'wrong-secret', secret },
        expect: [401],
        description: `${p.name}: signed with another secret`,
      }),
    ),
);

const staleTimestamp = withValidBody(timedPipelineArb).chain(([p, body, id]) =>
  fc
    .oneof(
      fc.integer({ min: p.toleranceSeconds + 2, max: 1_000_000_000 }).map((s) => -s),
      fc.integer({ min: p.toleranceSeconds + 2, max: 1_000_000_000 }),
    )
    .map(
      (offsetSeconds): WebhookRecipe => ({
        ...base('stale-timestamp', p, body, id),
        signing: { mode: 'valid', offsetSeconds },
        expect: [401],
        description: `${p.name}: validly signed, timestamp ${offsetSeconds} s from now`,
      }),
    ),
);

const replayed = withValidBody(timedPipelineArb).chain(([p, body, id]) =>
  fc.integer({ min: p.toleranceSeconds + 2, max: 30 * 86_400 }).chain((age) =>
    fc.constantFrom<WebhookRecipe>(
      {
        ...base('replayed', p, body, id),
        signing: { mode: 'valid', offsetSeconds: -age },
        expect: [401],
        description: `${p.name}: delivery captured ${age} s ago, resent as it was`,
      },
      {
        ...base('replayed', p, body, id),
        signing: { mode: 'replay-refreshed', ageSeconds: age },
        expect: [401],
        description: `${p.name}: delivery captured ${age} s ago, timestamp header set to now`,
      },
    ),
  ),
);

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const malformedJson = withValidBody(pipelineArb).chain(([p, body, id]) =>
  fc
    .oneof(
      fc.integer({ min: 0, max: Math.max(0, body.length - 1) }).map((n) => body.slice(0, n)),
      fc.constantFrom('}', ']', ',', 'x', '{', '"').map((tail) => body + tail),
      fc.constant(body.replaceAll('"', "'")),
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc.constantFrom(
        'NaN',
        '{id: 1}',
        '{"id": 1,}',
        '[{"id": 1},]',
        'undefined',
        '{"id": 01}',
        "{'id': 1}",
        '\uFEFF{"id": 1}',
        '// comment\n{"id": 1}',
        '{"id": 1} {"id": 2}',
        '{"id": "\u0001"}',
      ),
    )
    .filter((text) => !parses(text))
    .map(
      (text): WebhookRecipe => ({
        ...base('malformed-json', p, text, id),
        signing: { mode: 'valid', offsetSeconds: 0 },
        expect: [400],
        description: `${p.name}: validly signed, body ${JSON.stringify(text.slice(0, 60))}`,
      }),
    ),
);

const wrongContentType = withValidBody(pipelineArb).chain(([p, body, id]) =>
  fc
    .oneof(
      fc.constantFrom<string | null>(
        null,
        '',
        'text/plain',
        'text/html; charset=utf-8',
        'application/xml',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=esync',
        'application/octet-stream',
        'image/png',
      ),
      fc
        .tuple(fc.stringMatching(/^[a-z]{1,12}$/), fc.stringMatching(/^[a-z0-9.+-]{1,20}$/))
        .map(([type, subtype]) => `${type}/${subtype}`)
        .filter((t) => !t.includes('json')),
    )
    .map(
      (contentType): WebhookRecipe => ({
        ...base('wrong-content-type', p, body, id),
        contentType,
        signing: { mode: 'valid', offsetSeconds: 0 },
        expect: [415],
        description: `${p.name}: validly signed JSON sent as ${JSON.stringify(contentType)}`,
      }),
    ),
);

const oversized = pipelineArb.chain((p) =>
  fc
    .tuple(fc.integer({ min: p.maxBodyBytes + 1, max: p.maxBodyBytes * 2 }), fc.uuid(), fc.boolean())
    .map(([size, id, signed]): WebhookRecipe => {
      const head = '{"id":1,"pad":"';
      const body = `${head}${'x'.repeat(Math.max(0, size - head.length - 2))}"}`;
      return {
        ...base('oversized', p, body, id),
        signing: signed ? { mode: 'valid', offsetSeconds: 0 } : { mode: 'none', keep: [] },
        expect: [413],
        description: `${p.name}: ${Buffer.byteLength(body)} bytes (limit ${p.maxBodyBytes}), ${signed ? 'signed' : 'unsigned'}`,
      };
    }),
);

/** No real delivery nests a thousand levels deep; parsers and hashers that recurse fail on it. */
export const MIN_ABUSIVE_DEPTH = 1000;

const deepNesting = pipelineArb.chain((p) =>
  fc
    .tuple(
      fc.constantFrom('array', 'object', 'mixed'),
      fc.constantFrom('field', 'whole-body'),
      fc.uuid(),
      fc.integer({ min: 0, max: 1000 }),
    )
    .map(([shape, where, id, extra]): WebhookRecipe => {
      const perLevel = shape === 'array' ? 2 : shape === 'object' ? 6 : 8;
      const around = where === 'field' && p.scheme === 'github' ? GITHUB_PAYLOAD_BYTES : 0;
      const room = Math.floor((p.maxBodyBytes - around - 200) / perLevel);
      const depth = Math.min(
        room,
        MIN_ABUSIVE_DEPTH + Math.floor((extra / 1000) * (room - MIN_ABUSIVE_DEPTH)),
      );
      const open = shape === 'array' ? '[' : shape === 'object' ? '{"a":' : '{"a":[';
      const close = shape === 'array' ? ']' : shape === 'object' ? '}' : ']}';
      const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
      const body =
        where === 'whole-body'
          ? nested
          : p.scheme === 'github'
            ? JSON.stringify({ ...GITHUB_PAYLOAD, deep: null }).replace('"deep":null', `"deep":${nested}`)
            : `{"id":7,"deep":${nested}}`;
      return {
        ...base('deep-nesting', p, body, id),
        signing: { mode: 'valid', offsetSeconds: 0 },
        expect: [400, 413, 422],
        description: `${p.name}: validly signed, ${shape} nested ${depth} deep in the ${where}`,
      };
    }),
);

const known = new Set([...FUZZ_PIPELINES.map((p) => p.name)]);
const unknownPipeline = withValidBody(pipelineArb).chain(([p, body, id]) =>
  fc
    .oneof(
      fc.stringMatching(/^[a-z][a-z0-9-]{0,39}$/).filter((name) => !known.has(name)),
      printable(1, 60)
        .map((s) => encodeURIComponent(s))
        .filter((s) => !known.has(decodeURIComponent(s))),
      fc.constantFrom(BATCH_PIPELINE, 'FUZZ-GITHUB', `${p.name}-x`, `${p.name}%00`, '..', '%2e%2e', 'a%2Fb'),
    )
    .map(
      (name): WebhookRecipe => ({
        ...base('unknown-pipeline', p, body, id),
        path: name,
        signing: { mode: 'valid', offsetSeconds: 0 },
        expect: [404],
        description: `POST /webhooks/${name.slice(0, 60)} signed as ${p.name}`,
      }),
    ),
);

/** Up to ~14 KB of headers: below Node's 16 KB header limit, far above what any signature needs. */
const hugeHeaders = withValidBody(pipelineArb).chain(([p, body, id]) =>
  fc
    .oneof(
      fc
        .tuple(headerName, fc.integer({ min: 4_000, max: 13_000 }), printable(1, 1))
        .map(([name, size, ch]): { headers: Array<readonly [string, string]>; signature?: string } => ({
          headers: [[name, ch.repeat(size)]],
        })),
      fc
        .array(fc.tuple(headerName, printable(40, 120)), { minLength: 60, maxLength: 100 })
        .map((headers) => ({ headers, signature: 'sha256=deadbeef' })),
      fc.integer({ min: 4_000, max: 13_000 }).map((size) => ({ headers: [], signature: 'x'.repeat(size) })),
    )
    .map(({ headers, signature }): WebhookRecipe => {
      const size = headers.reduce((n, [k, v]) => n + k.length + v.length, 0) + (signature?.length ?? 0);
      return {
        ...base('huge-headers', p, body, id),
        extraHeaders: headers,
        signing:
          signature === undefined
            ? { mode: 'none', keep: companionHeaders[p.scheme] }
            : { mode: 'garbage', value: signature },
        expect: [401],
        description: `${p.name}: ${size} bytes of headers, ${signature === undefined ? 'unsigned' : 'bad signature'}`,
      };
    }),
);

const SIGNATURE_HEADERS = [
  'x-hub-signature-256',
  'x-github-event',
  'x-github-delivery',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'x-signature',
  'x-timestamp',
];

const randomBytes = fc
  .tuple(
    pipelineArb,
    fc.constantFrom('POST', 'POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
    fc.oneof(
      pipelineArb.map((p) => `/webhooks/${p.name}`),
      fc.constant('/webhooks/'),
      printable(0, 40).map((s) => `/${encodeURIComponent(s)}`),
      printable(1, 40).map((s) => `/webhooks/${encodeURIComponent(s)}/extra`),
    ),
    fc.uint8Array({ maxLength: 4096 }),
    fc.constantFrom<string | null>(null, 'application/json', 'application/octet-stream', 'text/plain', '*/*'),
    fc.array(fc.tuple(fc.constantFrom(...SIGNATURE_HEADERS), printable(0, 100)), { maxLength: 5 }),
    fc.uuid(),
  )
  .map(
    ([p, method, urlPath, bytes, contentType, headers, id]): WebhookRecipe => ({
      kind: 'random-bytes',
      method,
      path: urlPath,
      signer: p,
      body: bytes,
      contentType,
      signing: { mode: 'none', keep: [] },
      deliveryId: id,
      extraHeaders: headers,
      expect: [400, 401, 404, 405, 413],
      description: `${method} ${urlPath.slice(0, 60)}: ${bytes.length} random bytes as ${contentType ?? 'no type'}`,
    }),
  );

/** Generators by kind. */
export const WEBHOOK_ARBITRARIES: Readonly<Record<WebhookKind, fc.Arbitrary<WebhookRecipe>>> = {
  unsigned,
  'wrong-signature': wrongSignature,
  'wrong-secret': wrongSecret,
  'stale-timestamp': staleTimestamp,
  replayed,
  'malformed-json': malformedJson,
  'wrong-content-type': wrongContentType,
  oversized,
  'deep-nesting': deepNesting,
  'unknown-pipeline': unknownPipeline,
  'huge-headers': hugeHeaders,
  'random-bytes': randomBytes,
};

// ------------------------------------------------------------------------------ materializing

interface HttpRequestSpec {
  readonly method: string;
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

function hmacHex(algorithm: string, key: string | Buffer, ...parts: Array<string | Uint8Array>): string {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest('hex');
}

function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** Headers of a delivery signed by `secret` at `timestamp` (Unix seconds). */
function signedHeaders(
  p: FuzzPipeline,
  secret: string,
  body: string | Uint8Array,
  timestamp: number,
  deliveryId: string,
): Record<string, string> {
  const ts = String(timestamp);
  switch (p.scheme) {
    case 'github':
      return {
        'x-github-event': 'issues',
        'x-github-delivery': deliveryId,
        'x-hub-signature-256': `sha256=${hmacHex('sha256', secret, body)}`,
      };
    case 'standard-webhooks': {
      const signature = createHmac('sha256', standardKey(secret))
        .update(`${deliveryId}.${ts}.`)
        .update(body)
        .digest('base64');
      return { 'webhook-id': deliveryId, 'webhook-timestamp': ts, 'webhook-signature': `v1,${signature}` };
    }
    case 'hmac':
      return { 'x-timestamp': ts, 'x-signature': hmacHex('sha256', secret, `${ts}.`, body) };
  }
}

const SIGNATURE_HEADER: Record<Scheme, string> = {
  github: 'x-hub-signature-256',
  'standard-webhooks': 'webhook-signature',
  hmac: 'x-signature',
};
const TIMESTAMP_HEADER: Partial<Record<Scheme, string>> = {
  'standard-webhooks': 'webhook-timestamp',
  hmac: 'x-timestamp',
};

/** Turns a recipe into the bytes to send, signing against `nowSeconds`. */
export function materialize(recipe: RequestRecipe, nowSeconds: number): HttpRequestSpec {
  const p = recipe.signer;
  const s = recipe.signing;
  let headers: Record<string, string>;
  switch (s.mode) {
    case 'valid':
      headers = signedHeaders(p, p.secret, recipe.body, nowSeconds + s.offsetSeconds, recipe.deliveryId);
      break;
    case 'wrong-secret':
      headers = signedHeaders(p, s.secret, recipe.body, nowSeconds, recipe.deliveryId);
      break;
    case 'tamper':
      headers = signedHeaders(p, p.secret, s.signedBody, nowSeconds, recipe.deliveryId);
      break;
    case 'replay-refreshed': {
      headers = signedHeaders(p, p.secret, recipe.body, nowSeconds - s.ageSeconds, recipe.deliveryId);
      const tsHeader = TIMESTAMP_HEADER[p.scheme];
      if (tsHeader) headers[tsHeader] = String(nowSeconds);
      break;
    }
    case 'garbage': {
      headers = signedHeaders(p, p.secret, recipe.body, nowSeconds, recipe.deliveryId);
      const target =
        s.header === 'timestamp'
          ? (TIMESTAMP_HEADER[p.scheme] ?? SIGNATURE_HEADER[p.scheme])
          : s.header === 'id'
            ? 'webhook-id'
            : SIGNATURE_HEADER[p.scheme];
      headers[target] = s.value;
      break;
    }
    case 'none': {
      const all = signedHeaders(p, p.secret, recipe.body, nowSeconds, recipe.deliveryId);
      headers = Object.fromEntries(Object.entries(all).filter(([name]) => s.keep.includes(name)));
      break;
    }
  }
  const body = typeof recipe.body === 'string' ? Buffer.from(recipe.body, 'utf8') : Buffer.from(recipe.body);
  const list: Array<readonly [string, string]> = [
    ...(recipe.contentType === null ? [] : [['content-type', recipe.contentType] as const]),
    ...Object.entries(headers),
    ...recipe.extraHeaders,
  ];
  const urlPath = recipe.path.startsWith('/') ? recipe.path : `/webhooks/${recipe.path}`;
  return { method: recipe.method, path: urlPath, headers: list, body };
}

// ----------------------------------------------------------------------------------- sending

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function send(baseUrl: URL, spec: HttpRequestSpec, agent: Agent): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: baseUrl.hostname,
        port: baseUrl.port,
        method: spec.method,
        path: spec.path,
        // As a flat list (repeated names allowed), Node adds neither Host nor Content-Length.
        headers: ['host', baseUrl.host, ...spec.headers.flat(), 'content-length', String(spec.body.length)],
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(spec.body);
  });
}

/** What the answer's error says, when it is a JSON object with a non-empty `error` or `message`. */
export function errorMessageOf(answer: HttpAnswer): string | undefined {
  if (!/^application\/json\b/i.test(answer.contentType)) return undefined;
  try {
    const parsed = JSON.parse(answer.body) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { error, message } = parsed as { error?: unknown; message?: unknown };
    const text = typeof error === 'string' ? error : typeof message === 'string' ? message : undefined;
    return text?.trim() ? text : undefined;
  } catch {
    return undefined;
  }
}

/** What a clear answer to each kind mentions, besides being a JSON error. */
const CLEAR: Partial<Record<WebhookKind, RegExp>> = {
  unsigned: /signature|header/i,
  'wrong-signature': /signature|header|timestamp/i,
  'wrong-secret': /signature/i,
  'stale-timestamp': /timestamp/i,
  replayed: /timestamp|signature/i,
  'malformed-json': /JSON/i,
  'wrong-content-type': /content-type/i,
  oversized: /bytes|large/i,
  'unknown-pipeline': /pipeline|not found/i,
  'huge-headers': /signature|header/i,
};

/** What is wrong with an answer to a bad request; empty when it is right. */
export function answerDefects(recipe: WebhookRecipe, answer: HttpAnswer): string[] {
  const defects: string[] = [];
  if (answer.status >= 200 && answer.status < 300) defects.push(`accepted with ${answer.status}`);
  else if (answer.status >= 500) defects.push(`server error ${answer.status}`);
  else if (!recipe.expect.includes(answer.status))
    defects.push(`status ${answer.status}, expected ${recipe.expect.join(' or ')}`);
  const message = errorMessageOf(answer);
  if (message === undefined)
    defects.push(`no JSON error body (${answer.contentType}): ${answer.body.slice(0, 80)}`);
  else {
    const hint = CLEAR[recipe.kind];
    if (answer.status >= 400 && answer.status < 500 && hint && !hint.test(message))
      defects.push(`unclear error: ${message.slice(0, 120)}`);
  }
  return defects;
}

// ------------------------------------------------------------------------------------ running

/** A running webhook endpoint: the local gateway in front of the real handler, on the embedded servers. */
export interface WebhookEndpoint {
  readonly url: URL;
  readonly env: FuzzEnv;
  readonly gateway: HttpGateway;
  send(recipe: RequestRecipe): Promise<HttpAnswer>;
  /** Messages on every pipeline's load queue. */
  enqueuedMessages(): Promise<number>;
  stop(): Promise<void>;
}

let endpointInstances = 0;

/** Starts the servers, the gateway and the handler module (imported after the environment is set). */
export async function startWebhookEndpoint(
  options: { concurrency?: number; extraEnv?: Record<string, string> } = {},
): Promise<WebhookEndpoint> {
  const env = await startFuzzEnv({
    pipelines: pipelineInputs(),
    secrets: Object.fromEntries(FUZZ_PIPELINES.map((p) => [p.secretName, p.secret])),
    ...(options.extraEnv && { extraEnv: options.extraEnv }),
  });
  try {
    const moduleUrl = `${pathToFileURL(path.join(ROOT, 'functions/webhook/handler.ts')).href}?fuzz=${++endpointInstances}`;
    const { handler } = (await import(moduleUrl)) as {
      handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>;
    };
    const gateway = await startHttpGateway({
      routes: [
        { method: 'POST', path: '/webhooks/{pipeline}', functionName: 'esync-dev-core-webhook-fn', handler },
      ],
      logger: console,
    });
    const url = new URL(gateway.url);
    const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 8 });
    return {
      url,
      env,
      gateway,
      send: (recipe) => send(url, materialize(recipe, Math.floor(Date.now() / 1000)), agent),
      async enqueuedMessages() {
        let total = 0;
        for (const p of env.pipelines) total += await env.countMessages(p.name);
        return total;
      },
      async stop() {
        agent.destroy();
        await gateway.stop();
        await env.stop();
      },
    };
  } catch (error) {
    await env.stop();
    throw error;
  }
}

/** A valid delivery per pipeline: what a correct endpoint accepts and queues. */
export function controlRecipes(): RequestRecipe[] {
  return FUZZ_PIPELINES.map((p) => ({
    method: 'POST',
    path: p.name,
    signer: p,
    body:
      p.scheme === 'github'
        ? JSON.stringify(GITHUB_PAYLOAD)
        : JSON.stringify([
            { id: `control-${randomUUID()}`, name: 'control' },
            { id: `control-${randomUUID()}`, name: 'control' },
          ]),
    contentType: 'application/json',
    signing: { mode: 'valid', offsetSeconds: 0 },
    deliveryId: randomUUID(),
    extraHeaders: [],
    description: `${p.name}: valid delivery`,
  }));
}

export interface KindFigures {
  requests: number;
  accepted: number;
  status5xx: number;
  /** A 4xx other than the expected ones. */
  unexpectedStatus: number;
  /** A 4xx without a JSON error, or whose error does not say what is wrong. */
  unclear: number;
  statuses: Record<string, number>;
}

export interface WebhookFuzzReport {
  readonly seed: number;
  readonly requests: number;
  /** Bad requests answered 2xx. */
  readonly accepted: number;
  readonly status4xx: number;
  readonly status5xx: number;
  readonly unexpectedStatus: number;
  readonly unclear: number;
  readonly transportErrors: number;
  /** Messages on the load queues after the bad requests (the controls' messages removed first). */
  readonly enqueued: number;
  readonly controls: { readonly sent: number; readonly accepted: number; readonly enqueuedMessages: number };
  readonly byKind: Record<WebhookKind, KindFigures>;
  readonly durationMs: number;
  readonly failures: ReadonlyArray<{ kind: WebhookKind; description: string; defects: readonly string[] }>;
}

/** Generates `requests` bad requests (spread evenly over the kinds) from `seed` and sends them. */
export async function runWebhookFuzz(options: {
  readonly requests: number;
  readonly seed: number;
  readonly concurrency?: number;
  readonly onProgress?: (sent: number) => void;
}): Promise<WebhookFuzzReport> {
  const concurrency = options.concurrency ?? 8;
  const endpoint = await startWebhookEndpoint({ concurrency });
  const started = Date.now();
  try {
    const controls = controlRecipes();
    let controlsAccepted = 0;
    for (const recipe of controls) {
      const answer = await endpoint.send(recipe);
      if (answer.status === 202) controlsAccepted++;
    }
    const controlMessages = await endpoint.enqueuedMessages();
    for (const p of endpoint.env.pipelines) await endpoint.env.drain(p.name);

    const byKind = Object.fromEntries(
      WEBHOOK_KINDS.map((k) => [
        k,
        { requests: 0, accepted: 0, status5xx: 0, unexpectedStatus: 0, unclear: 0, statuses: {} },
      ]),
    ) as Record<WebhookKind, KindFigures>;
    const failures: Array<{ kind: WebhookKind; description: string; defects: readonly string[] }> = [];
    let status4xx = 0;
    let transportErrors = 0;
    let sent = 0;
    const chunkSize = 240;
    while (sent < options.requests) {
      const size = Math.min(chunkSize, options.requests - sent);
      const recipes: WebhookRecipe[] = [];
      // Round-robin over the kinds, so every kind gets its share whatever the total.
      for (let i = 0; i < size; i++) {
        const kind = WEBHOOK_KINDS[(sent + i) % WEBHOOK_KINDS.length] as WebhookKind;
        recipes.push(
          ...fc.sample(WEBHOOK_ARBITRARIES[kind], { numRuns: 1, seed: options.seed + (sent + i) * 7919 }),
        );
      }
      let next = 0;
      const worker = async () => {
        for (;;) {
          const recipe = recipes[next++];
          if (!recipe) return;
          const figures = byKind[recipe.kind];
          figures.requests++;
          let answer: HttpAnswer;
          try {
            answer = await endpoint.send(recipe);
          } catch (error) {
            transportErrors++;
            if (failures.length < 20)
              failures.push({
                kind: recipe.kind,
                description: recipe.description,
                defects: [`transport: ${(error as Error).message}`],
              });
            continue;
          }
          figures.statuses[answer.status] = (figures.statuses[answer.status] ?? 0) + 1;
          if (answer.status < 300) figures.accepted++;
          else if (answer.status >= 500) figures.status5xx++;
          else {
            status4xx++;
            if (!recipe.expect.includes(answer.status)) figures.unexpectedStatus++;
          }
          const defects = answerDefects(recipe, answer);
          if (defects.some((d) => d.startsWith('no JSON') || d.startsWith('unclear'))) figures.unclear++;
          if (defects.length > 0 && failures.length < 20)
            failures.push({ kind: recipe.kind, description: recipe.description, defects });
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      sent += size;
      options.onProgress?.(sent);
    }
    const sum = (f: (k: KindFigures) => number) => Object.values(byKind).reduce((n, k) => n + f(k), 0);
    return {
      seed: options.seed,
      requests: sent,
      accepted: sum((k) => k.accepted),
      status4xx,
      status5xx: sum((k) => k.status5xx),
      unexpectedStatus: sum((k) => k.unexpectedStatus),
      unclear: sum((k) => k.unclear),
      transportErrors,
      enqueued: await endpoint.enqueuedMessages(),
      controls: { sent: controls.length, accepted: controlsAccepted, enqueuedMessages: controlMessages },
      byKind,
      durationMs: Date.now() - started,
      failures,
    };
  } finally {
    await endpoint.stop();
  }
}
