import { IdempotencyAlreadyInProgressError } from '@aws-lambda-powertools/idempotency';
import { describe, expect, it } from 'vitest';
import { InProgressError } from '../../../shared/errors.ts';
import { httpErrorAnswer } from '../../../shared/lambda/http-errors.ts';
import { enqueueOnce } from '../../../shared/usecases/webhook.ts';

const delivery = { deliveryId: 'd-1', pipeline: 'widgets', records: [] };
const inProgress = () => new IdempotencyAlreadyInProgressError('Execution already in progress');

describe('a duplicate delivery that arrives while the original is in progress', () => {
  it('gets the original’s answer once the original is done', async () => {
    // Prepare
    let calls = 0;
    const enqueue = async () => {
      calls += 1;
      if (calls < 3) throw inProgress();
      return { deliveryId: 'd-1', accepted: 4 };
    };

    // Act
    const answer = await enqueueOnce(enqueue, delivery, Date.now() + 2_000);

    // Assess
    expect(answer).toEqual({ deliveryId: 'd-1', accepted: 4 });
    expect(calls).toBe(3);
  });

  it('is answered 409 with Retry-After when the original is still going after the wait', async () => {
    // Prepare
    const enqueue = async (): Promise<never> => {
      throw inProgress();
    };

    // Act
    const error = await enqueueOnce(enqueue, delivery, Date.now() + 150).catch((e: unknown) => e);
    const answer = httpErrorAnswer(error, 'req-1');

    // Assess
    expect(error).toBeInstanceOf(InProgressError);
    expect(answer.status).toBe(409);
    expect(answer.headers).toEqual({ 'retry-after': '1' });
    expect(answer.body.error).toMatch(/delivery d-1 is being accepted by another request/);
  });

  it('passes on any other error unchanged', async () => {
    const failure = new Error('queue down');

    await expect(enqueueOnce(async () => Promise.reject(failure), delivery)).rejects.toBe(failure);
  });
});
