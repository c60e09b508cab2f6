import {
  ALARM_ROLES,
  chatMessage,
  type FailedRun,
  parseAlarmMessage,
  pipelineOfAlarm,
} from '../alerts/alarm-message.ts';
import type { SecretsProvider } from '../aws/secrets.ts';
import type { ConnectorContext } from '../connectors/types.ts';
import { ConfigError, TransientError } from '../errors.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import type { Deps } from './deps.ts';

/** Posts a JSON body to a URL and answers the HTTP status. */
export type PostJson = (url: string, body: string) => Promise<number>;

/** A chat service that has not answered by then is retried by the next delivery attempt. */
const POST_TIMEOUT_MS = 10_000;

const postWithFetch: PostJson = async (url, body) => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(POST_TIMEOUT_MS),
  });
  await response.body?.cancel();
  return response.status;
};

/**
 * A webhook URL read from a secret, refused unless HTTPS: the message names the pipeline and its
 * alarms, and goes nowhere in clear text. Plain HTTP is allowed to loopback only (local receivers).
 */
function webhookUrl(secretName: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigError(`secret "${secretName}" must hold a webhook URL (https://…)`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new ConfigError(`secret "${secretName}" must hold an https:// webhook URL`);
  return url.href;
}

/**
 * The pipeline's newest failed run with its failure, which CloudWatch's alarm message cannot hold;
 * undefined when none is found (the message then goes without it).
 */
async function newestFailedRun(
  deps: Pick<Deps, 'state' | 'log'>,
  pipeline: string,
): Promise<FailedRun | undefined> {
  try {
    const { runs } = await deps.state.runs.list({ pipeline, status: 'failed', limit: 20 });
    const run = runs.find((r) => r.failure);
    return run?.failure && { runId: run.runId, ...run.failure };
  } catch (error) {
    deps.log.warn('the newest failed run could not be read; the alert goes without it', {
      pipeline,
      error: (error as Error).name,
    });
    return undefined;
  }
}

/** How a pipeline's own secrets are read (Deps.connectorContext). */
interface PipelineSecretsReach {
  connectorContext(pipeline: Pipeline): Pick<ConnectorContext, 'secrets'>;
}

/**
 * Posts the chat message of one CloudWatch alarm message (an SNS message body) to every webhook of
 * the pipeline the alarm belongs to and every webhook of the stage (each secret once). Every webhook is tried; when one fails, the error names its
 * secret (never its URL) so that the delivery is retried.
 * @returns how many webhooks were posted to (0 for an alarm that is no pipeline's)
 */
export async function notifyAlarmWebhooks(
  deps: Pick<Deps, 'catalog' | 'config' | 'secrets' | 'state' | 'log'> & PipelineSecretsReach,
  snsMessage: string,
  post: PostJson = postWithFetch,
): Promise<{ readonly posted: number }> {
  const alarm = parseAlarmMessage(snsMessage);
  const { stage, cliTarget } = deps.config;
  const owner = pipelineOfAlarm(deps.catalog, stage, alarm.AlarmName);
  if (!owner) {
    deps.log.warn('alarm of no pipeline of this stage; no webhook posted', { alarm: alarm.AlarmName });
    return { posted: 0 };
  }
  const { pipeline, role } = owner;
  const failedRun =
    role === ALARM_ROLES.runsFailed && alarm.NewStateValue === 'ALARM'
      ? await newestFailedRun(deps, pipeline.name)
      : undefined;
  const body = JSON.stringify(
    chatMessage(alarm, { stage, pipeline: pipeline.name, role, cliTarget, ...(failedRun && { failedRun }) }),
  );
  // The pipeline's URL secrets through its own reach (its access role, with pipelines apart), the stage's with the function's.
  const pipelineSecrets = deps.connectorContext(pipeline).secrets;
  const secrets = new Map<string, SecretsProvider>(
    deps.config.stageAlertWebhooks.map((secret) => [secret, deps.secrets]),
  );
  for (const { secret } of pipeline.alerts.notify.webhooks)
    if (!secrets.has(secret)) secrets.set(secret, pipelineSecrets);
  const results = await Promise.allSettled(
    [...secrets].map(async ([secret, provider]) => {
      const url = webhookUrl(secret, await provider.getString(secret));
      const status = await post(url, body).catch((error: unknown) => {
        throw new TransientError(`posting to the webhook of secret "${secret}" failed`, { cause: error });
      });
      if (status < 200 || status >= 300)
        throw new TransientError(`the webhook of secret "${secret}" answered HTTP ${status}`);
    }),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failures.length > 0)
    throw new TransientError(
      `alarm ${alarm.AlarmName}: ${failures.length} of ${results.length} webhooks failed: ${failures
        .map((f) => f.message)
        .join('; ')}`,
      { cause: failures[0] },
    );
  return { posted: results.length };
}
