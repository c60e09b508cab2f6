import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { csvRecords } from '../../../shared/connectors/sources/s3/csv.ts';

async function recordsOf(input: Readable): Promise<string[][]> {
  const records: string[][] = [];
  for await (const fields of csvRecords(input)) records.push(fields);
  return records;
}

const parse = (chunks: readonly string[]) => recordsOf(Readable.from(chunks, { objectMode: false }));

describe('csvRecords', () => {
  it('splits plain fields and records on LF and CRLF, mixed in one file', async () => {
    expect(await parse(['a,b,c\r\n1,2,3\n4,,6'])).toEqual([
      ['a', 'b', 'c'],
      ['1', '2', '3'],
      ['4', '', '6'],
    ]);
  });

  it('keeps commas, doubled quotes and line breaks inside quoted fields', async () => {
    expect(await parse(['id,text\n1,"say ""hi"", then\nleave"\n2,"",x'])).toEqual([
      ['id', 'text'],
      ['1', 'say "hi", then\nleave'],
      ['2', '', 'x'],
    ]);
  });

  it('gives the same records whatever the chunk boundaries', async () => {
    const text = 'h1,h2\r\n"a,""b""\r\nc",d\r\ne,"f"\r\n';
    const whole = await parse([text]);
    for (let size = 1; size <= 4; size++) {
      const chunks = Array.from({ length: Math.ceil(text.length / size) }, (_, i) =>
        text.slice(i * size, (i + 1) * size),
      );
      expect(await parse(chunks)).toEqual(whole);
    }
    expect(whole).toEqual([
      ['h1', 'h2'],
      ['a,"b"\r\nc', 'd'],
      ['e', 'f'],
    ]);
  });

  it('skips blank lines and a leading byte-order mark', async () => {
    expect(await parse(['\ufeffa,b\n\n1,2\n\n'])).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });

  it('reports a quoted field that is never closed as not CSV, naming the line', async () => {
    await expect(parse(['a,b\n1,"open\nstill open'])).rejects.toThrow(
      new SyntaxError(
        'not valid CSV: Quote Not Closed: the parsing is finished with an opening quote at line 3',
      ),
    );
  });

  it('reports a quote inside an unquoted field as not CSV, naming the line', async () => {
    await expect(parse(['a,b\n1,2\n3,x"y\n'])).rejects.toThrow(/^not valid CSV: .* at line 3\b/);
  });

  it('passes on a read error of the input rather than ending the records', async () => {
    const input = new Readable({ read() {} });
    input.push('a,b\n1,2\n');
    setImmediate(() => input.destroy(new Error('connection reset')));

    await expect(recordsOf(input)).rejects.toThrow('connection reset');
  });
});
