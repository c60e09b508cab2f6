import { describe, expect, it } from 'vitest';
import { secretsMaxAgeSeconds } from '../../infra/stage.ts';
import { fixtureTemplate, resourcesOf } from './fixtures.ts';

/** Each function's `ESYNC_SECRETS_MAX_AGE_SECONDS`, by function name. */
function secretsMaxAges(options: Parameters<typeof fixtureTemplate>[0]): Map<string, unknown> {
  const functions = Object.values(resourcesOf(fixtureTemplate(options), 'AWS::Lambda::Function'));
  return new Map(
    functions.map((fn) => [
      String(fn.Properties.FunctionName),
      (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables
        .ESYNC_SECRETS_MAX_AGE_SECONDS,
    ]),
  );
}

describe('secret max age', () => {
  it('gives every function the stage’s secret max age: five minutes in prod, one in dev', () => {
    const prod = secretsMaxAges({ stage: 'prod' });
    const dev = secretsMaxAges({ stage: 'dev' });

    expect(prod.size).toBeGreaterThan(5);
    expect(new Set(prod.values())).toEqual(new Set(['300']));
    expect(new Set(dev.values())).toEqual(new Set(['60']));
  });

  it('takes the max age from CDK context when given', () => {
    const ages = secretsMaxAges({ stage: 'prod', context: { secretsMaxAgeSeconds: '30' } });

    expect(new Set(ages.values())).toEqual(new Set(['30']));
  });

  it('refuses a max age that is not 0 to 3600 whole seconds, naming the setting and value', () => {
    const given = (value: unknown) => () =>
      secretsMaxAgeSeconds(300, (key) => (key === 'secretsMaxAgeSeconds' ? value : undefined));

    expect(given('0')()).toBe(0);
    expect(given('7200')).toThrow(
      '-c secretsMaxAgeSeconds=7200: must be a whole number of seconds from 0 to 3600',
    );
    expect(given('2.5')).toThrow(/-c secretsMaxAgeSeconds=2\.5/);
    expect(given('-1')).toThrow(/-c secretsMaxAgeSeconds=-1/);
  });
});
