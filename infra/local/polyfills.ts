/**
 * Language features the local stack's dependencies expect from a newer Node than the one ESync
 * supports (20). Import this module before any of them: aws-local-stepfunctions 3 calls
 * `Promise.withResolvers` (Node 22) for every Task state, and without it every task fails with a
 * TypeError that a `Catch States.ALL` would turn into a plausible-looking business failure.
 */

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const promiseConstructor = Promise as PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> };

if (typeof promiseConstructor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
