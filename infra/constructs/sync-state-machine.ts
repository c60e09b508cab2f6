import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { manifestPrefix } from '../../shared/naming.ts';
import type { Pipeline } from '../../shared/pipeline/schema.ts';
import { acknowledgeWildcardResource, acknowledgeWildcardsOf } from '../nag.ts';
import { AnyResourcePolicy } from './any-resource-policy.ts';
import { type VendedLogSettings, vendedLogGroup } from './vended-log-group.ts';

/**
 * The Distributed Map's reader of a manifest (the plan's, or Verify's), its key at `keyPath`.
 * CDK's reader grants GetObject on the whole bucket when the key is chosen at run time; this one
 * grants it on the pipeline's manifests only.
 */
class ManifestReader extends sfn.S3JsonItemReader {
  readonly #objects: string;

  constructor(bucket: s3.IBucket, prefix: string, keyPath: string) {
    super({ bucket, key: sfn.JsonPath.stringAt(keyPath) });
    this.#objects = bucket.arnForObjects(`${prefix}*`);
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.#objects] })];
  }
}

/** Errors of the Lambda service itself (not of our code) that are always worth retrying. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** Thrown by our handlers (shared/errors.ts) after their own retries: safe to run the phase again. */
export const HANDLER_TRANSIENT_ERRORS = ['TransientError'];

/**
 * Where AwaitLoad's result says how long to wait before it polls the run's counters again: by
 * Load's pace, 1 to 30 s (shared/domain/await-load-wait.ts).
 */
export const AWAIT_LOAD_WAIT_PATH = '$.load.Payload.waitSeconds';

/** A run that has not finished by then is stopped (a stuck queue must not keep it open for a year). */
export const RUN_TIMEOUT = Duration.hours(24);

/**
 * Added to a function's timeout to make its task's `TimeoutSeconds`: the invoke also spends the
 * function's init (up to 10 s) and the Lambda service's own time, and the function's own timeout
 * error (`Sandbox.Timedout`, which says which function) must reach the state first. The task
 * timeout only catches an invoke whose answer was lost. No task has a heartbeat: every task is a
 * request-response Lambda invoke, which cannot send one (heartbeats are for activities and
 * `.waitForTaskToken` callbacks).
 */
export const TASK_TIMEOUT_MARGIN = Duration.seconds(15);

/** Extract invocations at once: the source is read in parallel, the target is protected by the queue. */
const INLINE_MAP_CONCURRENCY = 10;
const DISTRIBUTED_MAP_CONCURRENCY = 40;

/** The Lambda functions behind the task states; each one's timeout sets its task's. */
export interface PhaseFunctions {
  readonly discover: lambda.Function;
  readonly plan: lambda.Function;
  readonly extract: lambda.Function;
  readonly awaitLoad: lambda.Function;
  readonly verify: lambda.Function;
  readonly cleanup: lambda.Function;
  readonly recordFailure: lambda.Function;
}

export interface SyncStateMachineProps extends VendedLogSettings {
  readonly pipeline: Pipeline;
  /** `esync-<stage>-<pipeline>-sm`. */
  readonly stateMachineName: string;
  readonly functions: PhaseFunctions;
  /** Holds the manifests of large plans, read by the Distributed Map. */
  readonly dataBucket: s3.IBucket;
}

/** Adds the Catch that sends any error of the state to RecordFailure. */
type Guard = <T extends sfn.TaskStateBase | sfn.Map | sfn.DistributedMap>(state: T) => T;

/** The run reference every task is given, from `$.run`. */
const RUN_OF = {
  pipeline: sfn.JsonPath.stringAt('$.run.pipeline'),
  runId: sfn.JsonPath.stringAt('$.run.runId'),
  executionArn: sfn.JsonPath.stringAt('$.run.executionArn'),
};

/**
 * A pipeline's run as a Standard state machine, in the shape documented in
 * shared/usecases/contracts.ts (JSONPath only, no Assign: the local interpreter runs the same
 * definition). Start puts the run reference at `$.run` and the execution input at `$.request`;
 * each task passes `$.run` (Discover: the request merged with it) and keeps the function's result
 * at `$.<phase>.Payload`, dropping the Lambda response metadata. Any task error goes through Catch
 * to RecordFailure, which records the cause, then to the Fail state.
 */
export class SyncStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: SyncStateMachineProps) {
    super(scope, id);
    const definition = this.runDefinition(props, this.failurePath(props.functions));
    this.logGroup = vendedLogGroup(this, 'Logs', 'states', props.stateMachineName, props);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: `ESync run of pipeline ${props.pipeline.name}: Discover, Plan, Execute, AwaitLoad, Verify, Cleanup`,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: RUN_TIMEOUT,
    });
    this.traceAndLog();
    this.acknowledgeGeneratedWildcards(props);
  }

  /** RecordFailure then Fail, and the guard that sends any error of a state there. */
  private failurePath(fns: SyncStateMachineProps['functions']): Guard {
    const recordFailure = this.task('RecordFailure', fns.recordFailure, '$.recordFailure', {
      pipeline: sfn.JsonPath.stringAt('$.run.pipeline'),
      runId: sfn.JsonPath.stringAt('$.run.runId'),
      executionArn: sfn.JsonPath.stringAt('$.run.executionArn'),
      error: sfn.JsonPath.objectAt('$.error'),
    }).next(
      new sfn.Fail(this, 'Failed', {
        error: 'EsyncRunFailed',
        cause: 'A phase failed; the run record holds its error, and so does the RecordFailure input.',
      }),
    );
    return (state) => {
      state.addCatch(recordFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
      return state;
    };
  }

  /** Start → Discover → Plan → Execute → AwaitLoad ⟲ → Verify → Cleanup → Succeeded. */
  private runDefinition(props: SyncStateMachineProps, guarded: Guard): sfn.IChainable {
    const { functions: fns } = props;
    const start = new sfn.Pass(this, 'Start', {
      comment: 'The run id is the execution name; the execution input is kept as the request.',
      parameters: {
        run: {
          pipeline: props.pipeline.name,
          runId: sfn.JsonPath.stringAt('$$.Execution.Name'),
          executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
        },
        request: sfn.JsonPath.entirePayload,
      },
    });
    // The request brings trigger and requestedBy when given; the run reference wins over any
    // pipeline or runId a caller put in the input.
    const discover = guarded(
      this.task(
        'Discover',
        fns.discover,
        '$.discover',
        sfn.JsonPath.jsonMerge(sfn.JsonPath.objectAt('$.request'), sfn.JsonPath.objectAt('$.run')),
      ),
    );
    const plan = guarded(this.task('Plan', fns.plan, '$.plan', '$.run'));
    const executePhase = this.executePhase(props, guarded);
    const verifyPhase = this.verifyPhase(props, fns.verify, RUN_OF, guarded);
    const awaitLoad = guarded(this.task('AwaitLoad', fns.awaitLoad, '$.load', '$.run'));
    const cleanup = guarded(this.task('Cleanup', fns.cleanup, '$.cleanup', '$.run'));
    const waitForLoad = new sfn.Wait(this, 'WaitForLoad', {
      time: sfn.WaitTime.secondsPath(AWAIT_LOAD_WAIT_PATH),
    });
    const definition = start
      .next(discover)
      .next(plan)
      .next(executePhase)
      .next(awaitLoad)
      .next(
        new sfn.Choice(this, 'LoadDone?')
          .when(sfn.Condition.booleanEquals('$.load.Payload.done', true), verifyPhase.start)
          .otherwise(waitForLoad.next(awaitLoad)),
      );
    verifyPhase.end.next(cleanup).next(new sfn.Succeed(this, 'Succeeded'));
    return definition;
  }

  /** Execute: a Map of Extract continuation loops, one per partition (Distributed over the S3 manifest when large). */
  private executePhase(props: SyncStateMachineProps, guarded: Guard): sfn.IChainable {
    return this.partitionMaps({
      name: 'Execute',
      largeName: 'ExecuteLarge',
      choiceName: 'UseManifest?',
      work: 'Extract',
      plan: '$.plan.Payload',
      itemsField: 'partitions',
      inlineItem: { ...RUN_OF, partition: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
      // A manifest item is `{pipeline, runId, partition}`.
      largeItem: { ...RUN_OF, partition: sfn.JsonPath.objectAt('$$.Map.Item.Value.partition') },
      loop: (suffix) =>
        this.continuationLoop(`Extract${suffix}`, props.functions.extract, '$.extract', 'partition', {}),
      dataBucket: props.dataBucket,
      manifestPrefix: manifestPrefix(props.pipeline.name),
      guarded,
    });
  }

  /**
   * X-Ray tracing and execution logs (all events, with data) set on the L1: the L2 would put their
   * statements on resource "*" into the role's default policy, where no acknowledgement can tell
   * them from another. Here each has a policy of its own, in place before the state machine is
   * created (Step Functions checks the log permissions then).
   */
  private traceAndLog(): void {
    const role = this.stateMachine.role;
    const cfn = this.stateMachine.node.defaultChild as sfn.CfnStateMachine;
    cfn.tracingConfiguration = { enabled: true };
    cfn.loggingConfiguration = {
      destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: this.logGroup.logGroupArn } }],
      includeExecutionData: true,
      level: sfn.LogLevel.ALL,
    };
    const requiredBy = [this.stateMachine];
    new AnyResourcePolicy(this, 'Tracing', { role, grant: 'stateMachineTracing', requiredBy });
    new AnyResourcePolicy(this, 'LogDelivery', { role, grant: 'logDelivery', requiredBy });
  }

  /** The wildcard resources CDK's own grants for this state machine need, each with its reason. */
  private acknowledgeGeneratedWildcards(props: SyncStateMachineProps): void {
    const role = this.stateMachine.role;
    for (const fn of new Set(Object.values(props.functions)))
      acknowledgeWildcardResource(
        role,
        `${fn.functionArn}:*`,
        'The Lambda task grant covers the function’s versions and aliases (`<arn>:*`) besides the function itself.',
      );
    acknowledgeWildcardResource(
      role,
      props.dataBucket.arnForObjects(`${manifestPrefix(props.pipeline.name)}*`),
      'The Distributed Map reads the plan’s manifest, named by run id at run time; the grant is read-only and limited to the pipeline’s manifests.',
    );
    const distributedMapPolicy = this.stateMachine.node.tryFindChild('DistributedMapPolicy');
    if (distributedMapPolicy instanceof iam.Policy)
      acknowledgeWildcardsOf(
        distributedMapPolicy,
        'The Distributed Map starts, describes and stops its own child executions, whose names Step Functions generates.',
      );
  }

  /**
   * Verify, partitioned like Execute: VerifyPlan lists the plan's partitions, VerifyTargetRead
   * slices the target for them when they share its read, a Map (Distributed over the S3 manifest
   * when large) verifies each in its own continuation loop, and
   * VerifySummary adds their results up and decides the run's outcome. No invocation walks the
   * whole window. Every step invokes the verify function, told apart by `step`.
   */
  private verifyPhase(
    props: SyncStateMachineProps,
    fn: lambda.Function,
    runOf: Record<string, string>,
    guarded: Guard,
  ): { start: sfn.IChainable; end: sfn.INextable } {
    const planVerify = guarded(this.task('VerifyPlan', fn, '$.verifyPlan', { ...runOf, step: 'plan' }));
    const item = { ...runOf, step: 'partition', item: sfn.JsonPath.objectAt('$$.Map.Item.Value') };
    const maps = this.partitionMaps({
      name: 'VerifyPartitions',
      largeName: 'VerifyPartitionsLarge',
      choiceName: 'VerifyUseManifest?',
      work: 'Verify',
      plan: '$.verifyPlan.Payload',
      itemsField: 'items',
      inlineItem: item,
      largeItem: item,
      loop: (suffix) =>
        this.continuationLoop(`VerifyPartition${suffix}`, fn, '$.verify', 'item', { step: 'partition' }),
      dataBucket: props.dataBucket,
      manifestPrefix: manifestPrefix(props.pipeline.name),
      guarded,
    });
    const summary = guarded(this.task('VerifySummary', fn, '$.verify', { ...runOf, step: 'summary' }));
    planVerify
      .next(this.targetRead(fn, runOf, guarded))
      .next(maps)
      .next(summary);
    return { start: planVerify, end: summary };
  }

  /**
   * The run's one read of a target that cannot read a key range, split into the segments
   * VerifyPlan listed (none for most pipelines): a Map whose iterations each read one segment in a
   * continuation loop, writing the partitions' slices, before any partition is verified.
   */
  private targetRead(fn: lambda.Function, runOf: Record<string, string>, guarded: Guard): sfn.Map {
    const read = guarded(
      new sfn.Map(this, 'VerifyTargetRead', {
        comment: 'Read every segment of the target into the partitions’ slices.',
        itemsPath: '$.verifyPlan.Payload.targetSegments',
        itemSelector: {
          ...runOf,
          step: 'target-segment',
          segment: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
        },
        maxConcurrency: INLINE_MAP_CONCURRENCY,
        resultPath: sfn.JsonPath.DISCARD,
      }),
    );
    read.itemProcessor(
      this.continuationLoop('VerifyTargetSegment', fn, '$.segmentRead', 'segment', {
        step: 'target-segment',
      }),
    );
    return read;
  }

  /**
   * A Map over the partitions a plan step returned inline, or a Distributed Map over its S3
   * manifest when it wrote one, chosen by a Choice; each iteration runs `loop` (its states
   * suffixed `FromManifest` in the Distributed Map).
   */
  private partitionMaps(o: {
    readonly name: string;
    readonly largeName: string;
    readonly choiceName: string;
    readonly work: string;
    /** Where the plan step's result is: `<plan>.<itemsField>` or `<plan>.manifest`. */
    readonly plan: string;
    readonly itemsField: string;
    readonly inlineItem: Record<string, unknown>;
    readonly largeItem: Record<string, unknown>;
    readonly loop: (suffix: string) => sfn.IChainable;
    readonly dataBucket: s3.IBucket;
    readonly manifestPrefix: string;
    readonly guarded: <T extends sfn.Map | sfn.DistributedMap>(state: T) => T;
  }): sfn.Chain {
    const inline = o.guarded(
      new sfn.Map(this, o.name, {
        comment: `${o.work} every partition of the plan.`,
        itemsPath: `${o.plan}.${o.itemsField}`,
        itemSelector: o.inlineItem,
        maxConcurrency: INLINE_MAP_CONCURRENCY,
        resultPath: sfn.JsonPath.DISCARD,
      }),
    );
    inline.itemProcessor(o.loop(''));
    const large = o.guarded(
      new sfn.DistributedMap(this, o.largeName, {
        comment: `${o.work} every partition of a plan too large for the state: read from its S3 manifest.`,
        itemReader: new ManifestReader(o.dataBucket, o.manifestPrefix, `${o.plan}.manifest.key`),
        itemSelector: o.largeItem,
        maxConcurrency: DISTRIBUTED_MAP_CONCURRENCY,
        // Standard child workflows: a partition's loop may outlast an Express workflow's 5 minutes.
        mapExecutionType: sfn.StateMachineType.STANDARD,
        resultPath: sfn.JsonPath.DISCARD,
      }),
    );
    large.itemProcessor(o.loop('FromManifest'));
    const manifest = `${o.plan}.manifest`;
    return new sfn.Choice(this, o.choiceName)
      .when(sfn.Condition.and(sfn.Condition.isPresent(manifest), sfn.Condition.isNotNull(manifest)), large)
      .otherwise(inline)
      .afterwards();
  }

  /**
   * A task over one partition that works until its time runs short and hands back a
   * continuation; the loop calls it again from there until the partition is done. The
   * iteration's input holds the run reference, `field` (the partition or verify item) and `fixed`.
   */
  private continuationLoop(
    name: string,
    fn: lambda.Function,
    resultPath: string,
    field: string,
    fixed: Record<string, string>,
  ): sfn.IChainable {
    const work = this.task(name, fn, resultPath, '$');
    const nextPage = new sfn.Pass(this, `${name}Next`, {
      parameters: {
        pipeline: sfn.JsonPath.stringAt('$.pipeline'),
        runId: sfn.JsonPath.stringAt('$.runId'),
        executionArn: sfn.JsonPath.stringAt('$.executionArn'),
        ...fixed,
        [field]: sfn.JsonPath.objectAt(`$.${field}`),
        continuation: sfn.JsonPath.objectAt(`${resultPath}.Payload.continuation`),
      },
    });
    return work.next(
      new sfn.Choice(this, `${name}Done?`)
        .when(
          sfn.Condition.booleanEquals(`${resultPath}.Payload.done`, true),
          new sfn.Succeed(this, `${name}Finished`),
        )
        .otherwise(nextPage.next(work)),
    );
  }

  /**
   * A Lambda task whose payload is the JSONPath or object given, whose result replaces
   * `resultPath` with `{Payload}`, retried with backoff on Lambda service errors and throttling,
   * timed out after the function's timeout plus {@link TASK_TIMEOUT_MARGIN}.
   */
  private task(
    name: string,
    fn: lambda.Function,
    resultPath: string,
    payload: string | Record<string, unknown>,
  ): tasks.LambdaInvoke {
    const invoke = new tasks.LambdaInvoke(this, name, {
      lambdaFunction: fn,
      payload:
        typeof payload === 'string'
          ? sfn.TaskInput.fromJsonPathAt(payload)
          : sfn.TaskInput.fromObject(payload),
      resultSelector: { Payload: sfn.JsonPath.objectAt('$.Payload') },
      resultPath,
      retryOnServiceExceptions: false,
      taskTimeout: sfn.Timeout.duration(taskTimeout(name, fn)),
    });
    invoke.addRetry({
      errors: LAMBDA_SERVICE_ERRORS,
      interval: Duration.seconds(2),
      maxAttempts: 6,
      backoffRate: 2,
      maxDelay: Duration.seconds(60),
      jitterStrategy: sfn.JitterType.FULL,
    });
    invoke.addRetry({
      errors: HANDLER_TRANSIENT_ERRORS,
      interval: Duration.seconds(5),
      maxAttempts: 3,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    return invoke;
  }
}

/** The `TimeoutSeconds` of the task that invokes `fn`: see {@link TASK_TIMEOUT_MARGIN}. */
export function taskTimeout(taskName: string, fn: lambda.Function): Duration {
  if (fn.timeout === undefined)
    throw new Error(`task ${taskName}: function ${fn.node.path} has no timeout, so its task would have none`);
  return fn.timeout.plus(TASK_TIMEOUT_MARGIN);
}
