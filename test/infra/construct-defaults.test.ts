import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const constructsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../infra/constructs');

/** `Interface.member` of every optional member of an interface in `text` whose TSDoc has no `@default`. */
function optionalWithoutDefault(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const missing: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isPropertySignature(node) && node.questionToken && ts.isInterfaceDeclaration(node.parent)) {
      const documented = ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'default');
      if (!documented) missing.push(`${file}: ${node.parent.name.text}.${node.name.getText(source)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return missing;
}

describe('construct props', () => {
  it('finds an optional member without @default, and passes one that has it', () => {
    // Act
    const found = optionalWithoutDefault(
      'x.ts',
      'interface P {\n  /** Kept. @default 3 */\n  readonly a?: number;\n  /** Undocumented default. */\n  readonly b?: string;\n  readonly c: string;\n}',
    );

    // Assess
    expect(found).toEqual(['x.ts: P.b']);
  });

  it('say the default of every optional prop of every construct (@default)', () => {
    // Act
    const missing = readdirSync(constructsDir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => optionalWithoutDefault(f, readFileSync(path.join(constructsDir, f), 'utf8')));

    // Assess
    expect(missing).toEqual([]);
  });
});
