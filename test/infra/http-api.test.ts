import { describe, expect, it } from 'vitest';
import { MANAGEMENT_ROUTES } from '../../infra/constructs/http-api.ts';
import { apiThrottles, stageSettings } from '../../infra/stage.ts';
import { fixtureTemplate, resourcesOf } from './fixtures.ts';

type RouteSettings = Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;

function routeSettings(options: Parameters<typeof fixtureTemplate>[0]): RouteSettings {
  const stages = Object.values(resourcesOf(fixtureTemplate(options), 'AWS::ApiGatewayV2::Stage'));
  expect(stages).toHaveLength(1);
  return stages[0]?.Properties.RouteSettings as RouteSettings;
}

describe('HTTP API throttles', () => {
  it('gives the webhook route and each management route their own limits, from the stage’s defaults', () => {
    const settings = routeSettings({ stage: 'prod' });

    expect(settings['POST /webhooks/{pipeline}']).toEqual({
      ThrottlingRateLimit: 200,
      ThrottlingBurstLimit: 400,
    });
    const management = MANAGEMENT_ROUTES.map(({ method, path }) => settings[`${method} ${path}`]);
    expect(management).toHaveLength(15);
    expect(new Set(management.map((m) => JSON.stringify(m)))).toEqual(
      new Set([JSON.stringify({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 })]),
    );
    expect(Object.keys(settings)).toHaveLength(MANAGEMENT_ROUTES.length + 1);
  });

  it('takes each limit from CDK context when given', () => {
    const settings = routeSettings({
      stage: 'dev',
      context: { webhookRateLimit: '500', webhookBurstLimit: 900, managementRateLimit: 3 },
    });

    expect(settings['POST /webhooks/{pipeline}']).toEqual({
      ThrottlingRateLimit: 500,
      ThrottlingBurstLimit: 900,
    });
    expect(settings['GET /health']).toEqual({ ThrottlingRateLimit: 3, ThrottlingBurstLimit: 20 });
  });

  it('refuses a limit that is not a positive whole number, naming the setting and value', () => {
    const defaults = stageSettings('dev').throttles;

    expect(() => apiThrottles(defaults, (key) => (key === 'managementBurstLimit' ? '0' : undefined))).toThrow(
      '-c managementBurstLimit=0: requests per second must be a whole number of at least 1',
    );
    expect(() => apiThrottles(defaults, (key) => (key === 'webhookRateLimit' ? 'lots' : undefined))).toThrow(
      /-c webhookRateLimit=lots/,
    );
  });
});
