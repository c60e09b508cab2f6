import { parseArgs } from 'node:util';
import { didYouMean } from '../shared/pipeline/did-you-mean.ts';
import { UsageError } from './io.ts';

const FLAGS = ['--json', '--help'];

/**
 * Parses the `--json` / `--help` flags of a local command (validate, connectors). node:util's
 * messages explain `--` escaping at length; the option name, a suggestion and the usage help more.
 */
export function parseJsonHelpArgs(
  argv: string[],
  options: {
    readonly allowPositionals: boolean;
    readonly usage: string;
    readonly unknownNoun: string;
    /** Options taking a value besides --json and --help, e.g. `extensions` for `--extensions DIR`. */
    readonly strings?: readonly string[];
  },
) {
  const strings = options.strings ?? [];
  try {
    const parsed = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        ...Object.fromEntries(strings.map((name) => [name, { type: 'string' as const }])),
      },
      allowPositionals: options.allowPositionals,
      strict: true,
    });
    const { json, help } = parsed.values as { json: boolean; help: boolean };
    const given = parsed.values as Readonly<Record<string, string | boolean | undefined>>;
    const text = (name: string) => {
      const value = given[name];
      return typeof value === 'string' ? value : undefined;
    };
    return { values: { json, help }, text, positionals: parsed.positionals };
  } catch (error) {
    const option = /'([^']+)'/.exec((error as Error).message)?.[1];
    const what =
      option === undefined
        ? (error as Error).message
        : `${options.unknownNoun} ${option}${didYouMean(option, [...FLAGS, ...strings.map((name) => `--${name}`)])}`;
    throw new UsageError(`${what}\n\n${options.usage}`, { cause: error });
  }
}
