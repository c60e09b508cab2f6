import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { publishRecordedMetrics } from '../../shared/lambda/observability.ts';

const context = { functionName: 'esync-dev-core-load-fn', awsRequestId: 'req-1' } as Context;

/** Metrics whose warnings land in `warn`, as a function's own would print them. */
function metricsWithWarnings() {
  const warn = vi.fn();
  const logger = { warn, info: vi.fn(), error: vi.fn(), debug: vi.fn() };
  const metrics = new Metrics({ namespace: 'ESyncTest', serviceName: 'esync-test', logger });
  return { metrics, warn };
}

describe('publishRecordedMetrics', () => {
  it('prints no empty-metrics warning for an invocation that recorded nothing', async () => {
    const { metrics, warn } = metricsWithWarnings();
    const handler = middy(async () => 'done').use(publishRecordedMetrics(metrics));

    await expect(handler({}, context)).resolves.toBe('done');

    expect(warn).not.toHaveBeenCalled();
  });

  it('publishes what an invocation recorded, so the next one starts empty', async () => {
    const { metrics, warn } = metricsWithWarnings();
    const handler = middy(async () => {
      metrics.addMetric('RecordsLoaded', MetricUnit.Count, 3);
      expect(metrics.hasStoredMetrics()).toBe(true);
    }).use(publishRecordedMetrics(metrics));

    await handler({}, context);

    expect(metrics.hasStoredMetrics()).toBe(false);
    expect(warn).not.toHaveBeenCalled();
  });

  it('publishes what a failed invocation recorded before its error', async () => {
    const { metrics } = metricsWithWarnings();
    const handler = middy(async () => {
      metrics.addMetric('RecordsFailed', MetricUnit.Count, 1);
      throw new Error('target refused');
    }).use(publishRecordedMetrics(metrics));

    await expect(handler({}, context)).rejects.toThrow('target refused');

    expect(metrics.hasStoredMetrics()).toBe(false);
  });

  it('guards against Powertools, which warns when asked to publish nothing', async () => {
    const { metrics, warn } = metricsWithWarnings();
    metrics.publishStoredMetrics();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('No application metrics to publish'));
  });
});
