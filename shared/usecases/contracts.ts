import * as z from 'zod';

/**
 * The payloads the state machine passes to each phase's Lambda task and gets back.
 * They hold names, counts and S3 references only, never record data: Step Functions
 * limits a payload to 256 KiB.
 *
 * State machine (per pipeline; states in this order, JSONPath only):
 *   Start (Pass: pipeline literal, runId = $$.Execution.Name, executionArn = $$.Execution.Id,
 *          trigger from the input)
 *   → Discover (task, ResultPath $.discover)
 *   → Plan (task, ResultPath $.plan)
 *   → UseManifest? (Choice on $.plan.manifest present) → Execute (Map over $.plan.partitions)
 *                                                  or ExecuteLarge (Distributed Map over the S3 manifest)
 *       iteration: Extract (task, ResultPath $.extract) → ExtractDone? (Choice $.extract.done)
 *                  → loop to Extract with $.extract.continuation, or end
 *       Map ResultPath: null (results discarded; counts live in the state table)
 *   → AwaitLoad (task, ResultPath $.load) → LoadDone? (Choice $.load.done) → VerifyPlan, or
 *     WaitForLoad (Wait SecondsPath $.load.Payload.waitSeconds, 1–30 s by Load's pace) → AwaitLoad
 *   → VerifyPlan (task, ResultPath $.verifyPlan: the plan's partitions to verify, inline or in a
 *     manifest, and the segments of the target read to slice first, often none)
 *   → VerifyTargetRead (Map over $.verifyPlan.targetSegments, ResultPath null)
 *       iteration: VerifyTargetSegment (task, ResultPath $.segmentRead) → VerifyTargetSegmentDone?
 *                  → loop with $.segmentRead.continuation, or end
 *   → VerifyUseManifest? → VerifyPartitions (Map over $.verifyPlan.partitions)
 *                                  or VerifyPartitionsLarge (Distributed Map over the S3 manifest)
 *       iteration: VerifyPartition (task, ResultPath $.verify) → VerifyPartitionDone? → loop with
 *                  $.verify.continuation, or end; each invocation stores its result in the state table
 *       Map ResultPath: null
 *   → VerifySummary (task, ResultPath $.verify: the run's outcome from every partition's results)
 *   → Cleanup (task, ResultPath $.cleanup) → Succeed
 *   Any task error: Catch States.ALL, ResultPath $.error → RecordFailure (task) → Failed (Fail)
 * Each task's Payload is built with Parameters from the paths named below, and its result is
 * taken from `$.Payload` (ResultSelector).
 */
export const runRefSchema = z.object({
  pipeline: z.string().min(1),
  runId: z.string().min(1),
  executionArn: z.string().optional(),
});
export type RunRef = z.infer<typeof runRefSchema>;

export const discoverInputSchema = runRefSchema.extend({
  trigger: z.enum(['schedule', 'manual', 'api', 'demo']).default('manual'),
  requestedBy: z.string().optional(),
});
export const discoverOutputSchema = z.object({
  fields: z.number(),
  primaryKey: z.array(z.string()),
  incremental: z.boolean(),
  approximateRows: z.number().optional(),
  /** Columns added, removed or retyped since the schema the pipeline accepted (absent: none). */
  schemaDrift: z.number().optional(),
});

export const planInputSchema = runRefSchema;
export const partitionSchema = z.object({ id: z.string(), spec: z.record(z.string(), z.unknown()) });
export const planOutputSchema = z.object({
  partitionCount: z.number(),
  /** Inline partitions when few; empty when they went to the manifest. */
  partitions: z.array(partitionSchema),
  /** S3 location of a JSON array of partitions, for the Distributed Map. */
  manifest: z.object({ bucket: z.string(), key: z.string() }).optional(),
  window: z.object({ from: z.unknown(), to: z.unknown() }),
});

export const extractInputSchema = runRefSchema.extend({
  partition: partitionSchema,
  /** Set when a previous invocation stopped before its time ran out. */
  continuation: z
    .object({
      cursor: z.object({ values: z.array(z.union([z.string(), z.number()])), key: z.string() }),
      seq: z.number(),
    })
    .nullish(),
});
export const extractOutputSchema = z.object({
  done: z.boolean(),
  continuation: extractInputSchema.shape.continuation,
  extracted: z.number(),
  messages: z.number(),
});

export const awaitLoadInputSchema = runRefSchema;
export const awaitLoadOutputSchema = z.object({
  done: z.boolean(),
  extracted: z.number(),
  accounted: z.number(),
  pendingMessages: z.number(),
  /** Seconds WaitForLoad waits before the next poll (shared/domain/await-load-wait.ts); 0 when done. */
  waitSeconds: z.number().int().nonnegative(),
});

/**
 * One partition to verify, with the part it takes in finding hard deletes (`deletes.mode:
 * verify`): `range`, the target's keys in its own key range; `all`, every target key (a source
 * whose partitions are not ranges of the record key); `none`.
 */
export const verifyItemSchema = z.object({
  partition: partitionSchema,
  findDeletes: z.enum(['range', 'all', 'none']),
  /**
   * Where the partition's slice of the run's one read of the target lies: slice number `slice`
   * under `prefix`, written by `segments` segment readers, for a target that cannot read a key
   * range (6-verify-target.ts).
   * @default - the partition reads the target itself
   */
  targetSlice: z
    .object({
      prefix: z.string(),
      slice: z.number().int().nonnegative(),
      segments: z.number().int().positive(),
    })
    .optional(),
});
/** One segment of the split read of the target: `index` of `total`. */
export const targetSegmentSchema = z.object({
  index: z.number().int().nonnegative(),
  total: z.number().int().positive(),
});
export const verifyPlanInputSchema = runRefSchema.extend({ step: z.literal('plan') });
export const verifyPlanOutputSchema = z.object({
  partitionCount: z.number(),
  /** Inline items when few; empty when they went to the manifest (or nothing is to be verified). */
  items: z.array(verifyItemSchema),
  /** S3 location of a JSON array of items, for the Distributed Map. */
  manifest: z.object({ bucket: z.string(), key: z.string() }).optional(),
  /** The segments of the target read into the items' slices before they are verified; often none. */
  targetSegments: z.array(targetSegmentSchema),
});
export const verifyTargetSegmentInputSchema = runRefSchema.extend({
  step: z.literal('target-segment'),
  segment: targetSegmentSchema,
  /** Set when a previous invocation stopped before its time ran out. */
  continuation: z
    .object({
      /** Where the segment's read goes on (the target's opaque position). */
      from: z.string(),
      seq: z.number().int().positive(),
    })
    .nullish(),
});
export const verifyTargetSegmentOutputSchema = z.object({
  done: z.boolean(),
  continuation: verifyTargetSegmentInputSchema.shape.continuation,
  /** Changes this invocation read of the target. */
  read: z.number(),
});
export const verifyPartitionInputSchema = runRefSchema.extend({
  step: z.literal('partition'),
  item: verifyItemSchema,
  /** Set when a previous invocation stopped before its time ran out. */
  continuation: z
    .object({
      /** `compare`: reading the window after `cursor`; `deletes`: the window is done. */
      stage: z.enum(['compare', 'deletes']),
      cursor: z.object({ values: z.array(z.union([z.string(), z.number()])), key: z.string() }).nullable(),
      seq: z.number(),
      /**
       * Stage `deletes`: the data bucket key of where the search for hard deletes stood when the
       * invocation before stopped (keys and versions read, positions; 6-verify-deletes.ts).
       * @default - the search starts
       */
      search: z.string().optional(),
    })
    .nullish(),
});
export const verifyPartitionOutputSchema = z.object({
  done: z.boolean(),
  continuation: verifyPartitionInputSchema.shape.continuation,
  compared: z.number(),
  mismatches: z.number(),
});
export const verifySummaryInputSchema = runRefSchema.extend({ step: z.literal('summary') });
/** The verify function's four steps, told apart by `step`. */
export const verifyInputSchema = z.discriminatedUnion('step', [
  verifyPlanInputSchema,
  verifyTargetSegmentInputSchema,
  verifyPartitionInputSchema,
  verifySummaryInputSchema,
]);
export const verifyOutputSchema = z.object({
  status: z.enum(['passed', 'failed', 'repaired', 'warned', 'skipped']),
  compared: z.number(),
  mismatches: z.number(),
  /** Target keys the source no longer has, sent as deletes (`deletes.mode: verify`). */
  deleted: z.number().optional(),
  reportKey: z.string().optional(),
});

export const cleanupInputSchema = runRefSchema;
export const cleanupOutputSchema = z.object({
  checkpointAdvanced: z.boolean(),
  reportKey: z.string(),
});

export const recordFailureInputSchema = runRefSchema.extend({
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).passthrough(),
});

/** The `detail-type` of the events Step Functions sends to the default bus on each status change. */
export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

/**
 * The event Step Functions sends when an execution's status changes (fields we read; AWS adds
 * input, output and their details).
 */
export const executionStatusEventSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal(EXECUTION_STATUS_CHANGE),
  detail: z.object({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    name: z.string().min(1),
    status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']),
    startDate: z.number().nullish(),
    stopDate: z.number().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});
export type ExecutionStatusEvent = z.infer<typeof executionStatusEventSchema>;

/** What SNS delivers to a subscribed function: the fields ESync reads of each record. */
export const snsEventSchema = z.object({
  Records: z.array(z.object({ Sns: z.object({ Message: z.string() }) })).min(1),
});

/** Task state names, which the local stack binds to in-process handlers. */
export const TASK_STATES = {
  Discover: 'discover',
  Plan: 'plan',
  Extract: 'extract',
  AwaitLoad: 'await-load',
  VerifyPlan: 'verify',
  VerifyTargetSegment: 'verify',
  VerifyPartition: 'verify',
  VerifySummary: 'verify',
  Cleanup: 'cleanup',
  RecordFailure: 'record-failure',
} as const;

/** Every Lambda function, by folder name under functions/. */
export const FUNCTION_NAMES = [
  'discover',
  'plan',
  'extract',
  'load',
  'await-load',
  'verify',
  'cleanup',
  'record-failure',
  'run-ended',
  'webhook',
  'api',
  'alert-webhook',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
