import { describe, expect, it } from 'vitest';
import { stageTracing } from '../../infra/stage.ts';
import { fixtureTemplate, resourcesOf } from './fixtures.ts';

type Options = Parameters<typeof fixtureTemplate>[0];

/** Each function's tracing mode (`none` without one), by function name. */
function tracingModes(options: Options): Map<string, string> {
  const functions = Object.values(resourcesOf(fixtureTemplate(options), 'AWS::Lambda::Function'));
  return new Map(
    functions.map((fn) => [
      String(fn.Properties.FunctionName),
      String((fn.Properties.TracingConfig as { Mode?: string } | undefined)?.Mode ?? 'none'),
    ]),
  );
}

/** The X-Ray actions granted to the functions' roles. */
function functionXrayActions(options: Options): string[] {
  const template = fixtureTemplate(options);
  const roleOf = (ref: unknown) => JSON.stringify(ref);
  const functionRoles = new Set(
    Object.values(resourcesOf(template, 'AWS::Lambda::Function')).map((fn) =>
      roleOf((fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]),
    ),
  );
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => functionRoles.has(roleOf(r.Ref))))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement)
    .flatMap((s) => [s.Action].flat())
    .filter((action) => action.startsWith('xray:'));
}

describe('function tracing per stage', () => {
  it('traces every function actively in prod and grants it the X-Ray segment writes', () => {
    const modes = tracingModes({ stage: 'prod' });

    expect(modes.size).toBeGreaterThan(5);
    expect(new Set(modes.values())).toEqual(new Set(['Active']));
    expect(functionXrayActions({ stage: 'prod' })).toContain('xray:PutTraceSegments');
  });

  it('leaves tracing and its X-Ray grant out of every function in dev', () => {
    const modes = tracingModes({ stage: 'dev' });

    expect(modes.size).toBeGreaterThan(5);
    expect(new Set(modes.values())).toEqual(new Set(['none']));
    expect(functionXrayActions({ stage: 'dev' })).toEqual([]);
  });

  it('takes tracing from CDK context when given', () => {
    expect(new Set(tracingModes({ stage: 'dev', context: { tracing: 'true' } }).values())).toEqual(
      new Set(['Active']),
    );
    expect(new Set(tracingModes({ stage: 'prod', context: { tracing: 'false' } }).values())).toEqual(
      new Set(['none']),
    );
  });

  it('refuses a tracing setting that is not true or false, naming the setting and value', () => {
    const given = (value: unknown) => () =>
      stageTracing(true, (key) => (key === 'tracing' ? value : undefined));

    expect(given(undefined)()).toBe(true);
    expect(given(false)()).toBe(false);
    expect(given('yes')).toThrow('-c tracing=yes: must be true or false');
  });
});
