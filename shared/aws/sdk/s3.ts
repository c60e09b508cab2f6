import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The S3 client, path-style where its endpoint is overridden (a local server has no per-bucket
 * DNS names), with checksums only where S3 requires them.
 */
export function buildS3Client(config: S3ClientConfig): S3Client {
  return new S3Client({
    ...config,
    forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The commands ESync sends, in this chunk with the client (see shared/aws/s3-commands.ts). */
export {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
