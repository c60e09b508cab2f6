import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage, type Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { PIPELINES_ENV } from '../../shared/pipeline/catalog.ts';
import type { FunctionName } from '../../shared/usecases/contracts.ts';
import { bundleFunction } from '../bundling.ts';
import { type BundledExtension, extensionInjection, extensionsFor } from '../extensions.ts';
import { AnyResourcePolicy } from './any-resource-policy.ts';
import type { FunctionPlacement } from './database-network.ts';

/** The repository root: entries, the lock file and tsconfig are resolved from here. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The newest Node.js runtime this aws-cdk-lib knows. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * Sets `ESYNC_PIPELINES` before any bundled module runs, unless the function's environment sets
 * it. A banner and not esbuild `define`: `catalogFromEnv` reads `env[PIPELINES_ENV]` by a
 * computed key, which `define` (a textual replacement of `process.env.ESYNC_PIPELINES`) would
 * never reach.
 */
export function catalogBanner(pipelineCatalog: string): string {
  return `process.env.${PIPELINES_ENV} ??= ${JSON.stringify(pipelineCatalog)};`;
}

/** The runtime's Node.js major version, the bundles' target. */
export const FUNCTION_NODE_MAJOR = Number(/nodejs(\d+)/.exec(FUNCTION_RUNTIME.name)?.[1]);

/**
 * The handler bundled by the local esbuild (infra/bundling.ts; never Docker) into an entry with
 * chunks, the catalog baked into the entry. The entry and the catalog's digest are in the
 * bundling command, which CDK keys its asset cache by: two functions never share a bundle by
 * mistake.
 */
function bundledCode(
  handlerName: FunctionName,
  pipelineCatalog: string | undefined,
  extensions: readonly BundledExtension[],
  tracing: boolean,
): lambda.Code {
  const entry = path.join(PROJECT_ROOT, 'functions', handlerName, 'handler.ts');
  const inject = extensions.length > 0 ? extensionInjection(handlerName, extensions) : undefined;
  const digest = pipelineCatalog === undefined ? 'none' : sha256(pipelineCatalog);
  return lambda.Code.fromAsset(PROJECT_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('dummy'),
      command: ['esbuild', path.relative(PROJECT_ROOT, entry), `catalog:${digest}`, `tracing:${tracing}`],
      local: {
        tryBundle(outputDir) {
          bundleFunction({
            entry,
            outdir: outputDir,
            nodeMajor: FUNCTION_NODE_MAJOR,
            tsconfig: path.join(PROJECT_ROOT, 'tsconfig.json'),
            ...(pipelineCatalog !== undefined && { entryPrologue: catalogBanner(pipelineCatalog) }),
            ...(inject && { inject: [inject] }),
            tracing,
          });
          return true;
        },
      },
    },
  });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Deployed instead of the bundle when bundling is off (template-only tests). */
const STUB_CODE = "exports.handler = async () => { throw new Error('ESync: deployed without bundling'); };";

/**
 * The stub with a digest of the catalog the bundle would bake in, the names of the extension
 * modules it would carry and whether it leaves tracing out: a template test then sees a function
 * change wherever a bundled deploy would (the bundle's asset hash changes with each).
 */
function stubCode(
  pipelineCatalog: string | undefined,
  extensions: readonly BundledExtension[],
  tracing: boolean,
): string {
  const notes = [
    ...(tracing ? [] : ['untraced']),
    ...(pipelineCatalog === undefined ? [] : [`catalog sha256:${sha256(pipelineCatalog)}`]),
    ...(extensions.length === 0
      ? []
      : [`extensions: ${extensions.map((e) => path.basename(e.path)).join(', ')}`]),
  ];
  return notes.length === 0 ? STUB_CODE : `${STUB_CODE} // ${notes.join('; ')}`;
}

export interface EsyncFunctionProps {
  /** Folder under functions/ whose handler.ts exports `handler`. */
  readonly handlerName: FunctionName;
  /** Deployed name, `esync-<stage>-<pipeline|core>-<role>`. */
  readonly functionName: string;
  readonly description: string;
  readonly timeout: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** Runtime settings (the variables shared/config.ts reads); the house defaults are added. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * The pipelines the function serves, as `serializeCatalog` writes them; baked into the bundle.
   * @default - none baked: the function reads the stage's pipelines from SSM at run time
   * (`ESYNC_PIPELINE_PARAMETERS` in its environment)
   */
  readonly pipelineCatalog?: string;
  readonly logRetention: logs.RetentionDays;
  /** Encrypts the function's log group. */
  readonly logKey: kms.IKey;
  readonly removalPolicy: RemovalPolicy;
  /**
   * The VPC, subnets and groups the function runs in; only functions that open database
   * connections get one.
   * @default - outside any VPC
   */
  readonly placement?: FunctionPlacement;
  /**
   * Bundle the handler with the locally installed esbuild. Off, the function deploys a stub that
   * throws: only for tests that assert on the template.
   * @default true
   */
  readonly bundle?: boolean;
  /**
   * The extension modules of the app; those registering what this function runs are bundled in
   * (infra/extensions.ts).
   * @default - none
   */
  readonly extensions?: readonly BundledExtension[];
  /**
   * Active X-Ray tracing and the tracing middleware in the bundle. Off, neither, and the bundle
   * carries no X-Ray SDK (infra/bundling.ts).
   * @default true
   */
  readonly tracing?: boolean;
}

/**
 * The house Lambda function: Node 24 on arm64, active X-Ray tracing unless the stage turns it
 * off, JSON logs into its own encrypted log group with retention, an ESM bundle (minified, with source maps) built by the
 * local esbuild (never Docker), the pipeline catalog baked into the bundle (Lambda allows only
 * 4 KB of environment variables), and a role of its own without managed policies.
 */
export class EsyncFunction extends NodejsFunction {
  readonly executionRole: iam.Role;

  constructor(scope: Construct, id: string, props: EsyncFunctionProps) {
    // Created beside the function (a subclass cannot own children before super()), so the role
    // carries no AWSLambdaBasicExecutionRole: the function writes only to its own log group.
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      logGroupName: `/aws/lambda/${props.functionName}`,
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: props.removalPolicy,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.functionName}`,
    });
    const bundle = props.bundle ?? true;
    const tracing = props.tracing ?? true;
    const extensions = extensionsFor(props.handlerName, props.extensions ?? []);
    super(scope, id, {
      functionName: props.functionName,
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      role,
      logGroup,
      ...props.placement,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      // Active tracing is set on the L1 below: the L2 would put its X-Ray statement on resource
      // "*" into the role's default policy, where no acknowledgement can tell it from another.
      environment: {
        ...props.environment,
        ESYNC_FUNCTION: props.handlerName,
        POWERTOOLS_SERVICE_NAME: `esync-${props.handlerName}`,
        POWERTOOLS_METRICS_NAMESPACE: 'ESync',
        // No response or error body in X-Ray: both may hold record values.
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
        POWERTOOLS_TRACER_CAPTURE_ERROR: 'false',
        NODE_OPTIONS: '--enable-source-maps',
      },
      ...(bundle
        ? {
            code: bundledCode(props.handlerName, props.pipelineCatalog, extensions, tracing),
            handler: 'index.handler',
          }
        : {
            code: lambda.Code.fromInline(stubCode(props.pipelineCatalog, extensions, tracing)),
            handler: 'index.handler',
          }),
    });
    this.executionRole = role;
    logGroup.grantWrite(role);
    if (tracing) {
      (this.node.defaultChild as lambda.CfnFunction).tracingConfig = { mode: lambda.Tracing.ACTIVE };
      new AnyResourcePolicy(scope, `${id}Tracing`, { role, grant: 'functionTracing', requiredBy: [this] });
    }
    if (props.placement) this.allowNetworkInterfaces();
  }

  /**
   * Lets Lambda create, describe and delete the network interfaces that put the function (or its
   * MSK event source) in a VPC. Granted once however many callers need it.
   */
  allowNetworkInterfaces(): void {
    const scope = this.node.scope as Construct;
    const id = `${this.node.id}NetworkInterfaces`;
    if (scope.node.tryFindChild(id)) return;
    new AnyResourcePolicy(scope, id, {
      role: this.executionRole,
      grant: 'networkInterfaces',
      requiredBy: [this],
    });
  }

  /** Acknowledges a cdk-nag finding on the function's role policy, with the reason it is accepted. */
  acknowledgeRoleFinding(id: string, reason: string): void {
    Validations.of(this.executionRole).acknowledge({ id, reason });
  }
}
