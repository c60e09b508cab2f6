import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/servers.ts';
import { ownedTargetTableName } from '../../shared/naming.ts';
import { type CliProcess, jsonObjectLine, startCli } from '../support/e2e-process.ts';
import { createProject, type E2eProject, eventually, REPO_ROOT } from '../support/e2e-stack.ts';

const PIPELINE = 'widgets';
const SECRET_NAME = 'esync/e2e/widgets-hook';
const SECRET = 'crash-test-secret';
const DELIVERIES = 300;

const PIPELINE_YAML = `
name: ${PIPELINE}
source:
  type: webhook
  mapping: json
  key: [id]
  cursor: [updated_at]
triggers:
  webhook:
    signature: hmac
    secret: ${SECRET_NAME}
target:
  type: dynamodb
`;

interface DevReady {
  readonly apiUrl: string;
  readonly endpoints: { readonly dynamodb: string };
}

/** Sends one signed delivery; true when it was answered 202, false when refused or cut off. */
async function deliver(apiUrl: string, id: number): Promise<boolean> {
  const body = JSON.stringify({ id, name: `widget ${id}`, updated_at: '2026-12-01T00:00:00Z' });
  try {
    const response = await fetch(`${apiUrl}/webhooks/${PIPELINE}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-signature': createHmac('sha256', SECRET).update(body).digest('hex'),
      },
      body,
    });
    await response.text();
    return response.status === 202;
  } catch {
    return false; // the process died with the request in flight: not accepted
  }
}

describe('esync dev killed with SIGKILL in the middle of a webhook burst', () => {
  let project: E2eProject;
  const running: CliProcess[] = [];

  const startDev = async (dataDir: string) => {
    const dev = startCli(
      [
        '--import',
        'tsx',
        'cli/main.ts',
        'dev',
        '--json',
        '--pipelines-dir',
        project.pipelinesDir,
        '--data-dir',
        dataDir,
      ],
      { cwd: REPO_ROOT },
    );
    running.push(dev);
    return { dev, ready: (await dev.firstLine(jsonObjectLine, 110_000)) as unknown as DevReady };
  };

  beforeAll(() => {
    project = createProject({ [PIPELINE]: PIPELINE_YAML });
    mkdirSync(path.join(project.root, '.esync'), { recursive: true });
    writeFileSync(
      path.join(project.root, '.esync', 'secrets.json'),
      JSON.stringify({ [SECRET_NAME]: SECRET }),
    );
  });

  afterAll(async () => {
    for (const dev of running) await dev.kill();
    project?.remove();
  });

  it('loads every delivery it answered 202 into the target after a restart with the same data dir', async () => {
    // Prepare
    const dataDir = path.join(project.root, 'data');
    const first = await startDev(dataDir);
    const accepted: number[] = [];
    let next = 0;
    const sender = async () => {
      while (next < DELIVERIES) {
        const id = next++;
        if (await deliver(first.ready.apiUrl, id)) accepted.push(id);
      }
    };

    // Act
    const burst = Promise.all(Array.from({ length: 8 }, sender));
    await eventually('a third of the deliveries to be accepted', async () =>
      accepted.length >= DELIVERIES / 3 ? true : undefined,
    );
    first.dev.child.kill('SIGKILL');
    await burst;
    await first.dev.exited;
    const second = await startDev(dataDir);
    const documents = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: LOCAL_REGION,
        credentials: LOCAL_CREDENTIALS,
        endpoint: second.ready.endpoints.dynamodb,
      }),
    );
    const loaded = await eventually(
      'every accepted delivery in the target',
      async () => {
        const items = await documents.send(
          new ScanCommand({ TableName: ownedTargetTableName('dev', PIPELINE) }),
        );
        const ids = new Set((items.Items ?? []).map((item) => Number(item.id)));
        return accepted.every((id) => ids.has(id)) ? ids : undefined;
      },
      60_000,
    ).finally(() => documents.destroy());

    // Assess
    expect(accepted.length).toBeGreaterThanOrEqual(DELIVERIES / 3);
    expect(accepted.length).toBeLessThan(DELIVERIES);
    expect(accepted.filter((id) => !loaded.has(id))).toEqual([]);
  }, 300_000);
});
