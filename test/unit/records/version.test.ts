import { describe, expect, it } from 'vitest';
import { archiveObjectKey } from '../../../shared/connectors/targets/s3/lake-layout.ts';
import {
  compareChanges,
  compareVersions,
  positionVersion,
  snapshotVersion,
  streamVersion,
  timestampVersion,
} from '../../../shared/records/version.ts';

const at = (iso: string) => Date.parse(iso);

describe('versions across channels', () => {
  it('orders a streamed change from 2030 after a row polled in 2020', () => {
    // Act
    const order = compareVersions(
      streamVersion(at('2030-01-01T00:00:00Z'), 5),
      timestampVersion('2020-01-01T00:00:00Z', 'key-1'),
    );

    // Assess
    expect(order).toBeGreaterThan(0);
  });

  it('orders changes by time first, whatever the channel or position', () => {
    // Prepare
    const inTimeOrder = [
      streamVersion(at('2024-01-01T00:00:00.001Z'), 900),
      timestampVersion('2024-01-01T00:00:00.002Z', 'k', 'webhook'),
      timestampVersion('2024-01-01T00:00:00.003Z', 'k', 'poll'),
      streamVersion(at('2024-01-01T00:00:00.004Z'), 1),
    ];

    // Act
    const sorted = [...inTimeOrder].reverse().sort(compareVersions);

    // Assess
    expect(sorted).toEqual(inTimeOrder);
  });

  it('at an equal millisecond puts a webhook delivery below a poll below a change stream', () => {
    // Prepare
    const ms = at('2024-01-01T00:00:00.000Z');
    const ranked = [
      timestampVersion(ms, '~~~', 'webhook'),
      timestampVersion(ms, '', 'poll'),
      timestampVersion(ms, '~~~', 'poll'),
      streamVersion(ms, 0),
    ];

    // Act
    const sorted = [...ranked].reverse().sort(compareVersions);

    // Assess
    expect(sorted).toEqual(ranked);
  });

  it('puts snapshot reads and stored position versions below every timestamped change', () => {
    // Prepare
    const oldest = timestampVersion('1971-01-01T00:00:00Z', 'k', 'webhook');

    // Act
    const snapshot = compareVersions(snapshotVersion(at('2099-01-01T00:00:00Z'), 10 ** 15), oldest);
    const legacy = compareVersions(positionVersion(10n ** 19n), snapshotVersion(0, 0));

    // Assess
    expect(snapshot).toBeLessThan(0);
    expect(legacy).toBeLessThan(0);
  });

  it('compares polled versions stored before the channel rank by their time', () => {
    // Prepare
    const stored = 't:2024-05-01T10:00:00.000Z|acme#7';

    // Act
    const later = compareVersions(streamVersion(at('2024-05-01T10:00:00.001Z'), 1), stored);
    const earlier = compareVersions(timestampVersion('2024-05-01T09:59:59.999Z', 'acme#7'), stored);

    // Assess
    expect(later).toBeGreaterThan(0);
    expect(earlier).toBeLessThan(0);
  });

  it('orders tied changes (one version, other content) by content hash, and the lake archive names the same way', () => {
    // Prepare
    const version = timestampVersion('2019-05-15T15:20:18Z', 'issue|1', 'webhook');
    const changes = [
      { version: streamVersion(at('2019-05-15T15:20:18Z'), 1), hash: 'AAAA' },
      { version, hash: 'zzzz' },
      { version, hash: 'deleted' },
      { version, hash: 'Bbbb' },
      { version: `${version}~`, hash: 'AAAA' },
      { version: timestampVersion('2019-05-15T15:20:17Z', 'issue|1', 'webhook'), hash: 'zzzz' },
    ];

    // Act
    const byChange = [...changes].sort(compareChanges);
    const byArchiveName = [...changes].sort((a, b) => {
      const [x, y] = [archiveObjectKey('p', 'k', a), archiveObjectKey('p', 'k', b)];
      return x < y ? -1 : x > y ? 1 : 0;
    });

    // Assess
    expect(byChange.map((c) => c.hash)).toEqual(['zzzz', 'Bbbb', 'deleted', 'zzzz', 'AAAA', 'AAAA']);
    expect(byArchiveName).toEqual(byChange);
  });
});
