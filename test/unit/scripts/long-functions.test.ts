import { describe, expect, it } from 'vitest';
import { formatReport, functionLengths, longFunctions } from '../../../scripts/long-functions.ts';

const SAMPLE = `export class Stack {
  constructor() {
    const a = 1;
  }
  run(): void {
    const inner = () => {
      return 2;
    };
  }
}
export function plain() {}
const arrow = async () => {
  await 0;
};
`;

describe('the long-functions report', () => {
  it('names each function, method, constructor and arrow with its first line and its length', () => {
    // Act
    const found = functionLengths('sample.ts', SAMPLE);

    // Assess
    expect(found.map(({ name, line, lines }) => [name, line, lines])).toEqual([
      ['Stack.constructor', 2, 3],
      ['Stack.run', 5, 5],
      ['inner', 6, 3],
      ['plain', 11, 1],
      ['arrow', 12, 3],
    ]);
  });

  it('lists the product functions over the limit, longest first, and prints them (a report, not a gate)', () => {
    // Act
    const found = longFunctions(80);
    const report = formatReport(found, 80);
    console.log(report.join('\n'));

    // Assess
    expect(found.every((f) => f.lines > 80 && !f.file.startsWith('test/'))).toBe(true);
    expect(found.map((f) => f.lines)).toEqual(found.map((f) => f.lines).sort((a, b) => b - a));
    expect(report).toHaveLength(found.length === 0 ? 1 : found.length + 1);
  });
});
