import { compareCursors } from '../../../domain/cursor.ts';
import type { SourceRow } from '../../types.ts';

const sameValues = (a: SourceRow, b: SourceRow) =>
  compareCursors({ values: a.cursor.values, key: '' }, { values: b.cursor.values, key: '' }) === 0;

/**
 * Re-pages rows that an API returns sorted by cursor value, with ties in no particular order
 * and possibly spread over two server pages, into pages in full (values, key) order. The
 * rows of the newest cursor value seen are held back until a newer value (or the end) shows
 * the group is complete, so a resume after any row never skips one of its ties.
 */
export class TieGroupPager {
  #held: SourceRow[] = [];
  #ready: SourceRow[] = [];

  constructor(readonly pageSize: number) {}

  /** Adds a row; returns the pages now complete. */
  push(row: SourceRow): SourceRow[][] {
    const first = this.#held[0];
    if (first && !sameValues(first, row)) this.#release();
    this.#held.push(row);
    return this.#pages(false);
  }

  /** The remaining rows, once the input is exhausted. */
  flush(): SourceRow[][] {
    this.#release();
    return this.#pages(true);
  }

  #release(): void {
    this.#held.sort((a, b) => compareCursors(a.cursor, b.cursor));
    this.#ready.push(...this.#held);
    this.#held = [];
  }

  #pages(all: boolean): SourceRow[][] {
    const pages: SourceRow[][] = [];
    while (this.#ready.length >= this.pageSize || (all && this.#ready.length > 0))
      pages.push(this.#ready.splice(0, this.pageSize));
    return pages;
  }
}
