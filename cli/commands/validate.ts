import { DEFAULT_EXTENSIONS_DIR, loadExtensions } from '../../shared/extensions/load.ts';
import { type ChannelCombination, channelCombinations } from '../../shared/pipeline/channels.ts';
import { formatProblem, loadPipelineFiles } from '../../shared/pipeline/load.ts';
import { pipelineWarnings } from '../../shared/pipeline/warnings.ts';
import { parseJsonHelpArgs } from '../args.ts';
import { type Command, UsageError } from '../io.ts';

export const validateUsage = `Usage: esync validate [files or directories...] [--extensions DIR] [--json]

Checks pipeline files and prints every problem as \`file:line:col path message\`,
then a warning for each valid pipeline setting that likely does not do what is meant
(\`warning: pipeline path message\`; warnings do not change the exit status).
Where changes reach one target by more than one channel (a poll and webhooks, the
event bus and Kafka, several pipelines writing one table), a \`channels:\` line names
each channel and the version it carries, and says whether they share one version
order; a warning with advice follows for each channel that keeps them from it.
Directories are searched for *.yaml and *.yml files. Default: pipelines/.
Validators and connectors that pipelines name are checked against the built-in ones
and those the extension modules in extensions/ register (README, Extending ESync).

Options:
  --extensions DIR  load the extension modules from DIR instead of extensions/
  --json   print one JSON object {ok, pipelines, problems, warnings, channels} instead
  --help   show this help

Exit status: 0 all valid, 1 problems found, 2 bad arguments.`;

function parseValidateArgs(argv: string[]) {
  return parseJsonHelpArgs(argv, {
    allowPositionals: true,
    usage: validateUsage,
    unknownNoun: 'unknown option',
    strings: ['extensions'],
  });
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function formatCombination(c: ChannelCombination): string {
  const each = c.channels.map((ch) => `${ch.pipeline} ${ch.channel} (${ch.via}): ${ch.version}`);
  return `channels: ${c.target}: ${each.join('; ')}. ${c.explanation}`;
}

/**
 * `esync validate`: checks pipeline files the way `cdk deploy` and the local stack will, printing
 * every problem with its position. Exit 0 when all are valid, 1 on any problem; bad arguments
 * throw {@link UsageError} (exit 2).
 */
export const validate: Command = async (argv, io) => {
  const { values, text, positionals } = parseValidateArgs(argv);
  if (values.help) {
    io.out(validateUsage);
    return 0;
  }
  if (positionals.some((target) => target.trim() === ''))
    throw new UsageError(`an empty path was given\n\n${validateUsage}`);
  const targets = positionals.length > 0 ? positionals : ['pipelines'];

  const extensionsDir = text('extensions');
  const { registry: extensions } = await loadExtensions(extensionsDir ?? DEFAULT_EXTENSIONS_DIR, {
    cwd: io.cwd,
    required: extensionsDir !== undefined,
  });
  const { pipelines, problems } = await loadPipelineFiles(targets, { cwd: io.cwd, extensions });
  const names = pipelines.map((p) => p.name).sort();
  const ok = problems.length === 0;
  const channels = channelCombinations(pipelines);
  const warnings = [...pipelines.flatMap(pipelineWarnings), ...channels.warnings];

  if (values.json) {
    io.out(JSON.stringify({ ok, pipelines: names, problems, warnings, channels: channels.combinations }));
    return ok ? 0 : 1;
  }
  for (const problem of problems) io.out(formatProblem(problem));
  for (const c of channels.combinations) io.out(formatCombination(c));
  for (const w of warnings) io.out(`warning: ${w.pipeline} ${w.path} ${w.message}`);
  if (ok) io.out(`${plural(names.length, 'pipeline')} valid: ${names.join(', ')}`);
  else {
    const files = new Set(problems.map((p) => p.file)).size;
    io.out(
      `${plural(problems.length, 'problem')} in ${plural(files, 'file')}; ${plural(names.length, 'pipeline')} valid`,
    );
  }
  return ok ? 0 : 1;
};
