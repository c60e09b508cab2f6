import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pg from 'pg';
import type { SdkClient } from '../../shared/aws/clients.ts';

/** Where the source rows are read from: the benchmark's database. */
export interface RawSource {
  readonly connection: { host: string; port: number; user: string; password: string; database: string };
}

/** Rows per keyset page: the postgres source's default page size. */
const RAW_PAGE = 1000;

type Row = Record<string, unknown>;

/** A row as every raw copy stores it: its key and its fields, the timestamp as ISO-8601. */
const plainRow = (row: Row): Row => ({ ...row, updated_at: (row.updated_at as Date).toISOString() });

/**
 * Reads every source row in keyset pages and hands them to `write` in chunks of `chunkSize`,
 * at most `concurrency` chunks at once: the shape every raw copy shares, so only the write differs.
 * @returns the rows copied
 */
export async function copyRows(
  source: RawSource,
  options: { readonly chunkSize: number; readonly concurrency: number },
  write: (rows: Row[]) => Promise<void>,
): Promise<number> {
  const client = new pg.Client(source.connection);
  await client.connect();
  let copied = 0;
  const inFlight = new Set<Promise<void>>();
  try {
    let after = -1;
    for (;;) {
      const { rows } = await client.query('SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT $2', [
        after,
        RAW_PAGE,
      ]);
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1].id);
      for (let i = 0; i < rows.length; i += options.chunkSize) {
        const task: Promise<void> = write(rows.slice(i, i + options.chunkSize).map(plainRow)).finally(() =>
          inFlight.delete(task),
        );
        inFlight.add(task);
        if (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      }
      copied += rows.length;
    }
    await Promise.all(inFlight);
  } finally {
    await client.end();
  }
  return copied;
}

/** The DynamoDB raw copy: BatchWriteItem of 25 into a fresh table, 16 calls in flight, no condition. */
export async function rawCopyDynamoDb(
  source: RawSource,
  clients: { readonly ddb: DynamoDBDocumentClient; readonly dynamodb: DynamoDBClient },
  table: string,
): Promise<number> {
  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return copyRows(source, { chunkSize: 25, concurrency: 16 }, async (rows) => {
    let pending = rows.map((row) => ({ PutRequest: { Item: { ...row, pk: String(row.id) } } }));
    while (pending.length > 0) {
      const out = await clients.ddb.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
    }
  });
}

/**
 * The PostgreSQL raw copy: a multi-row INSERT of `rowsPerInsert` rows (a queue message's worth, as
 * the target writes one per message) into a fresh `(key, data jsonb)` table, on as many connections
 * as the target's pool, with no version gate.
 */
export async function rawCopyPostgres(
  source: RawSource,
  table: string,
  connections: number,
  rowsPerInsert: number,
): Promise<number> {
  const pool = new pg.Pool({ ...source.connection, max: connections });
  try {
    await pool.query(
      `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (key text PRIMARY KEY, data jsonb)`,
    );
    return await copyRows(source, { chunkSize: rowsPerInsert, concurrency: connections }, async (rows) => {
      const values = rows.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
      await pool.query(
        `INSERT INTO ${table} (key, data) VALUES ${values}`,
        rows.flatMap((row) => [String(row.id), JSON.stringify(row)]),
      );
    });
  } finally {
    await pool.end();
  }
}

/** The S3 raw copy: one JSON Lines object per 100 rows into a fresh bucket, 16 puts in flight. */
export async function rawCopyLake(
  source: RawSource,
  s3: SdkClient<S3Client>,
  bucket: string,
): Promise<number> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return copyRows(source, { chunkSize: 100, concurrency: 16 }, async (rows) => {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `raw/${String(rows[0]?.id)}.jsonl`,
        Body: `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`,
        ContentType: 'application/x-ndjson',
      }),
    );
  });
}
