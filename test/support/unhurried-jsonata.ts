import type jsonataModule from 'jsonata';
import { vi } from 'vitest';

/**
 * JSONata whose time limit a stalled machine cannot reach, for tests of what expressions make,
 * not of their limits: `vi.mock('jsonata', () => import('<path>/support/unhurried-jsonata.ts'))`.
 * The time limit (EXPRESSION_LIMITS.timeoutMs) is wall-clock time; on a machine busy with other
 * test files even `$lowercase(email)` can take longer, and its record is quarantined. The depth
 * and sequence limits stay; all three limits are tested in test/unit/domain/expressions.test.ts.
 */
const { default: jsonata } = await vi.importActual<{ default: typeof jsonataModule }>('jsonata');

/** How long an expression may take here: the test's own timeout stops a runaway one first. */
const UNHURRIED_TIMEOUT_MS = 120_000;

export default function unhurriedJsonata(
  text: string,
  options?: jsonataModule.JsonataOptions,
): jsonataModule.Expression {
  return jsonata(text, options && { ...options, timeout: UNHURRIED_TIMEOUT_MS });
}
