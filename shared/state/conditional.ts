/** True when DynamoDB refused a write because its condition did not hold. */
export const conditionFailed = (error: unknown): boolean =>
  (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';

/**
 * Waits for a conditional write: true when it was written, false when its condition did not
 * hold (an answer, not an error).
 * @throws whatever else the write failed with.
 */
export async function conditionHeld(writing: Promise<unknown>): Promise<boolean> {
  try {
    await writing;
    return true;
  } catch (error) {
    if (conditionFailed(error)) return false;
    throw error;
  }
}
