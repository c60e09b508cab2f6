/**
 * `npm run fuzz [-- --json] [--seed N] [--requests N] [--pipeline-cases N] [--records N]`
 *
 * The bad-input suite at full size: 10,000 generated bad webhook requests against the real
 * handler behind the local gateway, broken pipeline files, and records against the validation
 * rules. Prints a table per part; with `--json`, the last line of stdout is one JSON object with
 * every figure. Exits 1 when any invariant fails. Progress goes to stderr.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { filterHandlerNoise } from '../support/fuzz-output.ts';
import { type PipelineFuzzReport, runPipelineFuzz } from '../support/fuzz-pipelines.ts';
import { type RecordFuzzReport, runRecordFuzz } from '../support/fuzz-records.ts';
import { runWebhookFuzz, WEBHOOK_KINDS, type WebhookFuzzReport } from '../support/fuzz-webhook.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seed: { type: 'string' },
    requests: { type: 'string', default: '10000' },
    'pipeline-cases': { type: 'string', default: '3000' },
    records: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '8' },
  },
});

function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('seed', values.seed);
const requests = positive('requests', values.requests);
const pipelineCases = positive('pipeline-cases', values['pipeline-cases']);
const recordCount = positive('records', values.records);
const concurrency = positive('concurrency', values.concurrency);

// Handlers log refusals as warnings; at ERROR only a server error shows, which is what matters here.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';

const progress = (line: string) => process.stderr.write(`${line}\n`);
const out = (line = '') => process.stdout.write(`${line}\n`);

function table(rows: ReadonlyArray<readonly (string | number)[]>): void {
  const widths =
    rows[0]?.map((_, col) => Math.max(...rows.map((row) => String(row[col] ?? '').length))) ?? [];
  for (const [i, row] of rows.entries()) {
    out(
      row
        .map((cell, col) =>
          col === 0 ? String(cell).padEnd(widths[col] ?? 0) : String(cell).padStart(widths[col] ?? 0),
        )
        .join('  '),
    );
    if (i === 0) out(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

function printFailures(
  failures: ReadonlyArray<{ kind: string; description: string; defects: readonly string[] }>,
) {
  for (const f of failures.slice(0, 10)) out(`  ! [${f.kind}] ${f.description}: ${f.defects.join('; ')}`);
}

const started = Date.now();
progress(`fuzz: seed ${seed} (rerun with --seed ${seed})`);

const restore = filterHandlerNoise();
let webhook: WebhookFuzzReport;
try {
  webhook = await runWebhookFuzz({
    requests,
    seed,
    concurrency,
    onProgress: (sent) => {
      if (sent % 1200 === 0 || sent === requests) progress(`webhook: ${sent}/${requests} requests`);
    },
  });
} finally {
  restore();
}
progress(`pipeline files: ${pipelineCases} cases`);
const pipelineFiles: PipelineFuzzReport = await runPipelineFuzz({
  rootDir: ROOT,
  count: pipelineCases,
  seed,
});
progress(`records: ${recordCount} records`);
const records: RecordFuzzReport = await runRecordFuzz({ rootDir: ROOT, count: recordCount, seed });

const webhookPassed =
  webhook.controls.accepted === webhook.controls.sent &&
  webhook.controls.enqueuedMessages >= webhook.controls.sent &&
  webhook.accepted === 0 &&
  webhook.status5xx === 0 &&
  webhook.status4xx === webhook.requests &&
  webhook.unexpectedStatus === 0 &&
  webhook.unclear === 0 &&
  webhook.transportErrors === 0 &&
  webhook.enqueued === 0;
const pipelinesPassed = pipelineFiles.threw === 0 && pipelineFiles.failed === 0;
const recordsPassed =
  records.loaded + records.quarantined === records.generated &&
  records.quarantined === records.expectedInvalid &&
  records.wrongReasons === 0 &&
  records.badLoads === 0 &&
  records.unaccounted === 0;
const passed = webhookPassed && pipelinesPassed && recordsPassed;
const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

out(`Webhook endpoint: ${webhook.requests} bad requests, seed ${seed}  [${verdict(webhookPassed)}]`);
table([
  ['kind', 'requests', 'accepted', '4xx', '5xx', 'wrong 4xx', 'unclear', 'statuses'],
  ...WEBHOOK_KINDS.map((kind) => {
    const k = webhook.byKind[kind];
    const fourXx = Object.entries(k.statuses).reduce((n, [s, c]) => n + (s.startsWith('4') ? c : 0), 0);
    const statuses = Object.entries(k.statuses)
      .map(([s, c]) => `${s}:${c}`)
      .join(' ');
    return [kind, k.requests, k.accepted, fourXx, k.status5xx, k.unexpectedStatus, k.unclear, statuses];
  }),
  [
    'total',
    webhook.requests,
    webhook.accepted,
    webhook.status4xx,
    webhook.status5xx,
    webhook.unexpectedStatus,
    webhook.unclear,
    '',
  ],
]);
out(
  `enqueued by bad requests: ${webhook.enqueued}; controls: ${webhook.controls.accepted}/${webhook.controls.sent} accepted, ` +
    `${webhook.controls.enqueuedMessages} messages queued; transport errors: ${webhook.transportErrors}; ` +
    `${(webhook.requests / (webhook.durationMs / 1000)).toFixed(0)} requests/s`,
);
printFailures(webhook.failures);
out();
out(`Pipeline files: ${pipelineFiles.cases} broken files  [${verdict(pipelinesPassed)}]`);
table([
  ['mutation', 'cases', 'rejected', 'still valid', 'failed'],
  ...Object.entries(pipelineFiles.byKind).map(([kind, k]) => [
    kind,
    k.cases,
    k.rejected,
    k.stillValid,
    k.failed,
  ]),
  ['total', pipelineFiles.cases, pipelineFiles.rejected, pipelineFiles.stillValid, pipelineFiles.failed],
]);
out(`threw: ${pipelineFiles.threw}`);
printFailures(pipelineFiles.failures);
out();
out(`Records against pipelines/users-sync.yaml: ${records.generated} records  [${verdict(recordsPassed)}]`);
table([
  ['generated', 'invalid', 'loaded', 'quarantined', 'wrong reasons', 'bad loads', 'unaccounted'],
  [
    records.generated,
    records.expectedInvalid,
    records.loaded,
    records.quarantined,
    records.wrongReasons,
    records.badLoads,
    records.unaccounted,
  ],
]);
out(
  `reasons: ${Object.entries(records.reasonCounts)
    .map(([r, c]) => `${r} ${c}`)
    .join(', ')}`,
);
for (const f of records.failures.slice(0, 10)) out(`  ! ${f}`);
out();
out(`${verdict(passed)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

if (values.json) {
  const byKind = Object.fromEntries(
    WEBHOOK_KINDS.map((kind) => {
      const { requests: n, accepted, status5xx, unexpectedStatus, unclear, statuses } = webhook.byKind[kind];
      return [kind, { requests: n, accepted, status5xx, unexpectedStatus, unclear, statuses }];
    }),
  );
  out(
    JSON.stringify({
      seed,
      passed,
      requests: webhook.requests,
      accepted: webhook.accepted,
      status4xx: webhook.status4xx,
      status5xx: webhook.status5xx,
      enqueued: webhook.enqueued,
      unexpectedStatus: webhook.unexpectedStatus,
      unclearErrors: webhook.unclear,
      transportErrors: webhook.transportErrors,
      controls: webhook.controls,
      byKind,
      pipelineFiles: {
        cases: pipelineFiles.cases,
        rejected: pipelineFiles.rejected,
        stillValid: pipelineFiles.stillValid,
        threw: pipelineFiles.threw,
        failed: pipelineFiles.failed,
        byKind: pipelineFiles.byKind,
      },
      records: {
        generated: records.generated,
        invalid: records.expectedInvalid,
        loaded: records.loaded,
        quarantined: records.quarantined,
        wrongReasons: records.wrongReasons,
        badLoads: records.badLoads,
        unaccounted: records.unaccounted,
        reasons: records.reasonCounts,
      },
      durationMs: Date.now() - started,
    }),
  );
}
process.exitCode = passed ? 0 : 1;
