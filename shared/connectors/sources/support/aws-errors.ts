import { ConnectorError, isRetryable, TransientError } from '../../../errors.ts';
import { UNREACHABLE_CODES, UnreachableError } from './retrying.ts';

/** What an AWS service's errors mean to a source, for {@link classifyAwsError}. */
export interface AwsErrorNames {
  /** The connector named in a permanent error, e.g. `s3 source`. */
  readonly connector: string;
  /** The service named when it cannot be reached, e.g. `S3`. */
  readonly service: string;
  /** The error name of the missing table or bucket, and what to say of it. */
  readonly missing: { readonly name: string; readonly says: string };
  /** The error names of refused credentials or permissions. */
  readonly denied: ReadonlySet<string>;
  /** Whether any HTTP 403 is a refusal too (S3 answers some with no error name). */
  readonly forbiddenIsDenied?: boolean;
}

/** Classifies an AWS SDK error of a source: transient ones are retried, the rest name what is wrong and where. */
export function classifyAwsError(error: unknown, where: string, names: AwsErrorNames): Error {
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const forbidden = names.forbiddenIsDenied === true && e.$metadata?.httpStatusCode === 403;
  if (e.name === names.missing.name)
    return new ConnectorError(names.connector, `${where}: ${names.missing.says}`, { cause: error });
  if (names.denied.has(e.name ?? '') || forbidden)
    return new ConnectorError(names.connector, `${where}: access denied (${e.name})`, { cause: error });
  if (UNREACHABLE_CODES.has(e.code ?? ''))
    return new UnreachableError(`${where}: cannot reach ${names.service} (${e.code})`, { cause: error });
  if (isRetryable(error))
    return new TransientError(`${where}: ${e.name ?? 'error'}: ${e.message ?? ''}`, { cause: error });
  const message = `${where}: ${e.name ?? 'error'}: ${e.message ?? String(error)}`;
  return new ConnectorError(names.connector, message, { cause: error });
}
