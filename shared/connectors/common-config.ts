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
 * Database connection: a Secrets Manager secret whose JSON value holds
 * `{host, port, user, password, database}` or `{url}`.
 */
export const databaseConnectionSchema = secretRefSchema.extend({
  ssl: z
    .enum(['verify-full', 'require', 'disable'])
    .default('verify-full')
    .describe(
      'TLS to the database: verify-full (encrypt, check the certificate chain against the public and Amazon RDS CAs plus the secret\'s optional "ca", and the host name), require (encrypt without checking), disable (no TLS; refused by cdk synth, for the local stack only).',
    ),
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
