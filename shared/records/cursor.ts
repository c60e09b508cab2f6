/**
 * The composite cursor: the values of the pipeline's cursor fields and the key of the last
 * record, so rows sharing a cursor value are never skipped nor read twice within a run.
 * Values are JSON scalars (timestamps as ISO-8601 strings).
 */
export interface Cursor {
  readonly values: readonly (string | number)[];
  readonly key: string;
}

/**
 * The change window of a run: `(from, to]`. `from` is the checkpoint moved back by the
 * lookback (null: from the beginning); `to` is fixed at planning so a run has an end.
 */
export interface ChangeWindow {
  readonly from: Cursor | null;
  readonly to: Cursor | null;
}
