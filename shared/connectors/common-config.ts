import * as z from 'zod';

/** A Secrets Manager secret named by the pipeline; its value is never in the pipeline file. */
export const secretRefSchema = z
  .strictObject({
    secret: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'a Secrets Manager name has only letters, digits and /_+=.@-')
      .describe('Name of the Secrets Manager secret holding the value.'),
  })
  .describe('Reference to a Secrets Manager secret.');

/**
 * IAM authentication through an RDS Proxy: the function signs a token for `user` at each connect
 * and may connect as that user through that proxy only (an `rds-db:connect` grant on the pair).
 */
export const databaseIamAuthSchema = z
  .strictObject({
    proxy: z
      .string()
      .regex(/^prx-[0-9a-z]{1,40}$/, 'the RDS Proxy resource id, like prx-0123456789abcdef0 (not its name)')
      .describe(
        'Resource id of the RDS Proxy (prx-…, shown by `aws rds describe-db-proxies` in DBProxyArn); the grant names it.',
      ),
    user: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/, 'a database user name (letters, digits, _$.-)')
      .describe('Database user the token is signed for; the connection logs in as this user.'),
  })
  .describe(
    "Log in with an IAM token signed at connect time instead of a password (RDS Proxy IAM authentication). The secret then needs no password; the local stack, whose servers know no IAM, uses the secret's password.",
  );

/**
 * Database connection: a Secrets Manager secret whose JSON value holds
 * `{host, port, user, password, database}` or `{url}`.
 */
export const databaseConnectionSchema = secretRefSchema
  .extend({
    ssl: z
      .enum(['verify-full', 'require', 'disable'])
      .default('verify-full')
      .describe(
        'TLS to the database: verify-full (encrypt, check the certificate chain against the public and Amazon RDS CAs plus the secret\'s optional "ca", and the host name), require (encrypt without checking), disable (no TLS; refused by cdk synth, for the local stack only).',
      ),
    iam: databaseIamAuthSchema.optional(),
    port: z
      .int()
      .min(1)
      .max(65_535)
      .optional()
      .describe(
        "Port the database (or RDS Proxy) listens on: in a VPC, the functions' security group opens this port only. The secret's port, when it names one, must be the same. @default - 5432 for PostgreSQL, 3306 for MySQL",
      ),
  })
  .refine((c) => !(c.iam && c.ssl === 'disable'), {
    message: 'iam sends its token as the password, which RDS Proxy accepts over TLS only: drop ssl: disable',
    path: ['ssl'],
  });

export const sqlIdentifierSchema = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,62}$/,
    'an SQL identifier is a letter or _ followed by letters, digits or _',
  );

export const httpUrlSchema = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'the URL must start with http:// or https://');
