import type { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { ConfigError } from '../errors.ts';

/** What an SDK client takes as `credentials`: a function that resolves them. */
export type CredentialsProvider = () => Promise<Credentials>;
type Credentials = Awaited<ReturnType<ReturnType<typeof fromTemporaryCredentials>>>;

/** Where the pipeline's name goes in `ESYNC_ACCESS_ROLE_ARN`. */
export const PIPELINE_PLACEHOLDER = '{pipeline}';

/**
 * Credentials are renewed this long before they expire, so no request signed with them is
 * refused in flight (a Verify runs up to 15 minutes; a session lasts an hour).
 */
const RENEW_BEFORE_MS = 16 * 60_000;

/** Assumes a role for a session: STS in a deployed function, a test's stand-in otherwise. */
export type AssumeRole = (roleArn: string, sessionName: string) => CredentialsProvider;

/**
 * STS AssumeRole with the function's own credentials, in its region. The credential providers
 * are imported with the first call: a function that serves its pipelines with its own role (no
 * `ESYNC_ACCESS_ROLE_ARN`) never loads them.
 */
export const assumeRoleWithSts: AssumeRole = (roleArn, sessionName) => {
  let provider: Promise<CredentialsProvider> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-providers').then((providers) =>
      providers.fromTemporaryCredentials({
        params: { RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: 3600 },
        clientConfig: { region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1' },
      }),
    );
    return (await provider)();
  };
};

/**
 * The role a shared function assumes to reach `pipeline`'s own source, target and secrets,
 * from the `ESYNC_ACCESS_ROLE_ARN` template.
 * @throws ConfigError when the template has no `{pipeline}`.
 */
export function pipelineRoleArn(template: string, pipeline: string): string {
  if (!template.includes(PIPELINE_PLACEHOLDER))
    throw new ConfigError(
      `environment variable ESYNC_ACCESS_ROLE_ARN must hold ${PIPELINE_PLACEHOLDER}, got "${template}"`,
    );
  return template.replace(PIPELINE_PLACEHOLDER, pipeline);
}

/**
 * One set of credentials shared by every client of a pipeline, renewed shortly before they
 * expire: one AssumeRole per pipeline and session per container instead of one per client. A
 * failed call is not kept, so the next request tries again.
 */
export function sharedCredentials(
  provider: CredentialsProvider,
  now: () => number = Date.now,
): CredentialsProvider {
  let current: Promise<Credentials> | undefined;
  let renewAt = 0;
  return () => {
    if (current === undefined || now() >= renewAt) {
      renewAt = Number.POSITIVE_INFINITY;
      current = provider().then(
        (credentials) => {
          renewAt = (credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY) - RENEW_BEFORE_MS;
          return credentials;
        },
        (error: unknown) => {
          current = undefined;
          throw error;
        },
      );
    }
    return current;
  };
}
