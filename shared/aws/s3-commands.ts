/**
 * The S3 commands, imported with the S3 client's chunk (shared/aws/sdk/s3.ts) rather than at a
 * cold start: `@aws-sdk/client-s3`'s commands carry their serializers and the S3 middleware
 * (about 90 KB), which a function that sends no S3 request never loads. Build a command after
 * the await: `const { GetObjectCommand } = await s3Commands();`.
 */
export function s3Commands(): Promise<typeof import('./sdk/s3.ts')> {
  return import('./sdk/s3.ts');
}
