import * as z from 'zod';
import { ValidationError } from '../errors.ts';
import { resourceName } from '../naming.ts';
import type { PipelineCatalog } from '../pipeline/catalog.ts';
import type { Pipeline } from '../pipeline/schema.ts';

/** The role part of each pipeline alarm's name, `esync-<stage>-<pipeline>-<role>`. */
export const ALARM_ROLES = {
  deadLetters: 'dlq-depth',
  cdcDeadLetters: 'cdc-dlq-depth',
  failureRate: 'failure-rate',
  conflictRate: 'conflict-rate',
  latency: 'latency',
  runsFailed: 'runs-failed',
} as const;
type AlarmRole = (typeof ALARM_ROLES)[keyof typeof ALARM_ROLES];

/** The fields ESync reads of the JSON message CloudWatch publishes to SNS when an alarm changes state. */
export const alarmMessageSchema = z.object({
  AlarmName: z.string().min(1),
  AlarmDescription: z.string().nullish(),
  NewStateValue: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']),
  NewStateReason: z.string(),
  StateChangeTime: z.string().optional(),
});
export type AlarmMessage = z.infer<typeof alarmMessageSchema>;

/**
 * An SNS message body as a CloudWatch alarm message.
 * @throws ValidationError naming the field that is missing or wrong.
 */
export function parseAlarmMessage(body: string): AlarmMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError('the SNS message is not JSON: expected a CloudWatch alarm message');
  }
  const parsed = alarmMessageSchema.safeParse(json);
  if (!parsed.success)
    throw new ValidationError(
      `the SNS message is not a CloudWatch alarm message: ${parsed.error.issues
        .map((i) => `${i.path.join('.') || 'message'}: ${i.message}`)
        .join('; ')}`,
    );
  return parsed.data;
}

/** The pipeline and role an alarm of the stage belongs to, when it is one of ESync's pipeline alarms. */
export function pipelineOfAlarm(
  catalog: PipelineCatalog,
  stage: string,
  alarmName: string,
): { readonly pipeline: Pipeline; readonly role: AlarmRole } | undefined {
  for (const pipeline of catalog.all())
    for (const role of Object.values(ALARM_ROLES))
      if (resourceName(stage, pipeline.name, role) === alarmName) return { pipeline, role };
  return undefined;
}

/** A failed run an alarm points at: the newest of its pipeline. */
export interface FailedRun {
  readonly runId: string;
  readonly error: string;
  readonly cause: string;
}

/** A failure cause is cut to this in a chat message: enough to recognise it, the rest is in `esync runs show`. */
const MAX_CAUSE_LENGTH = 300;

/**
 * The esync command that shows what an alarm is about; `target` is how the CLI reaches the stack.
 * A runs-failed alarm with a known failed run points at that run.
 */
export function inspectCommand(
  pipeline: string,
  role: AlarmRole,
  target: string,
  failedRun?: FailedRun,
): string {
  if (role === ALARM_ROLES.runsFailed && failedRun) return `esync runs show ${failedRun.runId} ${target}`;
  switch (role) {
    case ALARM_ROLES.deadLetters:
      return `esync dlq inspect ${pipeline} ${target}`;
    case ALARM_ROLES.conflictRate:
      return `esync conflicts list --pipeline ${pipeline} ${target}`;
    case ALARM_ROLES.runsFailed:
      return `esync runs list --pipeline ${pipeline} --status failed ${target}`;
    default:
      return `esync runs list --pipeline ${pipeline} ${target}`;
  }
}

const STATE_WORDS: Readonly<Record<AlarmMessage['NewStateValue'], string>> = {
  ALARM: 'ALARM',
  OK: 'recovered (OK)',
  INSUFFICIENT_DATA: 'insufficient data',
};

/**
 * The chat message of an alarm: `{ text }`, which Slack and Microsoft Teams incoming webhooks both
 * render. It holds names, thresholds and counts only, never record data.
 */
export function chatMessage(
  alarm: AlarmMessage,
  context: {
    readonly stage: string;
    readonly pipeline: string;
    readonly role: AlarmRole;
    readonly cliTarget: string;
    /** The newest failed run, for a runs-failed alarm that fired. */
    readonly failedRun?: FailedRun;
  },
): { readonly text: string } {
  const { failedRun } = context;
  const lines = [
    `ESync ${context.stage} · pipeline ${context.pipeline}: ${alarm.AlarmName} ${STATE_WORDS[alarm.NewStateValue]}`,
    ...(alarm.AlarmDescription ? [alarm.AlarmDescription] : []),
    `Cause: ${alarm.NewStateReason}`,
    ...(failedRun
      ? [
          `Last failed run ${failedRun.runId}: ${failedRun.error}: ${failedRun.cause.slice(0, MAX_CAUSE_LENGTH)}`,
        ]
      : []),
    `Inspect: ${inspectCommand(context.pipeline, context.role, context.cliTarget, failedRun)}`,
  ];
  return { text: lines.join('\n') };
}
