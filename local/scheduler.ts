import awsCronParser from 'aws-cron-parser';
import { ConfigError, describeError } from '../shared/errors.ts';
import type { LocalLogger } from './aws-json-server.ts';

/**
 * Fires the pipelines' schedules locally, from the same `rate(...)` / `cron(...)` expressions
 * EventBridge uses (cron in UTC, with `?`, `L`, `W`, `#` and the year field). A schedule never
 * overlaps itself: an occurrence that comes while the previous fire still runs is skipped and
 * logged. A fire that fails is logged and the schedule carries on.
 */

/** Time and timers, injectable so tests run instantly with {@link ManualClock}. */
export interface SchedulerClock {
  now(): number;
  setTimer(callback: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock. */
export const systemClock: SchedulerClock = {
  now: () => Date.now(),
  setTimer: (callback, ms) => setTimeout(callback, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A clock that moves only when told to. `advance` runs every timer that falls due, in time
 * order, and lets the fires they start run their synchronous part and resolved promises.
 */
export class ManualClock implements SchedulerClock {
  #now: number;
  #timers = new Map<number, { at: number; callback: () => void }>();
  #nextId = 1;

  constructor(start: Date | number) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let dueId: number | undefined;
      let due: { at: number; callback: () => void } | undefined;
      for (const [id, timer] of this.#timers)
        if (timer.at <= target && (!due || timer.at < due.at)) [dueId, due] = [id, timer];
      if (dueId === undefined || !due) break;
      this.#timers.delete(dueId);
      this.#now = due.at;
      due.callback();
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.#now = target;
  }
}

/** A parsed schedule expression. */
export interface ScheduleExpression {
  readonly expression: string;
  /**
   * The first occurrence strictly after `after` (epoch ms), or undefined when there is none.
   * Rates count from `anchor`, the moment the schedule began.
   */
  next(after: number, anchor: number): number | undefined;
}

const RATE_UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const CRON_FIELDS: readonly [string, RegExp][] = [
  ['minutes', /^[0-9,\-*/]+$/],
  ['hours', /^[0-9,\-*/]+$/],
  ['day-of-month', /^[0-9,\-*?/LW]+$/],
  ['month', /^[0-9A-Za-z,\-*/]+$/],
  ['day-of-week', /^[0-9A-Za-z,\-*?/L#]+$/],
  ['year', /^[0-9,\-*/]+$/],
];

/**
 * Parses an EventBridge schedule expression: `rate(<n> minute[s]|hour[s]|day[s])` (singular
 * unit exactly when n is 1, as AWS requires) or `cron(<6 fields>)`.
 * @throws ConfigError naming the expression and what is wrong with it.
 */
export function parseScheduleExpression(expression: string): ScheduleExpression {
  const fail = (reason: string): never => {
    throw new ConfigError(`schedule "${expression}" is not valid: ${reason}`);
  };
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] as string;
    if (value < 1) fail('the rate must be at least 1');
    if ((value === 1) !== !unit.endsWith('s'))
      fail(
        value === 1
          ? `use the singular unit with 1, e.g. "rate(1 ${unit.replace(/s$/, '')})"`
          : `use the plural unit with ${value}, e.g. "rate(${value} ${unit}s)"`,
      );
    const period = value * (RATE_UNITS[unit.replace(/s$/, '')] as number);
    return {
      expression,
      next: (after, anchor) => anchor + (Math.floor(Math.max(0, after - anchor) / period) + 1) * period,
    };
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron) return fail('expected "rate(...)" or "cron(...)"');
  const fields = (cron[1] as string).trim().split(/\s+/);
  if (fields.length !== 6)
    fail(`cron needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`);
  fields.forEach((field, i) => {
    const [name, allowed] = CRON_FIELDS[i] as [string, RegExp];
    if (!allowed.test(field)) fail(`the ${name} field "${field}" has characters it does not allow`);
  });
  if ((fields[2] === '?') === (fields[4] === '?'))
    fail('exactly one of day-of-month and day-of-week must be "?"');
  let parsed: ReturnType<typeof awsCronParser.parse>;
  try {
    parsed = awsCronParser.parse(fields.join(' '));
  } catch (error) {
    return fail(describeError(error).message);
  }
  return {
    expression,
    next: (after) => awsCronParser.next(parsed, new Date(after))?.getTime() ?? undefined,
  };
}

/** The next time an expression fires after `after` (rates count from `after`). */
export function nextFireTime(expression: string, after: Date): Date | undefined {
  const next = parseScheduleExpression(expression).next(after.getTime(), after.getTime());
  return next === undefined ? undefined : new Date(next);
}

/** What a schedule has done, for `esync dev` and tests. */
export interface ScheduleInfo {
  readonly id: string;
  readonly expression: string;
  readonly nextFireAt: Date | undefined;
  readonly running: boolean;
  readonly fires: number;
  readonly failures: number;
  /** Occurrences skipped because the previous fire was still running. */
  readonly skipped: number;
}

export interface SchedulerOptions {
  /** @default systemClock */
  readonly clock?: SchedulerClock;
  /** @default console */
  readonly logger?: LocalLogger;
}

interface Schedule {
  readonly id: string;
  readonly expression: ScheduleExpression;
  readonly fire: () => Promise<void>;
  anchor: number;
  nextAt: number | undefined;
  /** The occurrence handled last, so a timer firing a hair early cannot yield it twice. */
  lastAt: number | undefined;
  timer: unknown;
  running: Promise<void> | undefined;
  fires: number;
  failures: number;
  skipped: number;
}

/** setTimeout's longest delay; a later occurrence is reached in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs schedules while started. */
export class Scheduler {
  readonly #clock: SchedulerClock;
  readonly #logger: LocalLogger;
  readonly #schedules = new Map<string, Schedule>();
  #started = false;

  constructor(options: SchedulerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? console;
  }

  /**
   * Adds a schedule; it starts counting now (or at `start()`).
   * @throws ConfigError when the expression is invalid or the id is taken.
   */
  add(id: string, expression: string, fire: () => Promise<void>): void {
    if (this.#schedules.has(id)) throw new ConfigError(`schedule "${id}" already exists`);
    const schedule: Schedule = {
      id,
      expression: parseScheduleExpression(expression),
      fire,
      anchor: this.#clock.now(),
      nextAt: undefined,
      lastAt: undefined,
      timer: undefined,
      running: undefined,
      fires: 0,
      failures: 0,
      skipped: 0,
    };
    this.#schedules.set(id, schedule);
    if (this.#started) this.#arm(schedule);
  }

  /** Removes a schedule; a fire in progress finishes. */
  remove(id: string): boolean {
    const schedule = this.#schedules.get(id);
    if (!schedule) return false;
    this.#disarm(schedule);
    return this.#schedules.delete(id);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const now = this.#clock.now();
    for (const schedule of this.#schedules.values()) {
      schedule.anchor = now;
      this.#arm(schedule);
    }
  }

  /** Stops firing and waits for fires in progress. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const schedule of this.#schedules.values()) this.#disarm(schedule);
    await this.settled();
  }

  /** Resolves when no fire is running. */
  async settled(): Promise<void> {
    for (;;) {
      const running = [...this.#schedules.values()].flatMap((s) => (s.running ? [s.running] : []));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /** The next time a schedule fires, while started. */
  next(id: string): Date | undefined {
    const at = this.#schedules.get(id)?.nextAt;
    return at === undefined ? undefined : new Date(at);
  }

  list(): ScheduleInfo[] {
    return [...this.#schedules.values()].map((s) => ({
      id: s.id,
      expression: s.expression.expression,
      nextFireAt: s.nextAt === undefined ? undefined : new Date(s.nextAt),
      running: s.running !== undefined,
      fires: s.fires,
      failures: s.failures,
      skipped: s.skipped,
    }));
  }

  /**
   * Fires a schedule now, outside its timetable (a manual run), unless it is already running.
   * @returns whether it fired.
   */
  async trigger(id: string): Promise<boolean> {
    const schedule = this.#schedules.get(id);
    if (!schedule) throw new ConfigError(`schedule "${id}" does not exist`);
    if (schedule.running) return false;
    await this.#run(schedule);
    return true;
  }

  #arm(schedule: Schedule): void {
    this.#disarm(schedule);
    const now = this.#clock.now();
    schedule.nextAt = schedule.expression.next(Math.max(now, schedule.lastAt ?? now), schedule.anchor);
    if (schedule.nextAt === undefined) {
      this.#logger.warn(
        `schedule "${schedule.id}" (${schedule.expression.expression}) has no future occurrence`,
      );
      return;
    }
    const at = schedule.nextAt;
    const delay = at - now;
    schedule.timer = this.#clock.setTimer(
      () => (delay > MAX_TIMER_MS ? this.#arm(schedule) : this.#onTime(schedule, at)),
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  #disarm(schedule: Schedule): void {
    if (schedule.timer !== undefined) this.#clock.clearTimer(schedule.timer);
    schedule.timer = undefined;
    schedule.nextAt = undefined;
  }

  #onTime(schedule: Schedule, at: number): void {
    schedule.timer = undefined;
    schedule.lastAt = at;
    if (!this.#started || this.#schedules.get(schedule.id) !== schedule) return;
    if (schedule.running) {
      schedule.skipped++;
      this.#logger.warn(
        `schedule "${schedule.id}" skipped an occurrence: the previous fire is still running`,
      );
    } else {
      void this.#run(schedule);
    }
    this.#arm(schedule);
  }

  #run(schedule: Schedule): Promise<void> {
    schedule.fires++;
    const running = Promise.resolve()
      .then(() => schedule.fire())
      .catch((error: unknown) => {
        schedule.failures++;
        this.#logger.error(`schedule "${schedule.id}" failed`, error);
      })
      .finally(() => {
        schedule.running = undefined;
      });
    schedule.running = running;
    return running;
  }
}
