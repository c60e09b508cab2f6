import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterHandlerNoise } from '../support/fuzz-output.ts';
import {
  answerDefects,
  runWebhookFuzz,
  WEBHOOK_ARBITRARIES,
  WEBHOOK_KINDS,
  type WebhookFuzzReport,
  type WebhookRecipe,
} from '../support/fuzz-webhook.ts';

/** `npm run fuzz` sends 10,000 with a fresh seed; the suite sends 1,000 with a fixed one, so CI is repeatable. */
const REQUESTS = 1000;
const SEED = Number(process.env.ESYNC_FUZZ_SEED ?? 20261122);

let report: WebhookFuzzReport;
let restoreOutput: () => number;

beforeAll(async () => {
  restoreOutput = filterHandlerNoise();
  report = await runWebhookFuzz({ requests: REQUESTS, seed: SEED });
}, 120_000);

afterAll(() => {
  restoreOutput?.();
});

/** The first failures, for the assertion message, with the seed that reproduces them. */
const failures = () =>
  `seed ${SEED} (rerun with ESYNC_FUZZ_SEED=${SEED}):\n${report.failures
    .map((f) => `  [${f.kind}] ${f.description}\n      ${f.defects.join('\n      ')}`)
    .join('\n')}`;

describe('webhook endpoint under 1,000 generated bad requests', () => {
  it('accepts and queues the valid control deliveries, so a broken setup cannot pass', () => {
    expect(report.controls.accepted).toBe(report.controls.sent);
    expect(report.controls.enqueuedMessages).toBeGreaterThanOrEqual(report.controls.sent);
  });

  it('sends every kind of bad request', () => {
    for (const kind of WEBHOOK_KINDS) expect(report.byKind[kind].requests, kind).toBeGreaterThan(0);
    expect(report.requests).toBe(REQUESTS);
    expect(report.transportErrors, failures()).toBe(0);
  });

  it('accepts none of them and answers none with a server error', () => {
    expect(report.accepted, failures()).toBe(0);
    expect(report.status5xx, failures()).toBe(0);
  });

  it('answers each with the 4xx its fault calls for and a JSON error saying what is wrong', () => {
    expect(report.status4xx, failures()).toBe(REQUESTS);
    expect(report.unexpectedStatus, failures()).toBe(0);
    expect(report.unclear, failures()).toBe(0);
  });

  it('puts nothing on the load queues', () => {
    expect(report.enqueued, failures()).toBe(0);
  });
});

describe('webhook fuzz harness', () => {
  const [recipe] = fc.sample(WEBHOOK_ARBITRARIES.unsigned, { numRuns: 1, seed: 1 }) as [WebhookRecipe];
  const json = 'application/json';

  it('counts a 2xx, a 5xx, a wrong 4xx and an error without a JSON body as defects', () => {
    expect(answerDefects(recipe, { status: 202, contentType: json, body: '{"accepted":1}' })).toContain(
      'accepted with 202',
    );
    expect(
      answerDefects(recipe, { status: 500, contentType: json, body: '{"error":"internal error"}' }),
    ).toContain('server error 500');
    expect(
      answerDefects(recipe, { status: 400, contentType: json, body: '{"error":"bad signature"}' }),
    ).toContain('status 400, expected 401');
    expect(
      answerDefects(recipe, { status: 401, contentType: 'text/plain', body: 'Unauthorized' })[0],
    ).toMatch(/^no JSON error body/);
  });

  it('passes a 401 whose JSON error names the signature', () => {
    expect(
      answerDefects(recipe, {
        status: 401,
        contentType: json,
        body: '{"error":"the x-signature header is missing"}',
      }),
    ).toEqual([]);
  });
});
