import type { S3Client } from '@aws-sdk/client-s3';
import type { SdkClient } from '../../../aws/clients.ts';
import { s3Commands } from '../../../aws/s3-commands.ts';
import { type RetryOptions, withRetry } from '../../../domain/retry.ts';
import { ConnectorError, EsyncError, isRetryable, TransientError } from '../../../errors.ts';
import type { WriteLimit } from '../support/write-limit.ts';

/** S3 calls of the lake target and of `recordHistory`, with retries and ESync errors. */
export class S3Objects {
  readonly #s3: SdkClient<S3Client>;
  readonly #retry: RetryOptions;
  readonly #writes: WriteLimit | undefined;

  /** With `writes`, puts share its in-flight limit (one per object key, fewer under SlowDown). */
  constructor(s3: SdkClient<S3Client>, retry: RetryOptions, writes?: WriteLimit) {
    this.#s3 = s3;
    this.#retry = retry;
    this.#writes = writes;
  }

  /** @param tagging the object's tags as a URL query (`k=v&k2=v2`), which lifecycle rules match */
  async put(bucket: string, key: string, body: string, contentType: string, tagging?: string): Promise<void> {
    const { PutObjectCommand } = await s3Commands();
    const put = () =>
      this.#s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ...(tagging !== undefined && { Tagging: tagging }),
        }),
      );
    const writes = this.#writes;
    try {
      await (writes ? writes.retrying(`${bucket}/${key}`, put, this.#retry) : withRetry(put, this.#retry));
    } catch (error) {
      throw mapS3Error(error, `PutObject s3://${bucket}/${key}`, bucket);
    }
  }

  async getText(bucket: string, key: string): Promise<string> {
    const { GetObjectCommand } = await s3Commands();
    return this.#call(`GetObject s3://${bucket}/${key}`, bucket, async () => {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await out.Body?.transformToString('utf8')) ?? '';
    });
  }

  /** One page of at most `maxKeys` object keys under `prefix` after `startAfter`, in key order. */
  async listPage(
    bucket: string,
    prefix: string,
    startAfter: string | null,
    maxKeys: number,
  ): Promise<{ keys: string[]; truncated: boolean }> {
    const { ListObjectsV2Command } = await s3Commands();
    const out = await this.#call(`ListObjectsV2 s3://${bucket}/${prefix}`, bucket, () =>
      this.#s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          MaxKeys: maxKeys,
          ...(startAfter === null ? {} : { StartAfter: startAfter }),
        }),
      ),
    );
    const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
    return { keys, truncated: out.IsTruncated === true && keys.length > 0 };
  }

  /** Every object key under `prefix`, page by page, in key order. */
  async *list(bucket: string, prefix: string): AsyncIterable<string[]> {
    const { ListObjectsV2Command } = await s3Commands();
    let token: string | undefined;
    do {
      const out = await this.#call(`ListObjectsV2 s3://${bucket}/${prefix}`, bucket, () =>
        this.#s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })),
      );
      const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      if (keys.length > 0) yield keys;
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async #call<T>(what: string, bucket: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(operation, this.#retry);
    } catch (error) {
      throw mapS3Error(error, what, bucket);
    }
  }
}

/** Turns an S3 SDK error into ESync's hierarchy. */
export function mapS3Error(error: unknown, what: string, bucket: string): Error {
  if (error instanceof EsyncError) return error;
  const name = String((error as { name?: unknown }).name ?? 'Error');
  if (isRetryable(error)) return new TransientError(`s3: ${what} kept failing (${name})`, { cause: error });
  if (name === 'NoSuchBucket' || name === 'NotFound')
    return new ConnectorError('s3', `bucket "${bucket}" does not exist`, { cause: error });
  if (
    name === 'AccessDenied' ||
    name === 'Forbidden' ||
    name === 'InvalidAccessKeyId' ||
    name === 'SignatureDoesNotMatch'
  )
    return new ConnectorError('s3', `not authorized: ${what} (${name})`, { cause: error });
  return new ConnectorError('s3', `${what} failed (${name})`, { cause: error });
}
