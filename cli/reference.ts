/**
 * The README's command table, generated from each command's own usage text so that it lists
 * every command form and its required flags and cannot drift from what the CLI accepts.
 */
import { auditUsage } from './commands/audit.ts';
import { checkpointUsage } from './commands/checkpoint.ts';
import { conflictsUsage } from './commands/conflicts.ts';
import { connectorsUsage } from './commands/connectors.ts';
import { demoUsage } from './commands/demo.ts';
import { devUsage } from './commands/dev.ts';
import { dlqUsage } from './commands/dlq.ts';
import { historyUsage } from './commands/history.ts';
import { runUsage } from './commands/run.ts';
import { runsUsage } from './commands/runs.ts';
import { secretsUsage } from './commands/secrets.ts';
import { streamUsage } from './commands/stream.ts';
import { validateUsage } from './commands/validate.ts';
import { COMMANDS, type CommandName } from './main.ts';

const USAGES: Record<CommandName, string> = {
  validate: validateUsage,
  connectors: connectorsUsage,
  dev: devUsage,
  demo: demoUsage,
  run: runUsage,
  runs: runsUsage,
  conflicts: conflictsUsage,
  dlq: dlqUsage,
  checkpoint: checkpointUsage,
  stream: streamUsage,
  secrets: secretsUsage,
  history: historyUsage,
  audit: auditUsage,
};

/**
 * Each `esync …` form of a usage text, with its description: written beside it after two
 * spaces, or on the next line indented deeper than the form.
 */
export function usageForms(usage: string): { form: string; description?: string }[] {
  const forms: { form: string; description?: string }[] = [];
  for (const line of usage.split('\n')) {
    const match = /^\s*(?:usage:\s*)?(esync \S.*)$/i.exec(line);
    const last = forms[forms.length - 1];
    if (!match?.[1]) {
      if (last && !last.description && /^ {6,}\S/.test(line)) last.description = line.trim();
      continue;
    }
    const [form = '', ...rest] = match[1].split(/\s{2,}/);
    const description = rest.join(' ').trim();
    forms.push({ form: form.trim(), ...(description && { description }) });
  }
  return forms;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The markdown table: one row per command form, its description or the command's summary. */
export function renderCommandTable(): string {
  const rows = (Object.entries(USAGES) as [CommandName, string][]).flatMap(([name, usage]) =>
    usageForms(usage).map(
      ({ form, description }) => `| \`${cell(form)}\` | ${cell(description ?? COMMANDS[name])} |`,
    ),
  );
  return ['| command | what it does |', '|---|---|', ...rows].join('\n');
}
