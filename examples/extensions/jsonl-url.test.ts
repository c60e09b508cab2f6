import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeWindow, SourceConnector, SourceRow } from '../../shared/extensions/index.ts';
import { pipelineSchema } from '../../shared/pipeline/schema.ts';
import { testConnectorContext } from '../../test/support/connector-context.ts';
import { jsonlUrl } from './jsonl-url.ts';

const LINES = [
  '{"id": 3, "updated_at": "2026-12-01T10:03:00Z", "price": 0.30000000000000000001}',
  '',
  '{"id": 1, "updated_at": "2026-12-01T10:01:00Z"}',
  '{"id": 2, "updated_at": "2026-12-01T10:02:00Z"}',
];

let server: Server;
let base: string;
let status = 200;
beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/broken.jsonl') response.writeHead(200).end('{"id": 1}\n[1, 2]\n');
    else response.writeHead(status).end(LINES.join('\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

function sourceAt(url: string): SourceConnector {
  const pipeline = pipelineSchema.parse({
    name: 'feed',
    source: { type: 'custom', connector: 'jsonl-url', options: { url }, key: ['id'], cursor: ['updated_at'] },
    target: { type: 'dynamodb' },
  });
  return jsonlUrl.create({ url }, testConnectorContext(pipeline));
}

async function readAll(source: SourceConnector, window: ChangeWindow): Promise<SourceRow[]> {
  const rows: SourceRow[] = [];
  for await (const page of source.read(window, { id: 'all', spec: {} })) rows.push(...page);
  return rows;
}

describe('jsonl-url source', () => {
  it('reads every line as a record, in cursor order, numbers kept exact', async () => {
    const rows = await readAll(sourceAt(`${base}/orders.jsonl`), { from: null, to: null });

    expect(rows.map((r) => r.cursor.key)).toEqual(['1', '2', '3']);
    expect(String(rows[2]?.data.price)).toBe('0.30000000000000000001');
  });

  it('reads only the rows of the window after the checkpoint, up to the high watermark', async () => {
    const source = sourceAt(`${base}/orders.jsonl`);
    const high = await source.currentHighWatermark();
    const [first] = await readAll(source, { from: null, to: null });

    const rows = await readAll(source, { from: first?.cursor ?? null, to: high });

    expect(high).toEqual({ values: ['2026-12-01T10:03:00Z'], key: '3' });
    expect(rows.map((r) => r.cursor.key)).toEqual(['2', '3']);
  });

  it('names the line that is not a JSON object', async () => {
    await expect(readAll(sourceAt(`${base}/broken.jsonl`), { from: null, to: null })).rejects.toThrow(
      'jsonl-url source: line 2 is not a JSON object',
    );
  });

  it('fails retryably when the server answers 503', async () => {
    status = 503;
    try {
      await expect(sourceAt(`${base}/orders.jsonl`).discover()).rejects.toMatchObject({
        name: 'TransientError',
        retryable: true,
      });
    } finally {
      status = 200;
    }
  });

  it('refuses options without an http(s) URL', () => {
    expect(jsonlUrl.checkOptions({ url: 'ftp://example.com/x' })).toHaveLength(1);
    expect(jsonlUrl.checkOptions({ url: 'https://example.com/x.jsonl' })).toEqual([]);
  });
});
