/**
 * The faults of the chaos suite: their kinds, the rates they are injected at, and the counter
 * every injector reports to when a fault fires.
 */

/** Every kind of fault the suite injects; each is counted when it fires. */
export const FAULT_KINDS = [
  'duplicateDelivery',
  'crashBeforeDelete',
  'targetThrottle',
  'target5xx',
  'throttleBurst',
  's3SlowDown',
  'sourceConnectionDrop',
  'poisonRecord',
  'poisonMessage',
  'cdcOutOfOrder',
  'cdcDuplicate',
  'runKilled',
  'loadKilled',
  'killedInFlight',
  'stateThrottle',
  'state5xx',
  'sqsSendFault',
  'sqsDeleteFault',
  'sqsVisibilityFault',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** How often each fault is injected. Rates are per message, request or row; counts are absolute. */
export interface ChaosRates {
  /** Share of load-queue messages delivered twice (on their first receive). */
  readonly duplicateDelivery: number;
  /** Share of processed messages left undeleted, as if the function died after its writes. */
  readonly crashBeforeDelete: number;
  /**
   * Share of write attempts on a target table (PutItem, or one statement of a PartiQL insert batch)
   * refused: half answered ProvisionedThroughputExceeded, half a 500 (InternalServerError).
   */
  readonly targetThrottle: number;
  /**
   * Keys whose first writes are all throttled, long enough to exhaust the in-call retries, so
   * their message fails and SQS delivers it again.
   */
  readonly throttleBurstKeys: number;
  /** Share of quarantine PutObject attempts answered SlowDown (at most twice per request). */
  readonly s3SlowDown: number;
  /** Share of client writes to PostgreSQL on which the connection is cut. */
  readonly sourceConnectionDrop: number;
  /** Share of source rows that fail validation. */
  readonly poisonRecords: number;
  /** Undecodable bodies put on the load queues. */
  readonly poisonMessages: number;
  /** Share of CDC events sent twice. */
  readonly cdcDuplicate: number;
  /**
   * Share of ledger completions at which the Load process is killed: that message's writes are
   * done and its completion is lost, and for a moment every write in flight lands but its answer
   * is lost and every completion fails, as when a Lambda instance dies mid-batch.
   */
  readonly loadKill: number;
  /** Share of state-table attempts answered with throttling or a 500 (at most twice per request). */
  readonly stateFault: number;
  /** Share of SQS send and delete attempts answered with throttling or a 500 (at most twice per request). */
  readonly sqsFault: number;
  /**
   * Share of SQS change-visibility attempts answered the same way; a rate of its own because
   * only failed and crashed messages get their visibility changed, so such calls are few.
   */
  readonly sqsVisibilityFault: number;
}

export const DEFAULT_RATES: ChaosRates = {
  duplicateDelivery: 0.05,
  crashBeforeDelete: 0.05,
  targetThrottle: 0.02,
  throttleBurstKeys: 3,
  s3SlowDown: 0.1,
  sourceConnectionDrop: 0.05,
  poisonRecords: 0.01,
  poisonMessages: 20,
  cdcDuplicate: 0.1,
  loadKill: 0.005,
  stateFault: 0.01,
  sqsFault: 0.02,
  sqsVisibilityFault: 0.2,
};

/** Counts faults as they fire; safe to share between the injectors of one run. */
export class FaultCounter {
  readonly #counts = new Map<FaultKind, number>(FAULT_KINDS.map((k) => [k, 0]));

  add(kind: FaultKind, n = 1): void {
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + n);
  }

  get(kind: FaultKind): number {
    return this.#counts.get(kind) ?? 0;
  }

  /** Every kind with its count, zeros included, in {@link FAULT_KINDS} order. */
  toJSON(): Record<FaultKind, number> {
    return Object.fromEntries(FAULT_KINDS.map((k) => [k, this.get(k)])) as Record<FaultKind, number>;
  }
}

/** A seeded generator of numbers in [0, 1) (mulberry32): the same seed draws the same faults. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** An independent generator derived from `seed` and a label, so adding a fault does not shift the others. */
export function deriveRandom(seed: number, label: string): () => number {
  let h = seed >>> 0;
  for (const char of label) h = Math.imul(h ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return createRandom(h);
}

/** Fisher–Yates shuffle into a new array. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
