import path from 'node:path';
import { App, Aspects, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_EXTENSIONS_DIR, loadExtensions } from '../shared/extensions/load.ts';
import { plaintextDatabaseConnections } from '../shared/pipeline/database-connections.ts';
import { formatProblem, loadPipelineFiles } from '../shared/pipeline/load.ts';
import { PROJECT_ROOT } from './constructs/esync-function.ts';
import { ResourceNamingAspect } from './constructs/naming-aspect.ts';
import { EsyncStack } from './stacks/esync-stack.ts';
import { parseCatalogMode, parseLayout, parseStage } from './stage.ts';

/**
 * The CDK app: `npx cdk synth|deploy [-c stage=dev|staging|prod] [-c pipelines=<dir>] [-c extensions=<dir>]
 * [-c layout=per-pipeline|single] [-c catalog=parameters|baked]` (extensions: default `extensions/`
 * beside the pipelines directory, bundled into the functions that run what they register; layout:
 * a stack per pipeline by default, or everything in one stack for a small stage; catalog: where
 * the shared functions find the pipelines, EsyncStackProps.catalog).
 * Invalid pipelines fail the synth with every problem listed; cdk-nag (AwsSolutions) and the
 * naming Aspect run on every synth.
 */
async function main(): Promise<void> {
  const app = new App();
  const stage = parseStage(app.node.tryGetContext('stage'));
  const dir = String(app.node.tryGetContext('pipelines') ?? path.join(PROJECT_ROOT, 'pipelines'));
  const extensionsDir = app.node.tryGetContext('extensions') as string | undefined;
  const extensions = await loadExtensions(extensionsDir ?? path.join(dir, '..', DEFAULT_EXTENSIONS_DIR), {
    cwd: PROJECT_ROOT,
    required: extensionsDir !== undefined,
  });
  const { pipelines, problems } = await loadPipelineFiles([dir], {
    cwd: PROJECT_ROOT,
    extensions: extensions.registry,
  });
  if (problems.length > 0)
    throw new Error(
      `the pipelines are not valid:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
    );

  const plaintext = plaintextDatabaseConnections(pipelines);
  if (plaintext.length > 0)
    throw new Error(
      `ssl: disable is for the local stack only; stage ${stage} connects to databases over TLS ` +
        `(ssl: verify-full, the default, or require). Connections without TLS: ${plaintext.join(', ')}`,
    );

  const catalog = parseCatalogMode(app.node.tryGetContext('catalog'));
  new EsyncStack(app, `esync-${stage}`, {
    stage,
    pipelines,
    extensions: extensions.modules,
    layout: parseLayout(app.node.tryGetContext('layout')),
    ...(catalog && { catalog }),
    // No pipeline names here: the shared stack's template must not change when a pipeline does.
    description: `ESync (${stage}): the resources every pipeline shares`,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  Aspects.of(app).add(new ResourceNamingAspect());
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
