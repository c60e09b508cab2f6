import { describe, expect, it } from 'vitest';
import { chatMessage, inspectCommand, parseAlarmMessage } from '../../../shared/alerts/alarm-message.ts';
import { StaticSecretsProvider } from '../../../shared/aws/secrets.ts';
import type { RuntimeConfig } from '../../../shared/config.ts';
import { ConfigError, TransientError, ValidationError } from '../../../shared/errors.ts';
import { PipelineCatalog } from '../../../shared/pipeline/catalog.ts';
import { pipelineSchema } from '../../../shared/pipeline/schema.ts';
import type { StateRepositories } from '../../../shared/state/index.ts';
import type { RunRecord } from '../../../shared/state/runs.ts';
import type { Log } from '../../../shared/usecases/deps.ts';
import { notifyAlarmWebhooks, type PostJson } from '../../../shared/usecases/notify-webhooks.ts';

const pipeline = (name: string, webhooks: string[]) =>
  pipelineSchema.parse({
    name,
    source: { type: 'webhook', key: ['id'] },
    target: { type: 's3' },
    triggers: { webhook: { signature: 'standard-webhooks', secret: 'esync/test/hook' } },
    alerts: { notify: { webhooks: webhooks.map((secret) => ({ secret })) } },
  });

const alarm = (name: string, state = 'ALARM') =>
  JSON.stringify({
    AlarmName: name,
    AlarmDescription: 'A run of users-sync failed or timed out; see esync runs show.',
    NewStateValue: state,
    NewStateReason: 'Threshold Crossed: 1 datapoint [1.0] was greater than the threshold (0.0).',
    StateChangeTime: '2026-12-07T04:00:00.000+0000',
  });

const textOf = (post: { body: unknown } | undefined) =>
  (post?.body as { text?: string } | undefined)?.text ?? '';

/** Runs as the state table's index lists them (newest first), or the error reading them. */
function runsOf(runs: ReadonlyArray<Partial<RunRecord>> | Error): StateRepositories {
  const list = async () => {
    if (runs instanceof Error) throw runs;
    return { runs };
  };
  return { runs: { list } } as unknown as StateRepositories;
}

function setup(
  secrets: Record<string, string>,
  answer: (url: string) => Promise<number> = async () => 200,
  state: StateRepositories = runsOf([]),
  stageAlertWebhooks: readonly string[] = [],
  /** The secrets a pipeline's access role reads. @default - the same as the function's */
  pipelineSecrets: Record<string, string> = secrets,
) {
  const posts: Array<{ url: string; body: unknown }> = [];
  const warnings: string[] = [];
  const log: Log = { info() {}, warn: (m) => warnings.push(m), error() {} };
  const post: PostJson = async (url, body) => {
    posts.push({ url, body: JSON.parse(body) });
    return answer(url);
  };
  const deps = {
    catalog: new PipelineCatalog([
      pipeline('users-sync', ['esync/alerts/slack', 'esync/alerts/teams']),
      pipeline('users', []),
    ]),
    config: { stage: 'prod', cliTarget: '--stage prod', stageAlertWebhooks } as RuntimeConfig,
    secrets: new StaticSecretsProvider(secrets),
    connectorContext: () => ({ secrets: new StaticSecretsProvider(pipelineSecrets) }),
    state,
    log,
  };
  return { deps, posts, warnings, post };
}

const URLS = {
  'esync/alerts/slack': 'https://hooks.slack.com/services/T0/B0/x',
  'esync/alerts/teams': 'https://example.webhook.office.com/webhookb2/y',
};

describe('notifyAlarmWebhooks', () => {
  it('posts the alarm to every webhook of its pipeline with the pipeline, the cause and the command to inspect it', async () => {
    const { deps, posts, post } = setup(URLS);

    const result = await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-runs-failed'), post);

    expect(result).toEqual({ posted: 2 });
    expect(posts.map((p) => p.url).sort()).toEqual(Object.values(URLS).sort());
    const text = textOf(posts[0]);
    expect(text).toContain('pipeline users-sync');
    expect(text).toContain('esync-prod-users-sync-runs-failed ALARM');
    expect(text).toContain('Cause: Threshold Crossed: 1 datapoint');
    expect(text).toContain('Inspect: esync runs list --pipeline users-sync --status failed --stage prod');
  });

  it('names the newest failed run with its error, and points at esync runs show for it', async () => {
    const { deps, posts, post } = setup(
      URLS,
      undefined,
      runsOf([
        { runId: 'users-sync-r2', failure: { error: 'ConfigError', cause: 'secret "db" does not exist' } },
      ]),
    );

    await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-runs-failed'), post);

    const text = textOf(posts[0]);
    expect(text).toContain('Last failed run users-sync-r2: ConfigError: secret "db" does not exist');
    expect(text).toContain('Inspect: esync runs show users-sync-r2 --stage prod');
  });

  it('still posts the alarm when the runs cannot be read, without a run', async () => {
    const { deps, posts, warnings, post } = setup(URLS, undefined, runsOf(new Error('AccessDenied')));

    await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-runs-failed'), post);

    expect(posts).toHaveLength(2);
    expect(textOf(posts[0])).not.toContain('Last failed run');
    expect(warnings).toHaveLength(1);
  });

  it('posts every pipeline’s alarm to the stage’s webhooks too, a secret named by both once', async () => {
    const stageHook = 'https://hooks.slack.com/services/T0/B0/stage';
    const { deps, posts, post } = setup({ ...URLS, 'esync/alerts/stage': stageHook }, undefined, runsOf([]), [
      'esync/alerts/stage',
      'esync/alerts/slack',
    ]);

    const own = await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-latency'), post);
    const other = await notifyAlarmWebhooks(deps, alarm('esync-prod-users-latency'), post);

    expect(own).toEqual({ posted: 3 });
    expect(other).toEqual({ posted: 2 });
    expect(posts.map((p) => p.url).sort()).toEqual(
      [...Object.values(URLS), stageHook, stageHook, URLS['esync/alerts/slack']].sort(),
    );
    expect(textOf(posts.at(-1))).toContain('pipeline users:');
  });

  it('reads the pipeline’s URL secrets through the pipeline’s reach and the stage’s through its own', async () => {
    const stageHook = 'https://hooks.slack.com/services/T0/B0/stage';
    const { deps, posts, post } = setup(
      { 'esync/alerts/stage': stageHook },
      undefined,
      runsOf([]),
      ['esync/alerts/stage'],
      URLS,
    );

    const result = await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-latency'), post);

    expect(result).toEqual({ posted: 3 });
    expect(posts.map((p) => p.url).sort()).toEqual([...Object.values(URLS), stageHook].sort());
  });

  it('tells a recovery from a firing alarm', async () => {
    const { deps, posts, post } = setup(URLS);

    await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-dlq-depth', 'OK'), post);

    expect(textOf(posts[0])).toContain('esync-prod-users-sync-dlq-depth recovered (OK)');
  });

  it('posts nothing for an alarm of no pipeline of the stage, and says so', async () => {
    const { deps, posts, warnings, post } = setup(URLS);

    const result = await notifyAlarmWebhooks(deps, alarm('esync-dev-users-sync-runs-failed'), post);

    expect(result).toEqual({ posted: 0 });
    expect(posts).toEqual([]);
    expect(warnings).toHaveLength(1);
  });

  it('still posts to the other webhooks when one fails, then fails naming the secret and never the URL', async () => {
    const { deps, posts, post } = setup(URLS, async (url) => (url.includes('slack') ? 500 : 200));

    const failure = await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-runs-failed'), post).catch(
      (e: unknown) => e as Error,
    );

    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toContain('secret "esync/alerts/slack" answered HTTP 500');
    expect((failure as Error).message).not.toContain('hooks.slack.com');
    expect(posts).toHaveLength(2);
  });

  it('refuses a webhook URL that is not HTTPS, naming its secret', async () => {
    const { deps, post } = setup({ ...URLS, 'esync/alerts/slack': 'http://chat.example.com/hook' });

    const failure = await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-runs-failed'), post).catch(
      (e: unknown) => e as Error,
    );

    expect((failure as Error).message).toContain(
      'secret "esync/alerts/slack" must hold an https:// webhook URL',
    );
    expect((failure as Error & { cause: unknown }).cause).toBeInstanceOf(ConfigError);
  });

  it('takes plain HTTP only to a loopback receiver', async () => {
    const { deps, posts, post } = setup({
      'esync/alerts/slack': 'http://127.0.0.1:9999/hook',
      'esync/alerts/teams': 'http://localhost:9999/hook',
    });

    await notifyAlarmWebhooks(deps, alarm('esync-prod-users-sync-runs-failed'), post);

    expect(posts.map((p) => p.url).sort()).toEqual([
      'http://127.0.0.1:9999/hook',
      'http://localhost:9999/hook',
    ]);
  });
});

describe('parseAlarmMessage', () => {
  it('refuses a message that is not a CloudWatch alarm, naming the field', () => {
    expect(() => parseAlarmMessage('{"AlarmName":"x"}')).toThrow(ValidationError);
    expect(() => parseAlarmMessage('{"AlarmName":"x"}')).toThrow(/NewStateValue/);
    expect(() => parseAlarmMessage('not json')).toThrow(/not JSON/);
  });
});

describe('chatMessage', () => {
  it('is a single text field, which Slack and Teams incoming webhooks both render', () => {
    const message = chatMessage(parseAlarmMessage(alarm('esync-dev-a-latency')), {
      stage: 'dev',
      pipeline: 'a',
      role: 'latency',
      cliTarget: '--local',
    });

    expect(Object.keys(message)).toEqual(['text']);
    expect(message.text.split('\n')).toHaveLength(4);
  });
});

describe('inspectCommand', () => {
  it('points each alarm at the command that shows what it is about', () => {
    expect(inspectCommand('p', 'dlq-depth', '--local')).toBe('esync dlq inspect p --local');
    expect(inspectCommand('p', 'conflict-rate', '--local')).toBe('esync conflicts list --pipeline p --local');
    expect(inspectCommand('p', 'failure-rate', '--stage prod')).toBe(
      'esync runs list --pipeline p --stage prod',
    );
  });
});
