import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The suites whose files run longest (chaos ~80 s, e2e files up to ~30 s each, the bench test
 * ~30 s), in the order they start. Files run in parallel; a long file started last would run on
 * alone at the end while the other workers idle. The CPU-bound chaos and bench files are kept
 * apart by the e2e files, which mostly wait on the local stack.
 */
const SLOW_SUITES = ['test/chaos/', 'test/e2e/', 'test/bench/'];

/**
 * Vitest's order (failed first, then longest by the last run's times; on a clean clone, largest
 * first), with the files of {@link SLOW_SUITES} moved ahead of all others.
 */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const rank = (file: TestSpecification): number => {
      const relative = path.relative(file.project.config.root, file.moduleId).split(path.sep).join('/');
      const suite = SLOW_SUITES.findIndex((prefix) => relative.startsWith(prefix));
      return suite === -1 ? SLOW_SUITES.length : suite;
    };
    return ordered
      .map((file, index) => ({ file, index, rank: rank(file) }))
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
      .map(({ file }) => file);
  }
}
