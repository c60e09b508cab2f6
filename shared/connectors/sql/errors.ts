import { ConnectorError, TransientError } from '../../errors.ts';
import { UNREACHABLE_CODES, UnreachableError } from '../sources/support/retrying.ts';
import { certificateRefusal } from './connection.ts';

/** What a database driver's error codes mean, for {@link classifyDatabaseError}. */
export interface DatabaseErrorCodes {
  /** The connector named in a permanent error, e.g. `postgres source`. */
  readonly connector: string;
  /** A failure a later attempt may not meet: a dropped connection, a deadlock, a server under load. */
  readonly transient: (code: string, message: string) => boolean;
  /** A server that refused TLS (the connection's `ssl` asks for it). */
  readonly noTls: (code: string, message: string) => boolean;
  /** What a permanent failure means where its code says more than the driver's message. */
  readonly meaning: (code: string, message: string, user: string) => string | undefined;
  /** How the code follows an unexplained message, e.g. `SQLSTATE 42P01`. */
  readonly label: (code: string) => string;
}

/** Classifies a database driver's error: transient ones are retried, the rest name what is wrong and where. */
export function classifyDatabaseError(
  error: unknown,
  where: string,
  user: string | undefined,
  codes: DatabaseErrorCodes,
): Error {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (UNREACHABLE_CODES.has(code))
    return new UnreachableError(`${where}: cannot connect (${code})`, { cause: error });
  const refusal = certificateRefusal(error);
  if (refusal) return new ConnectorError(codes.connector, `${where}: ${refusal}`, { cause: error });
  if (codes.transient(code, message)) return new TransientError(`${where}: ${message}`, { cause: error });
  const meaning = codes.noTls(code, message)
    ? 'the server does not accept TLS; set connection.ssl to disable for a local server'
    : (codes.meaning(code, message, user ?? '') ?? `${message}${code ? ` (${codes.label(code)})` : ''}`);
  return new ConnectorError(codes.connector, `${where}: ${meaning}`, { cause: error });
}
