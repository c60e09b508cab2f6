import { defineValidator } from '../../shared/extensions/index.ts';

const ORDER_ID = /^ORD-\d{6}$/;

/** `validation: [{ field: order_id, custom: order-id }]`: ORD- and six digits, e.g. ORD-004217. */
export const orderId = defineValidator('order-id', (value) =>
  typeof value === 'string' && ORDER_ID.test(value) ? undefined : 'is not an order id (ORD- and six digits)',
);
