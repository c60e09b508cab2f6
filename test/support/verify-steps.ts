import type { VerifyItem } from '../../shared/usecases/phases/6-verify-partition.ts';

/** Invokes the verify function with a payload, as a Lambda task would. */
export type InvokeVerify = <T>(payload: Record<string, unknown>) => Promise<T>;

/** Reads a JSON object of the data bucket (the Verify plan's manifest). */
export type ReadManifest = (key: string) => Promise<VerifyItem[]>;

interface PlanOut {
  readonly items: VerifyItem[];
  readonly manifest?: { readonly key: string };
  readonly targetSegments: readonly unknown[];
}
interface PartitionOut {
  readonly done: boolean;
  readonly continuation: unknown;
}

/**
 * Verify of a run as the state machine runs it: the plan, each segment of the target read (looping
 * on its continuation), each partition (looping on its continuation, inline items or the
 * manifest's), then the summary, whose result (or error) it returns.
 */
export async function verifySteps(
  invoke: InvokeVerify,
  readManifest: ReadManifest,
  run: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const plan = await invoke<PlanOut>({ ...run, step: 'plan' });
  for (const segment of plan.targetSegments) {
    const step = { ...run, step: 'target-segment', segment };
    let out = await invoke<PartitionOut>(step);
    while (!out.done) out = await invoke<PartitionOut>({ ...step, continuation: out.continuation });
  }
  const items = plan.manifest ? await readManifest(plan.manifest.key) : plan.items;
  for (const item of items) {
    let out = await invoke<PartitionOut>({ ...run, step: 'partition', item });
    while (!out.done)
      out = await invoke<PartitionOut>({ ...run, step: 'partition', item, continuation: out.continuation });
  }
  return invoke<Record<string, unknown>>({ ...run, step: 'summary' });
}
