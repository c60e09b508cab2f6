import jsonata from 'jsonata';
import { isJsonataError } from './expressions.ts';

/**
 * Why `text` is not a JSONata expression (with the character where parsing stopped), or
 * `undefined` when it compiles. Used where a pipeline is parsed (shared/pipeline/schema.ts);
 * the functions evaluate expressions through expressions.ts, which imports JSONata lazily.
 */
export function expressionCompileError(text: string): string | undefined {
  try {
    jsonata(text);
    return undefined;
  } catch (error) {
    if (!isJsonataError(error)) throw error;
    const at = error.position === undefined ? '' : ` at character ${error.position}`;
    return `JSONata expression does not compile${at}: ${error.message}${error.code ? ` (${error.code})` : ''}`;
  }
}
