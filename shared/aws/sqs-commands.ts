/**
 * The SQS command the sync path sends, imported with the SQS client's chunk (shared/aws/sdk/sqs.ts)
 * rather than at a cold start: `@aws-sdk/client-sqs`'s command carries its serializers (about
 * 16 KB), which Verify loads only to repair and Cleanup or RecordFailure never. Build the command
 * after the await: `const { SendMessageBatchCommand } = await sqsCommands();`.
 */
export function sqsCommands(): Promise<typeof import('./sdk/sqs.ts')> {
  return import('./sdk/sqs.ts');
}
