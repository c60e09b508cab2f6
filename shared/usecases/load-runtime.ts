import type { SourceRereader, TargetConnector } from '../connectors/types.ts';
import { createRecordExpressions, type RecordExpressions } from '../domain/expressions.ts';
import { createTransform } from '../domain/transform.ts';
import { createValidator, type ValidationReason } from '../domain/validation.ts';
import type { Pipeline } from '../pipeline/schema.ts';
import type { RecordData } from '../records/envelope.ts';
import { type Deps, validatorsOf } from './deps.ts';
import { createUnavailableFields, type UnavailableFields } from './unavailable-fields.ts';

/** Per-pipeline compiled validators, transforms and open target connections, kept for the container's life. */
export interface PipelineRuntime {
  readonly validate: (data: RecordData) => ValidationReason[];
  readonly transform: (data: RecordData) => RecordData;
  readonly expressions: RecordExpressions | undefined;
  readonly target: TargetConnector;
  readonly unavailable: UnavailableFields;
  /** The source, when its API answers for one record: ties are re-read there. */
  readonly rereader: SourceRereader | undefined;
}

/**
 * Runtimes per set of dependencies: a container builds its Deps once, so each pipeline compiles
 * once per container; a test's own Deps get runtimes of their own and never see another test's.
 */
const runtimes = new WeakMap<Deps, Map<string, Promise<PipelineRuntime>>>();

/** The pipeline's runtime, built on first use; a failed build is forgotten so the next call retries it. */
export function runtimeOf(deps: Deps, pipeline: Pipeline): Promise<PipelineRuntime> {
  let byName = runtimes.get(deps);
  if (!byName) {
    byName = new Map();
    runtimes.set(deps, byName);
  }
  let runtime = byName.get(pipeline.name);
  if (!runtime) {
    runtime = buildRuntime(deps, pipeline);
    runtime.catch(() => byName.delete(pipeline.name));
    byName.set(pipeline.name, runtime);
  }
  return runtime;
}

async function buildRuntime(deps: Deps, pipeline: Pipeline): Promise<PipelineRuntime> {
  const unavailable = createUnavailableFields(pipeline);
  return {
    validate: unavailable.validating(createValidator(pipeline.validation, validatorsOf(deps))),
    transform: unavailable.transforming(
      createTransform(pipeline.transform, { hashKey: await maskKey(deps, pipeline) }),
    ),
    expressions: createRecordExpressions(pipeline.transform),
    target: deps.createTarget(pipeline),
    unavailable,
    rereader: deps.createRereader?.(pipeline),
  };
}

/**
 * Key of the keyed hash used by `mask: hash`: the stage's secret mask key (Secrets Manager,
 * generated at deploy) and the pipeline name, so equal values join within a pipeline and a
 * hash cannot be reversed by hashing guesses. Without a configured secret (unit tests outside
 * any stack) the key is derived from public names, and a warning says so.
 */
export async function maskKey(deps: Deps, pipeline: Pipeline): Promise<string> {
  const name = deps.config.maskKeySecret;
  if (name) return `${await deps.secrets.getString(name)}:${pipeline.name}`;
  if (Object.values(pipeline.transform.mask).includes('hash'))
    deps.log.warn('no mask key secret configured (ESYNC_MASK_KEY_SECRET): masked hashes use a public key', {
      pipeline: pipeline.name,
    });
  return `esync:${deps.config.stage}:${pipeline.name}`;
}
