import { describe, expect, it } from 'vitest';
import { readAhead } from '../../../shared/usecases/phases/3-extract.ts';

/** Pages 1..n, recording when each read starts and ends, each read ending when `release` says. */
function pagesOf(n: number) {
  const events: string[] = [];
  const waiting: (() => void)[] = [];
  async function* pages() {
    try {
      for (let page = 1; page <= n; page++) {
        events.push(`read ${page}`);
        await new Promise<void>((resolve) => waiting.push(resolve));
        events.push(`got ${page}`);
        yield page;
      }
    } finally {
      events.push('closed');
    }
  }
  const releaseNext = async () => {
    while (waiting.length === 0) await new Promise((resolve) => setImmediate(resolve));
    (waiting.shift() as () => void)();
  };
  return { events, pages, releaseNext };
}

describe('readAhead', () => {
  it('reads the next page while the caller still works on the one before, and hands every page over in order', async () => {
    // Prepare
    const source = pagesOf(3);
    const taken: number[] = [];
    const reading = (async () => {
      for await (const page of readAhead(source.pages())) {
        // The caller's work (a flush) ends only once the next read has started: without reading
        // ahead, this would wait forever and the test time out.
        while (!source.events.includes(`read ${page + 1}`) && page < 3)
          await new Promise((resolve) => setImmediate(resolve));
        source.events.push(`done with ${page}`);
        taken.push(page);
      }
    })();

    // Act
    for (let i = 0; i < 3; i++) await source.releaseNext();
    await reading;

    // Assess
    expect(taken).toEqual([1, 2, 3]);
    expect(source.events.indexOf('read 2')).toBeLessThan(source.events.indexOf('done with 1'));
    expect(source.events.indexOf('read 3')).toBeLessThan(source.events.indexOf('done with 2'));
    expect(source.events).toContain('closed');
  });

  it('lets the read in flight end before the source closes, when the caller stops early', async () => {
    // Prepare
    const source = pagesOf(5);
    const taken: number[] = [];
    const reading = (async () => {
      for await (const page of readAhead(source.pages())) {
        taken.push(page);
        break;
      }
    })();

    // Act
    await source.releaseNext();
    await source.releaseNext();
    await reading;

    // Assess
    expect(taken).toEqual([1]);
    expect(source.events).toEqual(['read 1', 'got 1', 'read 2', 'got 2', 'closed']);
  });

  it('throws the error of a page read, after the pages before it', async () => {
    // Prepare
    async function* failing() {
      yield 1;
      throw new Error('connection lost');
    }
    const taken: number[] = [];

    // Act
    const outcome = (async () => {
      for await (const page of readAhead(failing())) taken.push(page);
    })();

    // Assess
    await expect(outcome).rejects.toThrow('connection lost');
    expect(taken).toEqual([1]);
  });
});
