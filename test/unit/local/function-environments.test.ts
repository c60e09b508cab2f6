import { afterEach, describe, expect, it } from 'vitest';
import { FunctionEnvironments } from '../../../local/function-environments.ts';

const KEY = 'ESYNC_TEST_PER_FUNCTION';
const environments = () =>
  new FunctionEnvironments(
    [
      { functionName: 'reader', environment: { [KEY]: '/esync/dev/pipelines', SHARED: 'x' } },
      { functionName: 'load', environment: { SHARED: 'x' } },
    ],
    [KEY],
  );

let uninstall: (() => void) | undefined;
afterEach(() => {
  uninstall?.();
  delete process.env[KEY];
});

describe('each local function’s own environment', () => {
  it('answers the per-function variables from the running function’s environment, and leaves the others to the process', async () => {
    const envs = environments();
    process.env[KEY] = 'the process’s own';
    const original = process.env;
    uninstall = envs.install();

    const inReader = await envs.run('reader', async () => {
      await Promise.resolve();
      return { value: process.env[KEY], has: KEY in process.env, spread: { ...process.env }[KEY] };
    });
    const inLoad = envs.run('load', () => ({
      value: process.env[KEY],
      has: KEY in process.env,
      listed: Object.keys(process.env).includes(KEY),
      path: process.env.PATH,
    }));
    const outside = process.env[KEY];
    uninstall();
    uninstall = undefined;

    expect(inReader).toEqual({ value: '/esync/dev/pipelines', has: true, spread: '/esync/dev/pipelines' });
    expect(inLoad).toEqual({ value: undefined, has: false, listed: false, path: original.PATH });
    expect(outside).toBe('the process’s own');
    expect(process.env).toBe(original);
  });

  it('leaves process.env the process’s own object when no variable differs between functions', () => {
    const original = process.env;
    const envs = new FunctionEnvironments([{ functionName: 'load', environment: { SHARED: 'x' } }], []);

    uninstall = envs.install();

    expect(process.env).toBe(original);
  });

  it('keeps what a function sets in its own variables to that function', () => {
    const envs = environments();
    uninstall = envs.install();

    envs.run('load', () => {
      process.env[KEY] = 'set by load';
    });
    const inReader = envs.run('reader', () => process.env[KEY]);
    const inLoad = envs.run('load', () => process.env[KEY]);

    expect(inReader).toBe('/esync/dev/pipelines');
    expect(inLoad).toBe('set by load');
    expect(process.env[KEY]).toBeUndefined();
  });
});
