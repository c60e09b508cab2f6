import { describe, expect, it } from 'vitest';
import { closestMatch, didYouMean, editDistance } from '../../../shared/pipeline/did-you-mean.ts';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent transpositions as one edit each', () => {
    expect(editDistance('table', 'table')).toBe(0);
    expect(editDistance('tabe', 'table')).toBe(1);
    expect(editDistance('tables', 'table')).toBe(1);
    expect(editDistance('tabla', 'table')).toBe(1);
    expect(editDistance('tabel', 'table')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('ignores case', () => {
    expect(editDistance('Table', 'table')).toBe(0);
  });
});

describe('closestMatch', () => {
  it('suggests the closest candidate within two edits', () => {
    expect(closestMatch('sorce', ['source', 'target'])).toBe('source');
    expect(closestMatch('lookback', ['lookbackSeconds', 'key'])).toBeUndefined();
  });

  it('does not suggest for short inputs that are far from everything', () => {
    expect(closestMatch('id', ['ssl', 'key'])).toBeUndefined();
  });

  it('prefers the earlier candidate on a tie', () => {
    expect(closestMatch('max', ['map', 'mad'])).toBe('map');
  });
});

describe('didYouMean', () => {
  it('renders a hint only when there is a match', () => {
    expect(didYouMean('tabel', ['table'])).toBe('; did you mean `table`?');
    expect(didYouMean('zzzzzz', ['table'])).toBe('');
  });
});
