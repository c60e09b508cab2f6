import { z } from 'zod';
import type { Stage } from '../shared/naming.ts';
import type { Pipeline } from '../shared/pipeline/schema.ts';
import type { FunctionAccess } from './constructs/function-access.ts';
import { stageContextEntry } from './stage.ts';

const id = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `expected an id like ${prefix}-0123abcd`);

/**
 * Where a stage's database-facing functions run: an existing VPC named by its ids (no lookup, so
 * `cdk synth` needs no AWS account) or looked up by name or tags, its private subnets, and the
 * security group of the databases. Given in cdk.json or `-c network=<json>` as `{"<stage>": {...}}`.
 */
export const stageNetworkSchema = z.strictObject({
  /** The VPC by id; or give {@link vpcLookup} instead. */
  vpcId: id('vpc').optional(),
  /**
   * The VPC found by its Name tag and/or other tags at synth time (`Vpc.fromLookup`: needs the
   * account and region, and caches the answer in cdk.context.json). Its subnets, zones and route
   * tables come from the lookup.
   */
  vpcLookup: z
    .strictObject({
      name: z.string().min(1).optional(),
      tags: z.record(z.string().min(1), z.string()).optional(),
    })
    .refine((l) => l.name !== undefined || Object.keys(l.tags ?? {}).length > 0, 'name or tags')
    .optional(),
  /** With vpcId: the zones of the subnets, in the same order. */
  availabilityZones: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Private subnets (no route to the internet needed: the endpoints below serve AWS). Required
   * with vpcId; with vpcLookup, @default - every private and isolated subnet of the VPC
   */
  subnetIds: z.array(id('subnet')).min(1).optional(),
  /** With vpcId: the route table of each subnet, in the same order: the S3 and DynamoDB gateways join them. */
  routeTableIds: z.array(id('rtb')).default([]),
  /** Further groups the functions join (e.g. one the databases already admit). */
  securityGroupIds: z.array(id('sg')).default([]),
  /** The databases' (or RDS Proxy's) group: it admits the functions' group on the database ports only. */
  databaseSecurityGroupId: id('sg').optional(),
  /**
   * The ports the functions' group opens to the databases, whatever the pipelines use.
   * @default - the port of each database the stage's pipelines connect to: a connection's `port`,
   * else 5432 for PostgreSQL and 3306 for MySQL
   */
  databasePorts: z.array(z.int().min(1).max(65_535)).min(1).optional(),
  /** `create`: the stack creates the VPC endpoints; `existing`: the VPC has them already. */
  endpoints: z.enum(['create', 'existing']).default('create'),
});

export type StageNetwork = z.infer<typeof stageNetworkSchema>;

/** The networks of a stage: its own, and those of the pipelines that differ from it. */
export interface StageNetworks {
  /** Where the shared database-facing functions run. @default - outside any VPC */
  readonly stage?: StageNetwork;
  /**
   * By pipeline name: a pipeline whose databases sit in another VPC gets its own database-facing
   * functions (Discover, Plan, Extract, Verify, Load) there. Given as `{"<stage>": {…,
   * "pipelines": {"<pipeline>": {"vpcId": …}}}}`.
   */
  readonly pipelines: ReadonlyMap<string, StageNetwork>;
}

/**
 * The networks of `stage` from the `network` context value; none when it names none (every
 * function then runs outside any VPC).
 * @throws Error naming the setting and the value received when it is malformed.
 */
export function stageNetworks(stage: Stage, context: unknown): StageNetworks {
  const raw = stageContextEntry('network', stage, context, '{"<stage>": {"vpcId": …}}');
  if (raw === undefined) return { pipelines: new Map() };
  const entry = z.looseObject({ pipelines: z.record(z.string(), z.unknown()).optional() }).safeParse(raw);
  if (!entry.success) throw new Error(`network.${stage}: expected an object, got ${JSON.stringify(raw)}`);
  const { pipelines = {}, ...own } = entry.data;
  const pipelineNetworks = new Map(
    Object.entries(pipelines).map(([name, value]) => [
      name,
      parseNetwork(`network.${stage}.pipelines.${name}`, value),
    ]),
  );
  if (Object.keys(own).length === 0) return { pipelines: pipelineNetworks };
  return { stage: parseNetwork(`network.${stage}`, own), pipelines: pipelineNetworks };
}

/** The stage's own network (see {@link stageNetworks}). */
export function stageNetwork(stage: Stage, context: unknown): StageNetwork | undefined {
  return stageNetworks(stage, context).stage;
}

function parseNetwork(where: string, raw: unknown): StageNetwork {
  const result = stageNetworkSchema.safeParse(raw);
  if (!result.success)
    throw new Error(
      `${where}: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')} (got ${JSON.stringify(raw)})`,
    );
  const problem = vpcProblem(result.data);
  if (problem) throw new Error(`${where}: ${problem} (got ${JSON.stringify(raw)})`);
  return result.data;
}

/** What is wrong with how `network` names its VPC and subnets, if anything. */
function vpcProblem(network: StageNetwork): string | undefined {
  if ((network.vpcId === undefined) === (network.vpcLookup === undefined))
    return 'give either vpcId or vpcLookup';
  if (network.vpcLookup) {
    if (network.availabilityZones || network.routeTableIds.length > 0)
      return 'with vpcLookup the zones and route tables come from the lookup: drop availabilityZones and routeTableIds';
    return undefined;
  }
  const { subnetIds = [], availabilityZones = [] } = network;
  if (subnetIds.length === 0 || availabilityZones.length === 0)
    return 'with vpcId, give subnetIds and availabilityZones';
  if (subnetIds.length % availabilityZones.length !== 0)
    return `${subnetIds.length} subnetIds do not spread evenly over ${availabilityZones.length} availabilityZones`;
  if (network.endpoints === 'create' && network.routeTableIds.length !== subnetIds.length)
    return `endpoints "create" needs one routeTableIds entry per subnet (${subnetIds.length}), got ${network.routeTableIds.length}`;
  return undefined;
}

const DEFAULT_PORTS = { postgres: 5432, mysql: 3306 } as const;

/**
 * The ports of the databases a pipeline connects to with `access`: its SQL source's and its SQL
 * target's, each the connection's `port` when given, else its engine's default.
 */
function pipelineDatabasePorts(pipeline: Pipeline, access: FunctionAccess): number[] {
  const ports: number[] = [];
  const { source, target } = pipeline;
  if (access.source && (source.type === 'postgres' || source.type === 'mysql'))
    ports.push(source.connection.port ?? DEFAULT_PORTS[source.type]);
  if (access.target && target.type === 'postgres')
    ports.push(target.connection.port ?? DEFAULT_PORTS.postgres);
  return ports;
}

/**
 * The pipelines a shared function of a stage whose pipelines deploy apart may serve: any, known
 * only at run time, so what it is built with cannot depend on them.
 */
export const ANY_PIPELINE = 'any';

/**
 * Whether a function with `access`, serving `pipelines`, opens database connections: only those
 * run in the VPC. Serving {@link ANY_PIPELINE}, any function that reads a source or a target may.
 */
export function talksToDatabase(
  access: FunctionAccess,
  pipelines: readonly Pipeline[] | typeof ANY_PIPELINE,
): boolean {
  if (pipelines === ANY_PIPELINE) return Boolean(access.source || access.target);
  return pipelines.some((p) => pipelineDatabasePorts(p, access).length > 0);
}

/**
 * The ports the functions' group may reach the databases on: those the network names, else
 * those of the databases `pipelines` connect to (see {@link pipelineDatabasePorts}), sorted.
 */
export function databasePorts(network: StageNetwork, pipelines: readonly Pipeline[]): number[] {
  const all = { source: true, target: 'write' } as const;
  const ports = network.databasePorts ?? pipelines.flatMap((p) => pipelineDatabasePorts(p, all));
  return [...new Set(ports)].sort((a, b) => a - b);
}

/**
 * Checks that each pipeline network names a pipeline of the stage, and that no such pipeline
 * writes a PostgreSQL target: the management API, which resolves conflicts by writing the target,
 * runs in the stage's network.
 * @throws Error naming the pipeline.
 */
export function checkPipelineNetworks(networks: StageNetworks, pipelines: readonly Pipeline[]): void {
  for (const name of networks.pipelines.keys()) {
    const pipeline = pipelines.find((p) => p.name === name);
    if (!pipeline)
      throw new Error(
        `network pipelines.${name}: no pipeline is named "${name}" (pipelines: ${pipelines.map((p) => p.name).join(', ') || 'none'})`,
      );
    if (pipeline.target.type === 'postgres')
      throw new Error(
        `network pipelines.${name}: a pipeline with a network of its own cannot write a PostgreSQL target yet: ` +
          'the management API writes targets (conflict resolution) from the stage network; put the target database in the stage network',
      );
  }
}
