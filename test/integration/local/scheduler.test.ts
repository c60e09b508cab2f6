import { describe, expect, it } from 'vitest';
import { ManualClock, nextFireTime, parseScheduleExpression, Scheduler } from '../../../local/scheduler.ts';
import { ConfigError } from '../../../shared/errors.ts';

const MINUTE = 60_000;

function setup(start: string) {
  const clock = new ManualClock(new Date(start));
  const errors: unknown[] = [];
  const warnings: unknown[] = [];
  const scheduler = new Scheduler({
    clock,
    logger: {
      warn: (...args: unknown[]) => warnings.push(args),
      error: (...args: unknown[]) => errors.push(args),
    },
  });
  const fired: string[] = [];
  const recordFire = (id: string) => async () => {
    fired.push(`${id}@${new Date(clock.now()).toISOString()}`);
  };
  return { clock, scheduler, fired, recordFire, errors, warnings };
}

describe('Scheduler', () => {
  it('fires a rate schedule once per period counted from start', async () => {
    const { clock, scheduler, fired, recordFire } = setup('2024-01-01T00:00:00Z');
    scheduler.add('users-sync', 'rate(5 minutes)', recordFire('users-sync'));

    scheduler.start();
    await clock.advance(16 * MINUTE);

    expect(fired).toEqual([
      'users-sync@2024-01-01T00:05:00.000Z',
      'users-sync@2024-01-01T00:10:00.000Z',
      'users-sync@2024-01-01T00:15:00.000Z',
    ]);
    expect(scheduler.next('users-sync')?.toISOString()).toBe('2024-01-01T00:20:00.000Z');
  });

  it('fires a cron schedule at its UTC times', async () => {
    const { clock, scheduler, fired, recordFire } = setup('2024-01-01T10:07:00Z');
    scheduler.add('quarter', 'cron(0/15 * * * ? *)', recordFire('quarter'));

    scheduler.start();
    await clock.advance(40 * MINUTE);

    expect(fired).toEqual([
      'quarter@2024-01-01T10:15:00.000Z',
      'quarter@2024-01-01T10:30:00.000Z',
      'quarter@2024-01-01T10:45:00.000Z',
    ]);
  });

  it('honours day-of-week ranges in cron, skipping the weekend', async () => {
    const { clock, scheduler, fired, recordFire } = setup('2024-01-05T10:00:00Z');
    scheduler.add('weekday', 'cron(0 9 ? * MON-FRI *)', recordFire('weekday'));

    scheduler.start();
    await clock.advance(4 * 24 * 60 * MINUTE);

    expect(fired).toEqual(['weekday@2024-01-08T09:00:00.000Z', 'weekday@2024-01-09T09:00:00.000Z']);
  });

  it('skips occurrences while the previous fire of the same schedule still runs', async () => {
    const { clock, scheduler, warnings } = setup('2024-01-01T00:00:00Z');
    let release: () => void = () => undefined;
    let starts = 0;
    scheduler.add('slow', 'rate(1 minute)', async () => {
      starts++;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });

    scheduler.start();
    await clock.advance(3 * MINUTE);
    const whileRunning = scheduler.list()[0];
    release();
    await scheduler.settled();
    await clock.advance(MINUTE);

    expect(whileRunning).toMatchObject({ fires: 1, skipped: 2, running: true });
    expect(starts).toBe(2);
    expect(warnings).toHaveLength(2);
    release();
    await scheduler.stop();
  });

  it('logs a failing fire through the logger and keeps the schedule going', async () => {
    const { clock, scheduler, errors } = setup('2024-01-01T00:00:00Z');
    scheduler.add('broken', 'rate(1 minute)', async () => {
      throw new Error('source unreachable');
    });

    scheduler.start();
    await clock.advance(2 * MINUTE);

    expect(errors).toHaveLength(2);
    expect(String((errors[0] as unknown[])[1])).toContain('source unreachable');
    expect(scheduler.list()[0]).toMatchObject({ fires: 2, failures: 2 });
  });

  it('stops firing after stop() and waits for the fire in progress', async () => {
    const { clock, scheduler, fired } = setup('2024-01-01T00:00:00Z');
    scheduler.add('sync', 'rate(1 minute)', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      fired.push('done');
    });

    scheduler.start();
    await clock.advance(MINUTE);
    await scheduler.stop();
    await clock.advance(10 * MINUTE);

    expect(fired).toEqual(['done']);
    expect(scheduler.next('sync')).toBeUndefined();
  });

  it('fires a schedule on demand with trigger(), unless it is running', async () => {
    const { scheduler, fired } = setup('2024-01-01T00:00:00Z');
    let release: () => void = () => undefined;
    scheduler.add('manual', 'rate(1 day)', async () => {
      fired.push('started');
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });

    const first = scheduler.trigger('manual');
    await new Promise((resolve) => setImmediate(resolve));
    const second = await scheduler.trigger('manual');
    release();

    expect(await first).toBe(true);
    expect(second).toBe(false);
    expect(fired).toEqual(['started']);
  });

  it('refuses an id that is already scheduled', () => {
    const { scheduler, recordFire } = setup('2024-01-01T00:00:00Z');
    scheduler.add('a', 'rate(1 hour)', recordFire('a'));

    expect(() => scheduler.add('a', 'rate(2 hours)', recordFire('a'))).toThrow(
      new ConfigError('schedule "a" already exists'),
    );
  });
});

describe('schedule expressions', () => {
  it.each([
    ['rate(1 minutes)', /singular unit/],
    ['rate(5 minute)', /plural unit/],
    ['rate(0 minutes)', /at least 1/],
    ['rate(5 weeks)', /expected "rate\(...\)" or "cron\(...\)"/],
    ['cron(0 12 * * ?)', /6 fields/],
    ['cron(0 12 * * MON *)', /exactly one of day-of-month and day-of-week/],
    ['cron(0 12 ? * ? *)', /exactly one of day-of-month and day-of-week/],
    ['cron(99 12 * * ? *)', /99 is not between 0 and 59/],
    ['cron(0 12 $ * ? *)', /day-of-month field "\$"/],
    ['every day', /expected/],
  ])('rejects %s', (expression, reason) => {
    expect(() => parseScheduleExpression(expression)).toThrow(ConfigError);
    expect(() => parseScheduleExpression(expression)).toThrow(reason);
    expect(() => parseScheduleExpression(expression)).toThrow(`schedule "${expression}" is not valid`);
  });

  it.each([
    ['rate(1 hour)', '2024-02-10T08:30:00Z', '2024-02-10T09:30:00.000Z'],
    ['rate(2 days)', '2024-02-10T08:30:00Z', '2024-02-12T08:30:00.000Z'],
    ['cron(0 12 L * ? *)', '2024-02-10T08:30:00Z', '2024-02-29T12:00:00.000Z'],
    ['cron(0 8 ? * 2#1 *)', '2024-02-10T08:30:00Z', '2024-03-04T08:00:00.000Z'],
    ['cron(30 1 15W * ? 2024)', '2024-06-01T00:00:00Z', '2024-06-14T01:30:00.000Z'],
  ])('computes the next time of %s after %s', (expression, after, expected) => {
    expect(nextFireTime(expression, new Date(after))?.toISOString()).toBe(expected);
  });

  it('has no next time for a cron whose years are past', () => {
    expect(nextFireTime('cron(0 0 1 1 ? 2020)', new Date('2024-01-01T00:00:00Z'))).toBeUndefined();
  });
});
