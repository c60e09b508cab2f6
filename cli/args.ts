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
  options: { readonly allowPositionals: boolean; readonly usage: string; readonly unknownNoun: string },
) {
  try {
    return parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: options.allowPositionals,
      strict: true,
    });
  } catch (error) {
    const option = /'([^']+)'/.exec((error as Error).message)?.[1];
    const what =
      option === undefined
        ? (error as Error).message
        : `${options.unknownNoun} ${option}${didYouMean(option, FLAGS)}`;
    throw new UsageError(`${what}\n\n${options.usage}`, { cause: error });
  }
}
