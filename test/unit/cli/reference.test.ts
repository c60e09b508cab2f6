import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../cli/main.ts';
import { renderCommandTable, usageForms } from '../../../cli/reference.ts';

describe("the README's command table", () => {
  it('has a row for every command the CLI knows, with its required flags', () => {
    // Act
    const table = renderCommandTable();

    // Assess
    for (const name of Object.keys(COMMANDS)) expect(table).toContain(`| \`esync ${name}`);
    expect(table).toContain('`esync conflicts list --pipeline P');
    expect(table).toContain('`esync runs history <run-id> [--json]`');
    expect(table).toContain('`esync checkpoint reset <pipeline> --reason TEXT');
  });

  it('reads each form of a usage text with the description beside it or on the next deeper line', () => {
    // Act
    const forms = usageForms(`usage:
  esync thing list [--json]     lists things
  esync thing make <name> --reason TEXT [--json]
      makes a thing
  esync thing drop <name>
common flags: --local`);

    // Assess
    expect(forms).toEqual([
      { form: 'esync thing list [--json]', description: 'lists things' },
      { form: 'esync thing make <name> --reason TEXT [--json]', description: 'makes a thing' },
      { form: 'esync thing drop <name>' },
    ]);
  });
});
