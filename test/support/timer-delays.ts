import { vi } from 'vitest';

/**
 * Runs `act` and returns what it resolved to with the delays (ms) of every setTimeout this
 * thread scheduled meanwhile, the timers left to run as usual. A test asserts the waits the code
 * asked for (a Retry-After honoured, an override applied) instead of the wall-clock time that
 * passed, which a loaded machine stretches.
 */
export async function recordingTimerDelays<T>(
  act: () => Promise<T>,
): Promise<{ result: T; delays: number[] }> {
  const timers = vi.spyOn(globalThis, 'setTimeout');
  try {
    const result = await act();
    return { result, delays: timers.mock.calls.map(([, ms]) => ms ?? 0) };
  } finally {
    timers.mockRestore();
  }
}
