import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll } from 'vitest';
import { PROJECT_ROOT } from '../../infra/constructs/esync-function.ts';
import { ResourceNamingAspect } from '../../infra/constructs/naming-aspect.ts';
import type { BundledExtension } from '../../infra/extensions.ts';
import { EsyncStack } from '../../infra/stacks/esync-stack.ts';
import type { StackLayout } from '../../infra/stage.ts';
import type { Stage } from '../../shared/naming.ts';
import type { CatalogMode } from '../../shared/pipeline/catalog-source.ts';
import { type Pipeline, pipelineSchema } from '../../shared/pipeline/schema.ts';

/**
 * Three pipelines whose settings all differ from the defaults and from each other, so a test can
 * tell that a value in the template came from its own pipeline.
 */
export const FIXTURE_PIPELINES: readonly Pipeline[] = [
  pipelineSchema.parse({
    name: 'accounts-sync',
    source: {
      type: 'postgres',
      connection: { secret: 'esync/test/accounts-db' },
      table: 'accounts',
      key: ['id'],
      cursor: ['updated_at'],
    },
    target: { type: 'dynamodb', keyAttribute: 'accountId', batchInserts: true },
    triggers: { schedule: 'rate(30 minutes)' },
    dlq: { maxReceiveCount: 3 },
    load: { maxConcurrency: 7, batchSize: 20, batchingWindowSeconds: 2, timeoutSeconds: 90 },
    alerts: {
      failureRate: 0.02,
      conflictRate: 0.2,
      latencyMs: 120_000,
      notify: {
        emails: ['oncall@example.com'],
        snsTopics: ['arn:aws:sns:eu-west-1:123456789012:pager'],
        webhooks: [{ secret: 'esync/test/slack-oncall' }],
      },
    },
    retention: { keepHistory: true },
  }),
  pipelineSchema.parse({
    name: 'stock-cdc',
    source: { type: 'cdc', key: ['sku'] },
    target: { type: 's3', prefix: 'lake/' },
    triggers: {
      cdc: { pattern: { source: ['esync.cdc'], 'detail-type': ['stock.change'] } },
      kafka: {
        clusterArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/cdc/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
        topics: ['shop.public.stock'],
        batchSize: 250,
      },
    },
    dlq: { maxReceiveCount: 8 },
    load: { maxConcurrency: 3, batchSize: 5, batchingWindowSeconds: 0, timeoutSeconds: 30 },
    retention: { historyDays: 45 },
  }),
  pipelineSchema.parse({
    name: 'issues-hook',
    source: { type: 'webhook', key: ['id'] },
    target: {
      type: 'http',
      url: 'https://api.example.com/issues/{key}',
      auth: { secret: 'esync/test/issues-api' },
    },
    triggers: { webhook: { signature: 'github', secret: 'esync/test/github-hook' } },
  }),
];

let outdirRoot: string | undefined;

// Registered on the suite of each test file importing this module: assemblies hold megabytes of bundles.
afterAll(() => {
  if (outdirRoot !== undefined) rmSync(outdirRoot, { recursive: true, force: true });
  outdirRoot = undefined;
});

/** A fresh cloud assembly directory, removed after the test file. */
export function tempOutdir(): string {
  outdirRoot ??= mkdtempSync(path.join(tmpdir(), 'esync-cdk-'));
  return mkdtempSync(path.join(outdirRoot, 'app-'));
}

/** The feature flags and defaults of cdk.json, so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

export interface FixtureApp {
  readonly app: App;
  readonly stack: EsyncStack;
}

/**
 * The ESync stack of the fixture pipelines with the naming Aspect, as infra/app.ts builds it.
 * Functions are stubs unless `bundle` is set. CloudFormation's built-in template validation is off
 * (it costs seconds per synth and never fails one).
 */
export function fixtureApp(
  options: {
    stage?: Stage;
    pipelines?: readonly Pipeline[];
    bundle?: boolean;
    /** CDK context beyond cdk.json's, as `-c key=value` gives it. */
    context?: Record<string, unknown>;
    /** The account and region, as CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION give them. @default - environment-agnostic */
    env?: { account: string; region: string };
    /**
     * @see EsyncStackProps.layout
     * @default 'single' (one template to read), where the stack's own default is per-pipeline
     */
    layout?: StackLayout;
    /** @see EsyncStackProps.catalog */
    catalog?: CatalogMode;
    /** @see EsyncStackProps.extensions */
    extensions?: readonly BundledExtension[];
  } = {},
): FixtureApp {
  const app = new App({
    context: { ...cdkJsonContext(), ...options.context },
    outdir: tempOutdir(),
    builtinCloudFormationValidation: false,
    // tree.json is for the console's construct view; no test reads it, and writing it is a fifth of a synth.
    treeMetadata: false,
  });
  const stage = options.stage ?? 'dev';
  const stack = new EsyncStack(app, `esync-${stage}`, {
    stage,
    pipelines: options.pipelines ?? FIXTURE_PIPELINES,
    bundle: options.bundle ?? false,
    ...(options.env && { env: options.env }),
    layout: options.layout ?? 'single',
    ...(options.catalog && { catalog: options.catalog }),
    ...(options.extensions && { extensions: options.extensions }),
  });
  Aspects.of(app).add(new ResourceNamingAspect());
  return { app, stack };
}

/** The synthesized template of {@link fixtureApp}. */
export function fixtureTemplate(options: Parameters<typeof fixtureApp>[0] = {}): Template {
  return Template.fromStack(fixtureApp(options).stack);
}

type Resource = { Type: string; Properties: Record<string, unknown> };

/** Resources of a type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The one resource of `type` whose `property` equals `value`. */
export function resourceNamed(template: Template, type: string, property: string, value: string): Resource {
  const found = Object.values(resourcesOf(template, type)).filter((r) => r.Properties[property] === value);
  if (found.length !== 1)
    throw new Error(`expected one ${type} with ${property} = ${value}, found ${found.length}`);
  return found[0] as Resource;
}

/** The logical id of the one resource of `type` whose `property` equals `value`. */
export function logicalIdOf(template: Template, type: string, property: string, value: string): string {
  const ids = Object.entries(resourcesOf(template, type))
    .filter(([, r]) => r.Properties[property] === value)
    .map(([id]) => id);
  if (ids.length !== 1)
    throw new Error(`expected one ${type} with ${property} = ${value}, found ${ids.length}`);
  return ids[0] as string;
}

/**
 * A state machine's ASL definition, with the CloudFormation references inside it (function ARNs,
 * the partition) replaced by `REF`, parsed.
 */
export function stateMachineDefinition(template: Template, stateMachineName: string): AslDefinition {
  const sm = resourceNamed(
    template,
    'AWS::StepFunctions::StateMachine',
    'StateMachineName',
    stateMachineName,
  );
  const body = sm.Properties.DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string'
      ? body
      : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'REF')).join('');
  return JSON.parse(text) as AslDefinition;
}

export interface AslState {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Choices?: ReadonlyArray<{ readonly Next: string } & Record<string, unknown>>;
  readonly Retry?: ReadonlyArray<Record<string, unknown>>;
  readonly Catch?: ReadonlyArray<{ ErrorEquals: string[]; ResultPath?: string; Next: string }>;
  readonly ItemProcessor?: AslDefinition & { ProcessorConfig?: Record<string, unknown> };
  readonly [key: string]: unknown;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly [key: string]: unknown;
}
