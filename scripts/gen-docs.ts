/**
 * Writes the generated reference docs: docs/pipeline-reference.md from the pipeline schema and
 * docs/connectors.md from the connector catalog, docs/type-mapping.md from the type mapping, and
 * the README's command table from the commands' usage texts.
 * `--check` writes nothing and exits 1 when a
 * committed file differs from what would be generated (the unit tests make the same check).
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderCommandTable } from '../cli/reference.ts';
import { renderConnectorsReference } from '../shared/connectors/catalog.ts';
import { renderPipelineReference } from '../shared/pipeline/reference.ts';
import { renderTypeMapping } from '../shared/records/type-mapping.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every generated doc, by path relative to the repository root. */
export function generatedDocs(root = repoRoot): Record<string, string> {
  return {
    'docs/pipeline-reference.md': renderPipelineReference(),
    'docs/connectors.md': renderConnectorsReference(),
    'docs/type-mapping.md': renderTypeMapping(),
    'README.md': withGeneratedRegion(
      readFileSync(path.join(root, 'README.md'), 'utf8'),
      'commands',
      renderCommandTable(),
    ),
  };
}

/**
 * `text` with the lines between `<!-- NAME:start -->` and `<!-- NAME:end -->` replaced by
 * `content`: a generated part of a hand-written file.
 */
export function withGeneratedRegion(text: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->\n`;
  const end = `\n<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end, from);
  if (from === -1 || to === -1) throw new Error(`no <!-- ${name}:start/end --> markers to generate into`);
  return text.slice(0, from + start.length) + content + text.slice(to);
}

/** Paths (relative to `root`) whose content differs from what the generator produces. */
export async function staleDocs(root = repoRoot): Promise<string[]> {
  const stale: string[] = [];
  for (const [file, expected] of Object.entries(generatedDocs())) {
    const actual = await readFile(path.join(root, file), 'utf8').catch(() => undefined);
    if (actual !== expected) stale.push(file);
  }
  return stale;
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--check')) {
    const stale = await staleDocs();
    for (const file of stale) process.stderr.write(`${file} is out of date: run \`npm run docs\`\n`);
    return stale.length === 0 ? 0 : 1;
  }
  for (const [file, content] of Object.entries(generatedDocs())) {
    await writeFile(path.join(repoRoot, file), content);
    process.stdout.write(`wrote ${file}\n`);
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = await main(process.argv.slice(2));
