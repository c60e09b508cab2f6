import protobuf from 'protobufjs';

/** Avro's binary encoding of the few types the Kafka tests use, written out (not by the decoder's library). */
export const avroBinary = {
  long(n: bigint | number): Buffer {
    let z = BigInt(n) >= 0n ? BigInt(n) << 1n : (-BigInt(n) << 1n) - 1n;
    const bytes: number[] = [];
    do {
      const low = Number(z & 0x7fn);
      z >>= 7n;
      bytes.push(z > 0n ? low | 0x80 : low);
    } while (z > 0n);
    return Buffer.from(bytes);
  },
  bytes(value: Buffer): Buffer {
    return Buffer.concat([avroBinary.long(value.length), value]);
  },
  string(value: string): Buffer {
    return avroBinary.bytes(Buffer.from(value, 'utf8'));
  },
  double(value: number): Buffer {
    const buffer = Buffer.alloc(8);
    buffer.writeDoubleLE(value);
    return buffer;
  },
};

/** An order as the Kafka tests' Avro schema ({@link ORDER_AVRO_SCHEMA}) encodes it. */
export function avroOrder(order: {
  id: string;
  qty: bigint;
  /** Unscaled cents. */
  priceCents: bigint;
  note: string | null;
  updatedAtMs: number;
  ratio: number;
}): Buffer {
  const hex = order.priceCents.toString(16).padStart(16, '0');
  return Buffer.concat([
    avroBinary.string(order.id),
    avroBinary.long(order.qty),
    avroBinary.bytes(Buffer.from(hex, 'hex')),
    order.note === null
      ? avroBinary.long(0)
      : Buffer.concat([avroBinary.long(1), avroBinary.string(order.note)]),
    avroBinary.long(order.updatedAtMs),
    avroBinary.double(order.ratio),
  ]);
}

export const ORDER_AVRO_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'qty', type: 'long' },
    { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 20, scale: 2 } },
    { name: 'note', type: ['null', 'string'] },
    { name: 'updated_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'ratio', type: 'double' },
  ],
});

export const ORDER_PROTO = `
syntax = "proto3";
package shop;
message Line { string sku = 1; int64 units = 2; }
message Order {
  string id = 1;
  int64 qty = 2;
  string updated_at = 3;
  double ratio = 4;
  repeated Line lines = 5;
  bytes tag = 6;
}
`;

/** An order in Protobuf's binary encoding, by protobufjs (64-bit integers as decimal text). */
export function protobufOrder(order: Record<string, unknown>): Buffer {
  const type = protobuf.parse(ORDER_PROTO, { keepCase: true }).root.lookupType('shop.Order');
  return Buffer.from(type.encode(type.fromObject(order)).finish());
}
