import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The rows of the README's "Where things are" table: each mechanism with the code spans of its cell. */
function mapRows(): { mechanism: string; spans: string[] }[] {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.split('\n## Where things are\n')[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| mechanism'))
    .map((line) => {
      const [mechanism = '', where = ''] = line.slice(2, -2).split(' | ');
      return { mechanism, spans: [...where.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '') };
    });
}

describe("the README's map of where things are", () => {
  const rows = mapRows();

  it('names the core mechanisms', () => {
    // Assess
    expect(rows.length).toBeGreaterThanOrEqual(10);
  });

  it.each(rows)('points $mechanism at files that exist and names found in them', ({ spans }) => {
    // Act: a span with a slash is a file; the spans after it are names in that file.
    let file = '';
    const missing: string[] = [];
    for (const span of spans) {
      if (span.includes('/')) {
        file = span;
        continue;
      }
      const text = readFileSync(path.join(root, file), 'utf8');
      if (!text.includes(span)) missing.push(`${span} in ${file}`);
    }
    const files = spans.filter((s) => s.includes('/'));
    const absent = files.filter((f) => {
      try {
        readFileSync(path.join(root, f));
        return false;
      } catch {
        return true;
      }
    });

    // Assess
    expect(files.length).toBeGreaterThan(0);
    expect(absent).toEqual([]);
    expect(missing).toEqual([]);
  });
});
