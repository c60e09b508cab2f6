/**
 * A streaming CSV parser (RFC 4180): fields separated by commas, records by LF or CRLF,
 * quoted fields holding commas, quotes (doubled) and line breaks. Chunks may split a record
 * or a quoted field anywhere; only the record being parsed is held in memory.
 */
export class CsvParser {
  #field = '';
  #record: string[] = [];
  #quoted = false;
  /** The previous character closed a quoted section (a quote now means an escaped quote). */
  #afterQuote = false;
  #fieldStarted = false;
  #pendingCr = false;
  #atStart = true;
  /** Physical line the current record started on (1-based), for error messages. */
  #line = 1;
  #recordLine = 1;

  /** Parses a chunk; returns the records it completed. */
  push(chunk: string): string[][] {
    const records: string[][] = [];
    let text = chunk;
    if (this.#atStart) {
      this.#atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let runStart = -1;
    const flushRun = (end: number) => {
      if (runStart >= 0) this.#field += text.slice(runStart, end);
      runStart = -1;
    };
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string;
      if (this.#pendingCr) {
        this.#pendingCr = false;
        if (c === '\n') continue;
      }
      if (this.#quoted) {
        if (c === '"') {
          flushRun(i);
          this.#quoted = false;
          this.#afterQuote = true;
        } else {
          if (c === '\n') this.#line++;
          if (runStart < 0) runStart = i;
        }
        continue;
      }
      if (c === '"') {
        flushRun(i);
        if (this.#afterQuote) this.#field += '"';
        this.#quoted = true;
        this.#afterQuote = false;
        this.#fieldStarted = true;
        continue;
      }
      this.#afterQuote = false;
      if (c === ',') {
        flushRun(i);
        this.#endField();
        continue;
      }
      if (c === '\n' || c === '\r') {
        flushRun(i);
        if (c === '\r') this.#pendingCr = true;
        const record = this.#endRecord();
        if (record) records.push(record);
        this.#line++;
        this.#recordLine = this.#line;
        continue;
      }
      this.#fieldStarted = true;
      if (runStart < 0) runStart = i;
    }
    flushRun(text.length);
    return records;
  }

  /** Ends the input; returns the last record, if the text did not end with a line break. */
  end(): string[][] {
    if (this.#quoted)
      throw new SyntaxError(`a quoted field opened on line ${this.#recordLine} is never closed`);
    const record = this.#endRecord();
    return record ? [record] : [];
  }

  #endField(): void {
    this.#record.push(this.#field);
    this.#field = '';
    this.#fieldStarted = false;
  }

  /** The finished record, or undefined for a blank line. */
  #endRecord(): string[] | undefined {
    this.#afterQuote = false;
    if (this.#record.length === 0 && !this.#fieldStarted && this.#field === '') return undefined;
    this.#endField();
    const record = this.#record;
    this.#record = [];
    return record;
  }
}
