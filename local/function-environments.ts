import { AsyncLocalStorage } from 'node:async_hooks';

/** A function's own values of the variables that differ between functions; undefined: it is deployed without one. */
type OwnValues = Map<string, string | undefined>;

/**
 * The variables the template sets on some functions only, or to different values, given to each
 * function as Lambda gives them. The local functions share one process, hence one `process.env`:
 * while a function's code runs ({@link run}), `process.env` answers these variables from that
 * function's own environment, and one it is deployed without reads as unset. Every other variable,
 * and any read outside a function, is the process's own.
 *
 * Why: a shared function of a stage whose pipelines are published as SSM parameters reads them
 * through `ESYNC_PIPELINE_PARAMETERS`, while Load keeps its catalog baked in and holds no SSM
 * grant; one process-wide value would send Load to SSM, which its role denies.
 */
export class FunctionEnvironments {
  readonly #current = new AsyncLocalStorage<OwnValues>();
  readonly #byFunction = new Map<string, OwnValues>();
  /** The variables given per function. */
  readonly keys: ReadonlySet<string>;

  /**
   * @param functions each function's deployed environment
   * @param keys the variables to give per function
   */
  constructor(
    functions: ReadonlyArray<{
      readonly functionName: string;
      readonly environment: Readonly<Record<string, string>>;
    }>,
    keys: Iterable<string>,
  ) {
    this.keys = new Set(keys);
    for (const fn of functions)
      this.#byFunction.set(fn.functionName, new Map([...this.keys].map((key) => [key, fn.environment[key]])));
  }

  /** Runs `work` (and everything it starts) with the environment of `functionName`. */
  run<T>(functionName: string, work: () => T): T {
    const own = this.#byFunction.get(functionName);
    return own && this.keys.size > 0 ? this.#current.run(own, work) : work();
  }

  /**
   * Puts a view of `process.env` in its place that answers with the running function's values.
   * @returns what puts the process's own `process.env` back
   */
  install(): () => void {
    // Nothing to give per function: `process.env` stays the process's own object.
    if (this.keys.size === 0) return () => {};
    const processEnv = process.env;
    const own = (key: string | symbol): { readonly value: string | undefined } | undefined => {
      const values = this.#current.getStore();
      return typeof key === 'string' && values?.has(key) ? { value: values.get(key) } : undefined;
    };
    const view = new Proxy(processEnv, {
      get: (target, key) => {
        const found = own(key);
        return found ? found.value : Reflect.get(target, key);
      },
      set: (target, key, value) => {
        const values = this.#current.getStore();
        if (typeof key === 'string' && values?.has(key)) {
          values.set(key, String(value));
          return true;
        }
        return Reflect.set(target, key, value);
      },
      deleteProperty: (target, key) => {
        const values = this.#current.getStore();
        if (typeof key === 'string' && values?.has(key)) {
          values.set(key, undefined);
          return true;
        }
        return Reflect.deleteProperty(target, key);
      },
      has: (target, key) => {
        const found = own(key);
        return found ? found.value !== undefined : Reflect.has(target, key);
      },
      ownKeys: (target) => {
        const values = this.#current.getStore();
        const keys = Reflect.ownKeys(target);
        if (!values) return keys;
        const present = keys.filter((key) => typeof key !== 'string' || !values.has(key));
        for (const [key, value] of values) if (value !== undefined) present.push(key);
        return present;
      },
      getOwnPropertyDescriptor: (target, key) => {
        const found = own(key);
        if (!found) return Reflect.getOwnPropertyDescriptor(target, key);
        return found.value === undefined
          ? undefined
          : { value: found.value, writable: true, enumerable: true, configurable: true };
      },
    });
    process.env = view;
    return () => {
      if (process.env === view) process.env = processEnv;
    };
  }
}
