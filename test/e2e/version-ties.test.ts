import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { keys } from '../../shared/state/keys.ts';
import { githubFixture, postGithubDelivery } from '../support/e2e-events.ts';
import {
  createProject,
  type E2eProject,
  type E2eStack,
  listKeys,
  readObject,
  scanTable,
  startE2eStack,
} from '../support/e2e-stack.ts';

const SECRET = 'e2e-ties-secret';
const META = new Set(['pk', '_v', '_h', '_d', '_k', '_ts', '_m']);

const pipelineYaml = (name: string, target: string) => `name: ${name}
source:
  type: webhook
  mapping: github
  key: [kind, id]
triggers:
  webhook:
    signature: github
    secret: esync/ties/github
target:
${target}
`;

/** GitHub's `issues.opened` example payload, as another issue in another state (same `updated_at`). */
function issuePayload(id: number, change: Record<string, unknown>): string {
  const payload = JSON.parse(githubFixture('issues.opened')) as { issue: Record<string, unknown> };
  payload.issue = { ...payload.issue, id, number: id % 1000, ...change };
  return JSON.stringify(payload);
}

const days = (since: number) => [
  ...new Set([since, Date.now()].map((t) => new Date(t).toISOString().slice(0, 10))),
];

describe('two changes of one issue within one second (equal versions) on the local stack', () => {
  let project: E2eProject;
  let e2e: E2eStack;
  const since = Date.now();

  const PIPELINES = ['ties-ddb-1', 'ties-ddb-2', 'ties-lake-1', 'ties-lake-2'] as const;

  beforeAll(async () => {
    project = createProject(
      Object.fromEntries(
        PIPELINES.map((name) => [
          name,
          pipelineYaml(name, name.includes('ddb') ? '  type: dynamodb' : '  type: s3'),
        ]),
      ),
    );
    e2e = await startE2eStack(project, { 'esync/ties/github': SECRET });
  });

  afterAll(async () => {
    await e2e?.stop();
    project?.remove();
  });

  /** Each record of a pipeline's target: DynamoDB items, or the lake's newest line per key. */
  async function records(pipeline: string): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    if (pipeline.includes('ddb')) {
      for (const [key, item] of await scanTable(e2e.clients, ownedTargetTableName('dev', pipeline)))
        out.set(key, Object.fromEntries(Object.entries(item).filter(([n]) => !META.has(n))));
      return out;
    }
    const newest = new Map<string, { version: string; hash: string }>();
    for (const object of await listKeys(e2e.clients, e2e.dataBucket, `lake/${pipeline}/`))
      for (const text of (await readObject(e2e.clients, e2e.dataBucket, object)).trim().split('\n')) {
        const line = JSON.parse(text) as { key: string; version: string; hash: string; data: unknown };
        const held = newest.get(line.key);
        // Readers of the lake take the highest version, and at an equal version the higher hash.
        if (
          held &&
          (held.version > line.version || (held.version === line.version && held.hash >= line.hash))
        )
          continue;
        newest.set(line.key, line);
        out.set(line.key, line.data);
      }
    return out;
  }

  const deliver = async (pipeline: string, id: string, body: string) => {
    const answer = await postGithubDelivery(e2e.stack.apiUrl, pipeline, {
      event: 'issues',
      id,
      body,
      secret: SECRET,
    });
    expect(answer.status).toBe(202);
  };

  it('ends DynamoDB and the S3 lake on the same change of each same-second pair, whichever arrived first, and counts the ties', async () => {
    // Prepare: milestoned then demilestoned, and opened then edited, each pair within one second.
    const pairs = [
      [issuePayload(7_001, { milestone: { title: 'v1.0' } }), issuePayload(7_001, { milestone: null })],
      [
        issuePayload(7_002, { title: 'Spelling error in the README file' }),
        issuePayload(7_002, { title: 'Spelling error in the README' }),
      ],
    ];

    // Act: pipelines *-1 get each pair in its order, *-2 reversed.
    for (const round of [0, 1]) {
      for (const pipeline of PIPELINES)
        for (const [p, pair] of pairs.entries()) {
          const i = pipeline.endsWith('-1') ? round : 1 - round;
          await deliver(pipeline, `${pipeline}-${p}-${i}`, pair[i] ?? '');
        }
      await e2e.stack.idle();
    }

    // Assess
    const [first, ...others] = await Promise.all(PIPELINES.map(records));
    expect(first?.size).toBe(2);
    for (const other of others) expect(other).toEqual(first);
    for (const pipeline of PIPELINES) {
      let ties = 0;
      for (const day of days(since))
        ties += (await e2e.state.ledger.totals(keys.ledgerScopeOfStream(pipeline, day))).ties;
      expect({ pipeline, ties }).toEqual({ pipeline, ties: 2 });
    }
  });

  const PINNED = ['ties-ddb-1', 'ties-lake-1'];

  it('takes an issues.pinned delivery without state as a partial update: DynamoDB and the lake keep the fields it lacks', async () => {
    // Prepare
    const opened = issuePayload(7_004, { title: 'Before pinning', updated_at: '2026-02-01T10:00:00Z' });
    const pinned = JSON.stringify({
      ...(JSON.parse(opened) as object),
      action: 'pinned',
      issue: { id: 7_004, number: 4, title: 'Pinned', updated_at: '2026-02-01T10:05:00Z' },
    });

    const before = new Map<string, Record<string, unknown>>();
    for (const pipeline of PINNED) {
      await deliver(pipeline, `${pipeline}-opened-7004`, opened);
      await e2e.stack.idle();
      before.set(pipeline, (await records(pipeline)).get('issue#7004') as Record<string, unknown>);
    }

    // Act
    for (const pipeline of PINNED) await deliver(pipeline, `${pipeline}-pinned-7004`, pinned);
    await e2e.stack.idle();

    // Assess
    for (const pipeline of PINNED) {
      const held = before.get(pipeline);
      expect(held).toMatchObject({ state: 'open', title: 'Before pinning', labels: ['bug'] });
      expect({ pipeline, issue: (await records(pipeline)).get('issue#7004') }).toEqual({
        pipeline,
        issue: { ...held, title: 'Pinned', updated_at: '2026-02-01T10:05:00Z' },
      });
    }
  });

  it('changes nothing when an old delivery body is replayed with a fresh delivery id', async () => {
    // Prepare
    const pipeline = 'ties-ddb-1';
    const older = issuePayload(7_003, { title: 'first title', updated_at: '2026-01-01T10:00:00Z' });
    const newer = issuePayload(7_003, { title: 'second title', updated_at: '2026-01-01T10:05:00Z' });
    await deliver(pipeline, 'replay-original-1', older);
    await deliver(pipeline, 'replay-original-2', newer);
    await e2e.stack.idle();
    const before = await scanTable(e2e.clients, ownedTargetTableName('dev', pipeline));

    // Act: a captured body, signed as sent, re-sent under a delivery id never seen.
    await deliver(pipeline, 'replay-fresh-id', older);
    await e2e.stack.idle();

    // Assess
    const after = await scanTable(e2e.clients, ownedTargetTableName('dev', pipeline));
    expect(after).toEqual(before);
    const [issue] = [...after.values()].filter((item) => item.id === 7_003);
    expect(issue?.title).toBe('second title');
  });
});
