import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stream as streamCommand } from '../../../cli/commands/stream.ts';
import { keys } from '../../../shared/state/keys.ts';
import type { MessageOutcome } from '../../../shared/state/ledger.ts';
import { handleManagementRequest, type ManagementResponse } from '../../../shared/usecases/api/routes.ts';
import { captureIo } from '../../unit/cli/api-stub.ts';
import { type ApiHarness, type CliGateway, startApiHarness, startCliGateway } from './harness.ts';

const DAY = '2025-03-04';
let h: ApiHarness;
let cli: CliGateway;

const outcome = (o: Partial<MessageOutcome>): MessageOutcome => ({
  loaded: 0,
  skipped: 0,
  conflicts: 0,
  quarantined: 0,
  deadLettered: 0,
  excludedKeys: [],
  ...o,
});

beforeAll(async () => {
  h = await startApiHarness();
  const scope = keys.ledgerScopeOfStream(h.pipelines.users.name, DAY);
  const ledger = h.deps.state.ledger;
  await ledger.complete(scope, 'm1', 3, outcome({ loaded: 2, skipped: 1, ties: 3, tiesReread: 2 }));
  await ledger.complete(scope, 'm2', 1, outcome({ loaded: 1, unavailableFields: 2 }));
  await ledger.complete(scope, 'm3', 2, outcome({ quarantined: 1, filtered: 1, excludedKeys: ['7', '8'] }));
  await ledger.complete(scope, 'm4', 0, outcome({ ignored: 'tombstone' }));
  await ledger.complete(scope, 'm5', 0, outcome({ ignored: 'heartbeat' }));
  await ledger.complete(scope, 'm6', 0, outcome({ ignored: 'heartbeat' }));
  await ledger.complete(
    keys.ledgerScopeOfStream(h.pipelines.users.name, '2025-03-05'),
    'm7',
    9,
    outcome({ loaded: 9 }),
  );
  cli = await startCliGateway(h.deps, 'esync-stream-');
});

afterAll(async () => {
  await cli?.stop();
  await h?.stop();
});

function getStream(pipeline: string, query: Record<string, string>): Promise<ManagementResponse> {
  return handleManagementRequest(h.deps, {
    method: 'GET',
    path: `/pipelines/${pipeline}/stream`,
    query,
    principal: 'local:test',
  });
}

describe('GET /pipelines/{name}/stream', () => {
  it("sums one day's change messages: outcomes, events that changed no row by kind, fields left as stored, ties and those read again at the source", async () => {
    const response = await getStream(h.pipelines.users.name, { day: DAY });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      pipeline: h.pipelines.users.name,
      day: DAY,
      counts: {
        extracted: 6,
        loaded: 3,
        skipped: 1,
        filtered: 1,
        conflicts: 0,
        quarantined: 1,
        deadLettered: 0,
      },
      ignored: { tombstone: 1, heartbeat: 2 },
      unavailableFields: 2,
      ties: 3,
      tiesReread: 2,
      messages: 6,
      pendingMessages: 0,
      excludedKeys: 2,
    });
  });

  it('reads today (UTC) when no day is given, and an empty day as zeros', async () => {
    const response = await getStream(h.pipelines.users.name, {});

    expect(response.status).toBe(200);
    expect(response.body.day).toBe(new Date().toISOString().slice(0, 10));
    expect(response.body.messages).toBe(0);
  });

  it('answers 400 naming the day when it is not a date, and 404 for an unknown pipeline', async () => {
    const badDay = await getStream(h.pipelines.users.name, { day: '2025-02-30x' });
    const unknown = await getStream('no-such-pipeline', { day: DAY });

    expect(badDay.status).toBe(400);
    expect(JSON.stringify(badDay.body)).toMatch(/day must be a UTC date/);
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).toMatch(/no-such-pipeline/);
  });
});

describe('esync stream over the HTTP API', () => {
  it("prints the day's outcomes and what the stream carried besides rows", async () => {
    const io = captureIo(cli.devDir);

    const code = await streamCommand([h.pipelines.users.name, '--day', DAY, '--local'], io);

    expect(code).toBe(0);
    const text = io.text();
    expect(text).toMatch(/changed no row +tombstone 1 · heartbeat 2/);
    expect(text).toMatch(/fields left as stored +2 /);
    expect(text).toMatch(/version ties +3 \(same version, other content\): 2 read again at the source/);
    expect(text).toMatch(/messages +6 \(0 not yet completed\)/);
    expect(text).toMatch(
      /EXTRACTED +LOADED +SKIPPED +FILTERED +CONFLICTS +QUARANTINED +DEAD-LETTERED\n +6 +3 +1 +1 +0 +1 +0$/,
    );
  });

  it('refuses a --day that is not a date before calling the API, naming the flag', async () => {
    const io = captureIo(cli.devDir);

    const code = await streamCommand([h.pipelines.users.name, '--day', 'yesterday', '--local'], io);

    expect(code).toBe(2);
    expect(io.errText()).toMatch(/--day must be a UTC date such as 2025-01-31, got "yesterday"/);
  });
});
