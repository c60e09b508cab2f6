import { s3OrdersPipeline } from './e2e-stack.ts';

/**
 * A partitioned first load without a database: `objects` JSON Lines files of `rowsPerObject`
 * orders under `incoming/<name>/`, one partition per object, each Extract recording its
 * progress every 100 rows (ten messages of ten).
 */
export function partitionedOrdersPipeline(name: string, objects: number): string {
  return s3OrdersPipeline(name, `extract:\n  partitions: ${objects}\nbatch:\n  size: 10\n`);
}

/** The key of a row: its object and its place there, in key order. */
export const orderId = (object: number, row: number) =>
  `o-${String(object).padStart(2, '0')}-${String(row).padStart(4, '0')}`;

/** The amount of a row, which tells its object and place apart from every other row's. */
export const orderAmount = (object: number, row: number) => object * 1000 + row;

/** The objects to upload to the data bucket: key and JSON Lines body. */
export function orderObjects(
  name: string,
  objects: number,
  rowsPerObject: number,
): { readonly Key: string; readonly Body: string }[] {
  return Array.from({ length: objects }, (_, object) => {
    const lines = Array.from({ length: rowsPerObject }, (_, row) =>
      JSON.stringify({ order_id: orderId(object, row), amount: orderAmount(object, row) }),
    );
    return {
      Key: `incoming/${name}/part-${String(object).padStart(2, '0')}.jsonl`,
      Body: `${lines.join('\n')}\n`,
    };
  });
}
