import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generatedDocs } from '../../../scripts/gen-docs.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('generated reference docs', () => {
  for (const [file, expected] of Object.entries(generatedDocs())) {
    it(`${file} matches what scripts/gen-docs.ts generates`, async () => {
      // Act
      const committed = await readFile(path.join(repoRoot, file), 'utf8').catch(() => '');

      // Assess
      expect(committed === expected, `${file} is out of date: run \`npm run docs\``).toBe(true);
    });
  }
});
