import { describe, expect, it } from 'vitest';
import { CsvParser } from '../../../shared/connectors/sources/s3/csv.ts';

function parse(chunks: readonly string[]): string[][] {
  const parser = new CsvParser();
  return [...chunks.flatMap((c) => parser.push(c)), ...parser.end()];
}

describe('CsvParser', () => {
  it('splits plain fields and records on LF and CRLF', () => {
    expect(parse(['a,b,c\r\n1,2,3\n4,,6'])).toEqual([
      ['a', 'b', 'c'],
      ['1', '2', '3'],
      ['4', '', '6'],
    ]);
  });

  it('keeps commas, doubled quotes and line breaks inside quoted fields', () => {
    expect(parse(['id,text\n1,"say ""hi"", then\nleave"\n2,"",x'])).toEqual([
      ['id', 'text'],
      ['1', 'say "hi", then\nleave'],
      ['2', '', 'x'],
    ]);
  });

  it('gives the same records whatever the chunk boundaries', () => {
    const text = 'h1,h2\r\n"a,""b""\r\nc",d\r\ne,"f"\r\n';
    const whole = parse([text]);
    for (let size = 1; size <= 4; size++) {
      const chunks = Array.from({ length: Math.ceil(text.length / size) }, (_, i) =>
        text.slice(i * size, (i + 1) * size),
      );
      expect(parse(chunks)).toEqual(whole);
    }
    expect(whole).toEqual([
      ['h1', 'h2'],
      ['a,"b"\r\nc', 'd'],
      ['e', 'f'],
    ]);
  });

  it('skips blank lines and a leading byte-order mark', () => {
    expect(parse(['\ufeffa,b\n\n1,2\n\n'])).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('reports a quoted field that is never closed with the line it opened on', () => {
    const parser = new CsvParser();
    parser.push('a,b\n1,"open\nstill open');
    expect(() => parser.end()).toThrow('a quoted field opened on line 2 is never closed');
  });
});
