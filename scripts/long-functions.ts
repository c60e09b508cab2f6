/**
 * Prints the product functions longer than a limit (80 lines unless `--over N`), longest first:
 * `file:line name lines`. Product code is every tracked .ts file outside test/. A report, not a
 * gate: it always exits 0. `--json` adds one JSON line at the end with stable keys.
 * Usage: `node --import tsx scripts/long-functions.ts [--over N] [--json]`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';

export interface FunctionLength {
  readonly file: string;
  /** 1-based line of the function's first line. */
  readonly line: number;
  readonly name: string;
  /** Lines from its first to its last, both included. */
  readonly lines: number;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PRODUCT_DIRS = ['shared', 'functions', 'infra', 'local', 'cli', 'demo', 'scripts'];

/** The name a reader finds the function by: `Class.method`, the variable or property it is bound to. */
function nameOf(node: ts.FunctionLikeDeclaration): string {
  const own = node.name && !ts.isComputedPropertyName(node.name) ? node.name.getText() : undefined;
  const parent = node.parent;
  const owner = ts.isClassLike(parent) ? (parent.name?.getText() ?? '(class)') : undefined;
  if (ts.isConstructorDeclaration(node)) return `${owner ?? '(class)'}.constructor`;
  if (own !== undefined) return owner ? `${owner}.${own}` : own;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText();
  return '(anonymous)';
}

/** Every function, method, constructor and arrow of one source text with its length in lines. */
export function functionLengths(file: string, text: string): FunctionLength[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({
        file,
        line: first + 1,
        name: nameOf(node as ts.FunctionLikeDeclaration),
        lines: last - first + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The product's functions longer than `over` lines, longest first. */
export function longFunctions(over: number, root = ROOT): FunctionLength[] {
  const files = execFileSync('git', ['ls-files', '--', ...PRODUCT_DIRS.map((d) => `${d}/*.ts`)], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  return files
    .flatMap((f) => functionLengths(f, readFileSync(path.join(root, f), 'utf8')))
    .filter((f) => f.lines > over)
    .sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);
}

/** The report's lines for people. */
export function formatReport(found: readonly FunctionLength[], over: number): string[] {
  if (found.length === 0) return [`no product function over ${over} lines`];
  return [
    `${found.length} product function(s) over ${over} lines:`,
    ...found.map((f) => `${String(f.lines).padStart(5)}  ${f.file}:${f.line} ${f.name}`),
  ];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { over: { type: 'string', default: '80' }, json: { type: 'boolean' } },
  });
  const over = Number(values.over);
  if (!Number.isInteger(over) || over < 1)
    throw new Error(`--over takes a whole number of lines, got "${values.over}"`);
  const found = longFunctions(over);
  for (const line of formatReport(found, over)) console.log(line);
  if (values.json) console.log(JSON.stringify({ over, count: found.length, functions: found }));
}
