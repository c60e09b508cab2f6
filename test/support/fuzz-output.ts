/**
 * Lines the handlers print on every local invocation that say nothing about the input: Powertools
 * Metrics with no metric to flush, idempotency without a Lambda context, and the metric dimension
 * warning that appears only because the local gateway runs invocations concurrently in one process.
 */
export const HANDLER_NOISE: readonly RegExp[] = [
  /No application metrics to publish/,
  /Could not determine remaining time left/,
  /Dimension "pipeline" has already been added/,
];

type Write = typeof process.stdout.write;

/**
 * Drops {@link HANDLER_NOISE} lines from stdout and stderr (Powertools writes to the streams
 * directly, past any console mock) until the returned function is called; returns the count of
 * lines dropped through it.
 */
export function filterHandlerNoise(patterns: readonly RegExp[] = HANDLER_NOISE): () => number {
  let dropped = 0;
  const wrap = (stream: NodeJS.WriteStream): (() => void) => {
    const original = stream.write;
    stream.write = function filteredWrite(this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
      if (text !== '' && patterns.some((p) => p.test(text))) {
        dropped++;
        const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }
      return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Write;
    return () => {
      stream.write = original;
    };
  };
  const restores = [wrap(process.stdout), wrap(process.stderr)];
  return () => {
    for (const restore of restores) restore();
    return dropped;
  };
}
