import { describe, expect, it } from 'vitest';
import { stepLog } from '../../../cli/commands/demo.ts';
import { explainFigures } from '../../../demo/demo.ts';

const row = (pipeline: string, what: string, extracted: number, skipped: number) => ({
  pipeline,
  what,
  extracted,
  loaded: extracted - skipped,
  skipped,
  conflicts: 0,
  quarantined: 0,
  deadLettered: 0,
  verify: 'n/a',
  durationMs: 1,
  costUsd: 0,
});

describe('the demo output', () => {
  it("prints each step's own duration once the next step starts or the demo ends", () => {
    // Prepare
    const lines: string[] = [];
    let clock = 1_000;
    const steps = stepLog({ out: (line) => lines.push(line) }, () => clock);

    // Act
    steps.start('seeding');
    clock += 13_300;
    steps.start('first run');
    clock += 2_000;
    steps.end();

    // Assess
    expect(lines).toEqual(['» seeding', '  done in 13.3 s', '» first run', '  done in 2.0 s']);
  });

  it('explains extracted counts larger than the changes sent, with the figures of the run', () => {
    // Act
    const notes = explainFigures(
      [
        row('users-sync', 'incremental', 111, 55),
        row('inventory-cdc', 'CDC events', 71, 28),
        row('github-issues', 'webhooks', 3, 0),
      ],
      {
        changedRows: 55,
        lookbackSeconds: 60,
        cdcEvents: 60,
        cdcRepeats: 10,
        cdcAfterConflict: 1,
        deliveries: 4,
      },
    );

    // Assess
    expect(notes).toHaveLength(3);
    expect(notes[0]).toContain('111 extracted for 55 changed rows, because the 60 s lookback');
    expect(notes[1]).toContain('71 extracted = 60 events + 10 sent twice + 1 after');
    expect(notes[2]).toContain('4 signed deliveries answered 202 carried 3 records');
  });
});
