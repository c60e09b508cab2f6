import type { VerifyItem } from '../../shared/usecases/phases/6-verify-partition.ts';

/** Invokes the verify function with a payload, as a Lambda task would. */
export type InvokeVerify = <T>(payload: Record<string, unknown>) => Promise<T>;

/** Reads a JSON object of the data bucket (the Verify plan's manifest). */
export type ReadManifest = (key: string) => Promise<VerifyItem[]>;

interface PlanOut {
  readonly items: VerifyItem[];
  readonly manifest?: { readonly key: string };
}
interface PartitionOut {
  readonly done: boolean;
  readonly continuation: unknown;
}

/**
 * Verify of a run as the state machine runs it: the plan, each partition (looping on its
 * continuation, inline items or the manifest's), then the summary, whose result (or error) it returns.
 */
export async function verifySteps(
  invoke: InvokeVerify,
  readManifest: ReadManifest,
  run: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const plan = await invoke<PlanOut>({ ...run, step: 'plan' });
  const items = plan.manifest ? await readManifest(plan.manifest.key) : plan.items;
  for (const item of items) {
    let out = await invoke<PartitionOut>({ ...run, step: 'partition', item });
    while (!out.done)
      out = await invoke<PartitionOut>({ ...run, step: 'partition', item, continuation: out.continuation });
  }
  return invoke<Record<string, unknown>>({ ...run, step: 'summary' });
}
