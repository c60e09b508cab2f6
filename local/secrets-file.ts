import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../shared/errors.ts';

/**
 * The local stack's secrets file, apart from the stack so that `esync secrets` and `esync dev`
 * read it without loading the emulators.
 */

/** Where the local stack reads its secrets from: `.esync/secrets.json` beside the pipelines folder. */
export function secretsFilePath(pipelinesDir: string): string {
  return path.join(pipelinesDir, '..', '.esync', 'secrets.json');
}

/** The secrets of a `.esync/secrets.json` (none when it does not exist), values as strings. */
export function readSecretsFile(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(`${file} must hold an object of secret name to value`);
  return secretValues(raw as Record<string, unknown>);
}

export const secretValues = (raw: Readonly<Record<string, unknown>>): Record<string, string> =>
  Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
