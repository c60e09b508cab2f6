/**
 * `npm run bench-dynalite [-- options]`: what the local servers' worker thread (dynalite) spends per
 * item written, for each variant of its settings at each table size (see `dynalite.ts`). Prints a
 * Markdown table, and with `--json` one JSON object on the last line; progress goes to stderr.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { DYNALITE_VARIANTS, type DynalitePoint, runDynaliteBench, summarize } from './dynalite.ts';

const USAGE = `npm run bench-dynalite [-- options]

  --stored <n,n>      items the table holds at each measurement, ascending (default 100000,600000)
  --items <n>         items written by each kind of request at each measurement (default 5000)
  --repetitions <n>   passes over the variants, alternately forward and backward (default 2)
  --variants <a,b>    of ${Object.keys(DYNALITE_VARIANTS).join(', ')} (default all)
  --top <n>           log each measurement's n hottest functions (default 0)
  --json              print the result as one JSON object on the last line
`;

function positives(name: string, text: string): number[] {
  const values = text.split(',').map((v) => Number(v.replace(/_/g, '')));
  if (values.some((v) => !Number.isInteger(v) || v < 0) || values.length === 0)
    throw new Error(`--${name} must be non-negative integers separated by commas, got "${text}"`);
  return values;
}

const { values } = parseArgs({
  options: {
    stored: { type: 'string', default: '100000,600000' },
    items: { type: 'string', default: '5000' },
    repetitions: { type: 'string', default: '2' },
    variants: { type: 'string', default: Object.keys(DYNALITE_VARIANTS).join(',') },
    top: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const variants = values.variants.split(',').map((name) => {
  const variant = DYNALITE_VARIANTS[name];
  if (!variant)
    throw new Error(`--variants: unknown "${name}", expected ${Object.keys(DYNALITE_VARIANTS).join(', ')}`);
  return variant;
});
const stored = positives('stored', values.stored);
const [items = 0] = positives('items', values.items);
const [repetitions = 0] = positives('repetitions', values.repetitions);
const [top = 0] = positives('top', values.top);
const loadAverage = [loadavg()[0] ?? 0];
const started = new Date().toISOString();
const points: DynalitePoint[] = await runDynaliteBench({
  stored,
  items,
  repetitions,
  variants,
  top,
  log: (line) => process.stderr.write(`» ${line}\n`),
});
loadAverage.push(loadavg()[0] ?? 0);

const us = (n: number) => n.toFixed(0);
const out = (line: string) => process.stdout.write(`${line}\n`);
out(
  `## dynalite: worker thread CPU per item written (${started}, load average ${loadAverage.map((l) => l.toFixed(1)).join(' → ')}, Node ${process.version})`,
);
out('');
out('µs per item, mean of the repetitions (of which garbage collection)');
out('');
out(
  '| variant | stored | conditional PutItem | BatchExecuteStatement INSERT | BatchWriteItem item | heap MB |',
);
out('| --- | ---: | ---: | ---: | ---: | ---: |');
const summary = summarize(points);
for (const s of summary)
  out(
    `| ${s.variant} | ${s.stored} | ${us(s.putItem.cpuUs)} (${us(s.putItem.gcUs)}) | ${us(s.batchExecute.cpuUs)} (${us(s.batchExecute.gcUs)}) | ${us(s.batchWrite.cpuUs)} (${us(s.batchWrite.gcUs)}) | ${s.heapMb.toFixed(0)} |`,
  );
if (values.json)
  out(JSON.stringify({ dynalite: { started, loadAverage, node: process.version, items, summary, points } }));
process.exit(0);
