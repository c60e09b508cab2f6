import type { S3Client } from '@aws-sdk/client-s3';
import type { SdkClient } from './clients.ts';
import { s3Commands } from './s3-commands.ts';

/** Reads a JSON object of a bucket (a plan, a manifest, a list Verify saved). */
export async function getJsonObject<T>(s3: SdkClient<S3Client>, bucket: string, key: string): Promise<T> {
  const { GetObjectCommand } = await s3Commands();
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse((await out.Body?.transformToString('utf8')) ?? 'null') as T;
}

/** Writes `body` as a JSON object. */
export async function putJsonObject(
  s3: SdkClient<S3Client>,
  bucket: string,
  key: string,
  body: unknown,
): Promise<void> {
  const { PutObjectCommand } = await s3Commands();
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: JSON.stringify(body),
      ContentType: 'application/json',
    }),
  );
}
