import { describe, expect, it } from 'vitest';
import { orderId } from './order-id.ts';

describe('order-id validator', () => {
  it.each(['ORD-000001', 'ORD-004217'])('passes %s', (value) => {
    expect(orderId.validate(value, { order_id: value })).toBeUndefined();
  });

  it.each([['ORD-42'], ['ord-000001'], ['ORD-0000001'], [42], [' ORD-000001']])('refuses %j', (value) => {
    expect(orderId.validate(value, { order_id: value })).toBe('is not an order id (ORD- and six digits)');
  });
});
