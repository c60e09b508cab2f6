import { beforeAll, describe, expect, it } from 'vitest';
import { type ExtractProfile, profileExtract } from './extract-profile.ts';
import { benchPipeline } from './records.ts';

/**
 * Four partitions of 1,000 rows (each at least a page), each packed into messages of the
 * pipeline's batch size: two of 500 records (about 575 KB each), so two queue batches per
 * partition (SQS takes 1 MiB per SendMessageBatch).
 */
const RECORDS = 4000;
const PER_MESSAGE = benchPipeline().batch.size;

describe('the Extract profile on the local stack', () => {
  let profiles: ExtractProfile[];

  beforeAll(async () => {
    profiles = await profileExtract({ records: RECORDS, rounds: 1 });
  }, 180_000);

  it('extracts every row of a first load, its partitions side by side, into messages of the pipeline batch size', () => {
    // Assess
    expect(profiles.map((p) => [p.records, p.partitions, p.invocations, p.messages])).toEqual([
      [RECORDS, 4, 4, RECORDS / PER_MESSAGE],
    ]);
  });

  it("counts the SendMessageBatch requests: two for each partition's two messages of 575 KB", () => {
    // Assess
    const sends = profiles[0]?.requests.find((r) => r.what === 'sqs SendMessageBatch');
    expect(sends?.perRecord).toBe(8 / RECORDS);
  });

  it("splits the handlers' thread CPU by owner, the source's rows and the envelopes among them", () => {
    // Assess
    const cpu = profiles[0]?.cpuMs;
    expect(cpu?.['source rows']).toBeGreaterThan(0);
    expect(cpu?.['envelopes and hash']).toBeGreaterThan(0);
    expect(profiles[0]?.hot.length).toBeGreaterThan(0);
  });

  it("times Extract's PostgreSQL page reads and reads the process's peak RSS, Load stopped and so nothing to drain", () => {
    // Assess
    const [profile] = profiles;
    expect(profile?.pgMs).toBeGreaterThan(0);
    expect(profile?.peakRssMb).toBeGreaterThan(50);
    expect(profile?.drainMs).toBeLessThan(profile?.wallMs ?? 0);
    expect(profile?.requests.some((r) => r.what.startsWith('Load: '))).toBe(false);
  });
});
