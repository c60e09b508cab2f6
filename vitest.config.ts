import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { SlowFirstSequencer } from './test/support/slow-first-sequencer.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One file per core (vitest's default leaves one core to itself: a single worker on CI's two
    // cores, idle whenever its file waits on a server, a child process or a state machine).
    maxWorkers: availableParallelism(),
    sequence: { sequencer: SlowFirstSequencer },
    reporters: ['default'],
  },
});
