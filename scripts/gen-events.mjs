import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const w = (p, o) => writeFileSync(p, JSON.stringify(o, null, 2) + '\n');
const run = {
  pipeline: 'users-sync',
  runId: 'users-sync-20261122T120000Z-a1b2c3',
  executionArn:
    'arn:aws:states:us-east-1:123456789012:execution:esync-dev-users-sync-sm:users-sync-20261122T120000Z-a1b2c3',
};
w('events/sfn/execution-input.json', {
  trigger: 'manual',
  requestedBy: 'arn:aws:iam::123456789012:user/ops',
});
w('events/sfn/discover.json', { ...run, trigger: 'manual' });
w('events/sfn/plan.json', run);
w('events/sfn/extract.json', { ...run, partition: { id: 'p0', spec: { index: 0, of: 4 } } });
w('events/sfn/extract-continuation.json', {
  ...run,
  partition: { id: 'p0', spec: { index: 0, of: 4 } },
  continuation: { cursor: { values: ['2026-11-22T11:00:00.000Z'], key: '4711' }, seq: 1 },
});
w('events/sfn/await-load.json', run);
w('events/sfn/verify.json', run);
w('events/sfn/cleanup.json', run);
w('events/sfn/record-failure.json', {
  ...run,
  error: {
    Error: 'ConnectorError',
    Cause: JSON.stringify({
      errorType: 'ConnectorError',
      errorMessage: 'postgres: relation "public.users" does not exist',
    }),
  },
});
const now = Date.parse('2026-11-22T12:00:00Z');
const rec = (key, v, data) => ({
  key,
  op: 'upsert',
  version: `t:2026-11-22T11:00:0${v}.000Z|${key}`,
  ts: `2026-11-22T11:00:0${v}.000Z`,
  data,
  hash: 'sample',
  provenance: { pipeline: 'users-sync', runId: run.runId },
});
const body = JSON.stringify({
  kind: 'records',
  v: 1,
  pipeline: 'users-sync',
  messageKey: 'k-sample-1',
  scope: `RUN#${run.runId}`,
  records: [
    rec('1', 1, {
      id: 1,
      email: 'ada@example.com',
      name: 'Ada',
      age: 36,
      status: 'active',
      updated_at: '2026-11-22T11:00:01.000Z',
    }),
  ],
});
w('events/sqs/load-batch.json', {
  Records: [
    {
      messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
      receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a',
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(now),
        SenderId: 'AIDAIENQZJOLO23YVJ4VO',
        ApproximateFirstReceiveTimestamp: String(now + 5),
      },
      messageAttributes: {},
      md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:esync-dev-users-sync-load',
      awsRegion: 'us-east-1',
    },
  ],
});
w('events/schedule/scheduled.json', {
  version: '0',
  id: '89d1a02d-5ec7-412e-82f5-13505f849b41',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-22T12:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:123456789012:rule/esync-dev-users-sync-schedule'],
  detail: {},
});
const ev = (detailType, detail) => ({
  version: '0',
  id: randomUUID(),
  'detail-type': detailType,
  source: 'esync.cdc',
  account: '123456789012',
  time: '2026-11-22T12:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail,
});
w(
  'events/cdc/debezium-update.json',
  ev('inventory.change', {
    before: { sku: 'SKU-1', quantity: 5, price: 9.5, location: 'A1', updated_at: '2026-11-22T11:59:00Z' },
    after: { sku: 'SKU-1', quantity: 4, price: 9.5, location: 'A1', updated_at: '2026-11-22T12:00:00Z' },
    op: 'u',
    source: { connector: 'postgresql', db: 'shop', table: 'inventory', lsn: 24023128, ts_ms: 1795348800000 },
    ts_ms: 1795348800100,
  }),
);
w(
  'events/cdc/debezium-delete.json',
  ev('inventory.change', {
    before: { sku: 'SKU-2', quantity: 0, price: 1, location: 'B2', updated_at: '2026-11-22T11:00:00Z' },
    after: null,
    op: 'd',
    source: { connector: 'postgresql', db: 'shop', table: 'inventory', lsn: 24023200, ts_ms: 1795348801000 },
    ts_ms: 1795348801100,
  }),
);
w('events/cdc/esync-change.json', {
  ...ev('esync.change', {
    pipeline: 'inventory-cdc',
    key: 'SKU-3',
    op: 'upsert',
    version: 'p:00000000000024023300',
    ts: '2026-11-22T12:00:02.000Z',
    data: { sku: 'SKU-3', quantity: 12, price: 3.25, location: 'C3', updated_at: '2026-11-22T12:00:02.000Z' },
  }),
  source: 'esync',
});
const secret = 'esync-sample-secret';
const apiEvent = (path, headers, body) => ({
  version: '2.0',
  routeKey: 'POST /webhooks/{pipeline}',
  rawPath: path,
  rawQueryString: '',
  headers: { 'content-type': 'application/json', 'user-agent': 'GitHub-Hookshot/abc', ...headers },
  requestContext: {
    accountId: '123456789012',
    apiId: 'local',
    domainName: '127.0.0.1',
    domainPrefix: 'local',
    http: {
      method: 'POST',
      path,
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'GitHub-Hookshot/abc',
    },
    requestId: randomUUID(),
    routeKey: 'POST /webhooks/{pipeline}',
    stage: '$default',
    time: '22/Nov/2026:12:00:00 +0000',
    timeEpoch: now,
  },
  pathParameters: { pipeline: path.split('/').pop() },
  body,
  isBase64Encoded: false,
});
const gh = readFileSync('events/github/issues.opened.json', 'utf8');
w(
  'events/apigw/webhook-github.json',
  apiEvent(
    '/webhooks/github-issues',
    {
      'x-github-event': 'issues',
      'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      'x-hub-signature-256': 'sha256=' + createHmac('sha256', secret).update(gh).digest('hex'),
    },
    gh,
  ),
);
const sw = JSON.stringify({
  type: 'user.updated',
  data: { id: 'u_1', email: 'ada@example.com', updated_at: '2026-11-22T12:00:00Z' },
});
const key = Buffer.from('esync-sample-standard-key').toString('base64');
const wid = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
const ts = String(Math.floor(now / 1000));
w(
  'events/apigw/webhook-standard.json',
  apiEvent(
    '/webhooks/user-events',
    {
      'webhook-id': wid,
      'webhook-timestamp': ts,
      'webhook-signature':
        'v1,' +
        createHmac('sha256', Buffer.from(key, 'base64')).update(`${wid}.${ts}.${sw}`).digest('base64'),
    },
    sw,
  ),
);
const hb = JSON.stringify([{ id: 7, name: 'widget', updated_at: '2026-11-22T12:00:00Z' }]);
w(
  'events/apigw/webhook-hmac.json',
  apiEvent(
    '/webhooks/widgets',
    { 'x-signature': createHmac('sha256', secret).update(hb).digest('hex'), 'x-delivery-id': 'd-001' },
    hb,
  ),
);
w('events/apigw/secrets.json', {
  'esync/demo/github-webhook': secret,
  'esync/demo/standard-webhook': 'whsec_' + key,
  'esync/demo/hmac-webhook': secret,
});
const mgmt = (method, path, routeKey, body) => ({
  version: '2.0',
  routeKey,
  rawPath: path,
  rawQueryString: '',
  headers: { 'content-type': 'application/json' },
  requestContext: {
    accountId: '123456789012',
    apiId: 'local',
    authorizer: {
      iam: {
        accessKey: 'AKIA...',
        accountId: '123456789012',
        callerId: 'AIDA...',
        principalOrgId: null,
        userArn: 'arn:aws:iam::123456789012:user/ops',
        userId: 'AIDA...',
      },
    },
    domainName: '127.0.0.1',
    http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'esync-cli' },
    requestId: randomUUID(),
    routeKey,
    stage: '$default',
    time: '22/Nov/2026:12:00:00 +0000',
    timeEpoch: now,
  },
  pathParameters: {},
  body,
  isBase64Encoded: false,
});
w('events/apigw/api-start-run.json', {
  ...mgmt('POST', '/pipelines/users-sync/runs', 'POST /pipelines/{name}/runs'),
  pathParameters: { name: 'users-sync' },
});
w('events/apigw/api-reset-checkpoint.json', {
  ...mgmt(
    'PUT',
    '/pipelines/users-sync/checkpoint',
    'PUT /pipelines/{name}/checkpoint',
    JSON.stringify({ cursor: null, reason: 'full reload after schema change' }),
  ),
  pathParameters: { name: 'users-sync' },
});
