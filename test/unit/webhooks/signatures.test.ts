import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, UnauthorizedError } from '../../../shared/errors.ts';
import { type PipelineInput, pipelineSchema } from '../../../shared/pipeline/schema.ts';
import {
  SignatureError,
  signingSecrets,
  standardWebhooksKey,
  verifyDelivery,
  verifyGithubSignature,
  verifyHmacSignature,
  verifyStandardWebhook,
  type WebhookTrigger,
} from '../../../shared/webhooks/signatures.ts';

const fixture = (name: string) =>
  readFileSync(path.join(import.meta.dirname, 'fixtures', 'github', name), 'utf8');
const hex = (algorithm: string, key: string | Buffer, content: string) =>
  createHmac(algorithm, key).update(content).digest('hex');
const b64 = (key: Buffer, content: string) => createHmac('sha256', key).update(content).digest('base64');

/** Runs `verify` and returns the SignatureError it throws. */
function refusal(verify: () => unknown): SignatureError {
  try {
    verify();
  } catch (error) {
    if (error instanceof SignatureError) return error;
    throw error;
  }
  throw new Error('the delivery was accepted');
}

describe('GitHub signatures', () => {
  const secret = 'It is a secret to everybody';
  const body = fixture('issues.opened.payload.json');
  const signed = {
    'X-Hub-Signature-256': `sha256=${hex('sha256', secret, body)}`,
    'X-GitHub-Delivery': 'd-1',
  };

  it('accepts a real payload signed with the secret and returns the delivery id', () => {
    // Act
    const verified = verifyGithubSignature(body, signed, secret);

    // Assess
    expect(verified).toEqual({ scheme: 'github', deliveryId: 'd-1' });
  });

  it('matches header names without regard to case and accepts raw bytes', () => {
    // Act
    const verified = verifyGithubSignature(
      Buffer.from(body),
      { 'x-hub-signature-256': signed['X-Hub-Signature-256'] },
      secret,
    );

    // Assess
    expect(verified.scheme).toBe('github');
  });

  it('refuses a tampered body as a mismatch without revealing the expected signature', () => {
    // Act
    const error = refusal(() =>
      verifyGithubSignature(body.replace('Spelling', 'Spelunking'), signed, secret),
    );

    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error.reason).toBe('mismatch');
    const expected = hex('sha256', secret, body.replace('Spelling', 'Spelunking'));
    expect(error.message).not.toContain(expected);
    expect(error.message).not.toContain(expected.slice(0, 8));
  });

  it('refuses a delivery signed with another secret', () => {
    // Act
    const error = refusal(() => verifyGithubSignature(body, signed, 'another secret'));

    // Assess
    expect(error.reason).toBe('mismatch');
  });

  it('refuses a missing header, and malformed ones of any length without throwing anything else', () => {
    // Act
    const missing = refusal(() => verifyGithubSignature(body, {}, secret));
    const sha1 = refusal(() =>
      verifyGithubSignature(body, { 'x-hub-signature-256': `sha1=${hex('sha1', secret, body)}` }, secret),
    );
    const short = refusal(() => verifyGithubSignature(body, { 'x-hub-signature-256': 'sha256=abc' }, secret));
    const long = refusal(() =>
      verifyGithubSignature(body, { 'x-hub-signature-256': `${signed['X-Hub-Signature-256']}00` }, secret),
    );

    // Assess
    expect(missing.reason).toBe('missing-header');
    expect(missing.message).toContain('x-hub-signature-256');
    expect([sha1.reason, short.reason, long.reason]).toEqual(['malformed', 'malformed', 'malformed']);
  });

  it('accepts the previous secret while a rotation lists both', () => {
    // Prepare
    const oldSigned = { 'x-hub-signature-256': `sha256=${hex('sha256', 'old secret', body)}` };

    // Act
    const verified = verifyGithubSignature(body, oldSigned, ['new secret', 'old secret']);

    // Assess
    expect(verified.scheme).toBe('github');
  });
});

describe('Standard Webhooks signatures', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const key = standardWebhooksKey(secret);
  const body = '{"test": 2432232314}';
  const now = new Date(1614265330 * 1000);
  const headers = (signature: string, timestamp = '1614265330', id = 'msg_p5jXN8AQM9LWM0D4loKWxJek') => ({
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': signature,
  });

  it('verifies the example the specification publishes', () => {
    // Act
    const verified = verifyStandardWebhook(
      body,
      headers('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='),
      secret,
      {
        toleranceSeconds: 300,
        now,
      },
    );

    // Assess
    expect(verified).toEqual({
      scheme: 'standard-webhooks',
      deliveryId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
    });
  });

  it('accepts a delivery carrying several signatures when any one matches (sender-side rotation)', () => {
    // Prepare
    const oldKey = Buffer.from('an older key of some length');
    const content = `msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.${body}`;
    const signature = `v1a,ignoredAsymmetric v1,${b64(oldKey, content)} v1,${b64(key, content)}`;

    // Act
    const verified = verifyStandardWebhook(body, headers(signature), secret, { toleranceSeconds: 300, now });

    // Assess
    expect(verified.deliveryId).toBe('msg_p5jXN8AQM9LWM0D4loKWxJek');
  });

  it('accepts a secret without the whsec_ prefix, and either of two secrets (receiver-side rotation)', () => {
    // Prepare
    const signature = headers('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');

    // Act
    const bare = verifyStandardWebhook(body, signature, secret.slice('whsec_'.length), {
      toleranceSeconds: 300,
      now,
    });
    const rotated = verifyStandardWebhook(body, signature, ['whsec_bmV3IGtleQ==', secret], {
      toleranceSeconds: 300,
      now,
    });

    // Assess
    expect(bare.scheme).toBe('standard-webhooks');
    expect(rotated.scheme).toBe('standard-webhooks');
  });

  it('refuses a tampered body, id or timestamp as a mismatch', () => {
    // Prepare
    const signature = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    const options = { toleranceSeconds: 300, now };

    // Act
    const reasons = [
      refusal(() => verifyStandardWebhook('{"test": 2432232315}', headers(signature), secret, options)),
      refusal(() =>
        verifyStandardWebhook(body, headers(signature, '1614265330', 'msg_other'), secret, options),
      ),
      refusal(() => verifyStandardWebhook(body, headers(signature, '1614265331'), secret, options)),
    ].map((e) => e.reason);

    // Assess
    expect(reasons).toEqual(['mismatch', 'mismatch', 'mismatch']);
  });

  it('refuses a correctly signed delivery whose timestamp is older or newer than the tolerance', () => {
    // Prepare
    const signature = headers('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');

    // Act
    const old = refusal(() =>
      verifyStandardWebhook(body, signature, secret, {
        toleranceSeconds: 300,
        now: new Date(now.getTime() + 301_000),
      }),
    );
    const future = refusal(() =>
      verifyStandardWebhook(body, signature, secret, {
        toleranceSeconds: 300,
        now: new Date(now.getTime() - 301_000),
      }),
    );
    const edge = verifyStandardWebhook(body, signature, secret, {
      toleranceSeconds: 300,
      now: new Date(now.getTime() + 300_000),
    });

    // Assess
    expect(old.reason).toBe('stale-timestamp');
    expect(old.message).toContain('at most 300 s');
    expect(future.reason).toBe('stale-timestamp');
    expect(edge.timestamp).toBe(1614265330);
  });

  it('refuses missing headers and signatures without a v1 entry', () => {
    // Act
    const noId = refusal(() =>
      verifyStandardWebhook(body, { 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' }, secret, {
        toleranceSeconds: 300,
        now,
      }),
    );
    const noV1 = refusal(() =>
      verifyStandardWebhook(body, headers('v2,abc'), secret, { toleranceSeconds: 300, now }),
    );
    const badTimestamp = refusal(() =>
      verifyStandardWebhook(body, headers('v1,abc', 'yesterday'), secret, { toleranceSeconds: 300, now }),
    );

    // Assess
    expect(noId).toMatchObject({ reason: 'missing-header', message: 'the webhook-id header is missing' });
    expect(noV1.reason).toBe('malformed');
    expect(badTimestamp.reason).toBe('malformed');
  });

  it('refuses a secret that is not base64 as a configuration error', () => {
    // Act
    const decoding = () => standardWebhooksKey('whsec_not base64!');

    // Assess
    expect(decoding).toThrow(ConfigError);
  });
});

describe('generic HMAC signatures', () => {
  const secret = 'shop-secret';
  const body = '{"id":1,"total":10}';
  const now = new Date('2025-06-01T12:00:00Z');
  const ts = String(now.getTime() / 1000);
  const base = { header: 'x-shop-signature', algorithm: 'sha256', toleranceSeconds: 300, now } as const;

  it('verifies the hex HMAC of the body, with or without an algorithm prefix', () => {
    // Act
    const plain = verifyHmacSignature(
      body,
      { 'x-shop-signature': hex('sha256', secret, body) },
      secret,
      base,
    );
    const prefixed = verifyHmacSignature(
      body,
      { 'X-Shop-Signature': `sha256=${hex('sha256', secret, body).toUpperCase()}` },
      secret,
      base,
    );

    // Assess
    expect(plain).toEqual({ scheme: 'hmac' });
    expect(prefixed).toEqual({ scheme: 'hmac' });
  });

  it('uses the configured algorithm and refuses a signature of another one', () => {
    // Act
    const sha512 = verifyHmacSignature(body, { 'x-shop-signature': hex('sha512', secret, body) }, secret, {
      ...base,
      algorithm: 'sha512',
    });
    const wrong = refusal(() =>
      verifyHmacSignature(body, { 'x-shop-signature': hex('sha1', secret, body) }, secret, base),
    );

    // Assess
    expect(sha512.scheme).toBe('hmac');
    expect(wrong.reason).toBe('malformed');
  });

  it('signs "<timestamp>.<body>" when a timestamp header is configured and checks its age', () => {
    // Prepare
    const options = { ...base, timestampHeader: 'x-shop-timestamp' };
    const signature = hex('sha256', secret, `${ts}.${body}`);

    // Act
    const fresh = verifyHmacSignature(
      body,
      { 'x-shop-signature': signature, 'x-shop-timestamp': ts },
      secret,
      options,
    );
    const millis = verifyHmacSignature(
      body,
      {
        'x-shop-signature': hex('sha256', secret, `${now.getTime()}.${body}`),
        'x-shop-timestamp': String(now.getTime()),
      },
      secret,
      options,
    );
    const stale = refusal(() =>
      verifyHmacSignature(body, { 'x-shop-signature': signature, 'x-shop-timestamp': ts }, secret, {
        ...options,
        now: new Date(now.getTime() + 3_600_000),
      }),
    );
    const bodyOnly = refusal(() =>
      verifyHmacSignature(
        body,
        { 'x-shop-signature': hex('sha256', secret, body), 'x-shop-timestamp': ts },
        secret,
        options,
      ),
    );
    const missing = refusal(() =>
      verifyHmacSignature(body, { 'x-shop-signature': signature }, secret, options),
    );

    // Assess
    expect(fresh).toEqual({ scheme: 'hmac', timestamp: Number(ts) });
    expect(millis.timestamp).toBe(Number(ts));
    expect(stale.reason).toBe('stale-timestamp');
    expect(bodyOnly.reason).toBe('mismatch');
    expect(missing).toMatchObject({
      reason: 'missing-header',
      message: 'the x-shop-timestamp header is missing',
    });
  });

  it('refuses a tampered body', () => {
    // Act
    const error = refusal(() =>
      verifyHmacSignature(`${body} `, { 'x-shop-signature': hex('sha256', secret, body) }, secret, base),
    );

    // Assess
    expect(error.reason).toBe('mismatch');
  });
});

describe('verifyDelivery', () => {
  const trigger = (
    webhook: NonNullable<NonNullable<PipelineInput['triggers']>['webhook']>,
  ): WebhookTrigger => {
    const pipeline = pipelineSchema.parse({
      name: 'hooks',
      source: { type: 'webhook', key: ['id'] },
      target: { type: 'dynamodb' },
      triggers: { webhook },
    } satisfies PipelineInput);
    return pipeline.triggers.webhook as WebhookTrigger;
  };

  it('verifies as the pipeline trigger says, with its defaults', () => {
    // Prepare
    const body = '{"id":1}';
    const now = new Date('2025-01-01T00:00:00Z');

    // Act
    const github = verifyDelivery(
      trigger({ signature: 'github', secret: 's' }),
      'k',
      { 'x-hub-signature-256': `sha256=${hex('sha256', 'k', body)}` },
      body,
      now,
    );
    const hmac = verifyDelivery(
      trigger({ signature: 'hmac', secret: 's' }),
      'k',
      { 'x-signature': hex('sha256', 'k', body) },
      body,
      now,
    );
    const standard = refusal(() =>
      verifyDelivery(
        trigger({ signature: 'standard-webhooks', secret: 's' }),
        'whsec_a2V5',
        { 'webhook-id': 'x' },
        body,
        now,
      ),
    );

    // Assess
    expect(github.scheme).toBe('github');
    expect(hmac.scheme).toBe('hmac');
    expect(standard.reason).toBe('missing-header');
  });

  it('accepts any of the secrets a rotation stores as a JSON array', () => {
    // Prepare
    const body = '{"id":1}';

    // Act
    const verified = verifyDelivery(
      trigger({ signature: 'github', secret: 's' }),
      JSON.stringify(['new', 'old']),
      { 'x-hub-signature-256': `sha256=${hex('sha256', 'old', body)}` },
      body,
    );

    // Assess
    expect(verified.scheme).toBe('github');
    expect(signingSecrets('[not json')).toEqual(['[not json']);
  });
});
