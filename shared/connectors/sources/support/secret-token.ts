import type { SecretsProvider } from '../../../aws/secrets.ts';
import { ConnectorError } from '../../../errors.ts';

/** Reads a bearer token: the secret holds the token itself, or JSON with a `token` member. */
export async function readTokenSecret(
  secrets: SecretsProvider,
  secret: string,
  connector: string,
): Promise<string> {
  const raw = (await secrets.getString(secret)).trim();
  if (raw.startsWith('{')) {
    const { token } = (await secrets.getJson(secret)) as { token?: unknown };
    if (typeof token === 'string' && token.length > 0) return token;
    throw new ConnectorError(connector, `secret "${secret}" is JSON without a "token" string`);
  }
  if (raw.length === 0) throw new ConnectorError(connector, `secret "${secret}" is empty`);
  return raw;
}

/** The authorization header of the bearer token in `secret`; none where the source names no secret. */
export async function bearerHeader(
  secrets: SecretsProvider,
  secret: string | undefined,
  connector: string,
): Promise<Record<string, string>> {
  if (secret === undefined) return {};
  return { authorization: `Bearer ${await readTokenSecret(secrets, secret, connector)}` };
}
