import { type CfnResource, type CfnTemplate, IntrinsicResolver, type LocalPlacement } from '../template.ts';
import { type PolicyStatement, readStatements } from './policy.ts';

/** A role of the template with every policy attached to it. */
export interface RoleInfo {
  readonly logicalId: string;
  readonly arn: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>` names the caller in AccessDenied messages. */
  readonly name: string;
  readonly statements: readonly PolicyStatement[];
}

/** A resource-based policy and the resources it governs. */
export interface ResourcePolicy {
  readonly where: string;
  /** Whether the policy governs this ARN (a queue, a bucket and its objects, a key, a function and its versions). */
  governs(arn: string): boolean;
  readonly statements: readonly PolicyStatement[];
}

/** What IAM needs to know of a stack: roles, who runs as which, resource policies, encryption keys. */
export interface IamModel {
  readonly region: string;
  readonly accountId: string;
  readonly functionRoles: ReadonlyMap<string, RoleInfo>;
  readonly stateMachineRoles: ReadonlyMap<string, RoleInfo>;
  readonly rolesByArn: ReadonlyMap<string, RoleInfo>;
  readonly resourcePolicies: readonly ResourcePolicy[];
  /** KMS key of each encrypted queue (by queue ARN) and bucket (by bucket name). */
  readonly queueKeys: ReadonlyMap<string, string>;
  readonly bucketKeys: ReadonlyMap<string, string>;
  /** Names of the secrets the template declares. */
  readonly secretNames: ReadonlySet<string>;
  /** Id of the HTTP API, as the template's execute-api ARNs spell it locally. */
  readonly httpApiId?: string;
}

/**
 * The 6-character suffix every secret ARN carries on AWS (`name-AbCdEf`), fixed locally so
 * policies written for it (`name-??????`) and references to the secret (`Ref`) name one ARN.
 */
export const LOCAL_SECRET_SUFFIX = 'LOCAL0';

/**
 * The ARN IAM sees for a secret given by name or ARN: its name and the suffix. A trailing
 * `-xxxxxx` is taken for a suffix only when what is left is a known secret's name.
 */
export function secretArn(model: IamModel, idOrArn: string, knownNames: ReadonlySet<string>): string {
  const prefix = `arn:aws:secretsmanager:${model.region}:${model.accountId}:secret:`;
  const name = idOrArn.startsWith('arn:')
    ? idOrArn.slice(idOrArn.indexOf(':secret:') + ':secret:'.length)
    : idOrArn;
  const unsuffixed = name.replace(/-[A-Za-z0-9]{6}$/, '');
  return `${prefix}${unsuffixed !== name && knownNames.has(unsuffixed) ? unsuffixed : name}-${LOCAL_SECRET_SUFFIX}`;
}

type Entry = readonly [string, CfnResource];

function refId(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return v.Ref;
  const att = v['Fn::GetAtt'];
  return Array.isArray(att) ? String(att[0]) : undefined;
}

/** Reads roles, policies and keys from a synthesized template, resolved to local ARNs. */
export function buildIamModel(template: CfnTemplate, placement: LocalPlacement): IamModel {
  const r = new IntrinsicResolver(template, placement);
  const entries: Entry[] = Object.entries(template.Resources);
  const ofType = (type: string) => entries.filter(([, res]) => res.Type === type);
  const secretNames = new Set(ofType('AWS::SecretsManager::Secret').map(([id]) => r.physicalName(id)));
  const secretPrefix = `arn:aws:secretsmanager:${placement.region}:${placement.accountId}:secret:`;
  // CloudFormation's Ref of a secret is its full ARN, suffix included.
  const withSecretSuffix = (arn: string) =>
    arn.startsWith(secretPrefix) && secretNames.has(arn.slice(secretPrefix.length))
      ? `${arn}-${LOCAL_SECRET_SUFFIX}`
      : arn;
  const statementsOf = (document: unknown, where: string) =>
    readStatements(r.resolve(document), where).map((s) => fixSecretArns(s, withSecretSuffix));

  const attached = new Map<string, PolicyStatement[]>();
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'])
    for (const [id, res] of ofType(type)) {
      const props = res.Properties ?? {};
      const statements = statementsOf(props.PolicyDocument, `policy ${id}`);
      for (const role of (props.Roles as unknown[] | undefined) ?? []) {
        const roleId = refId(role);
        if (roleId) attached.set(roleId, [...(attached.get(roleId) ?? []), ...statements]);
      }
    }
  const rolesById = new Map<string, RoleInfo>();
  for (const [id, res] of ofType('AWS::IAM::Role')) {
    const inline = (
      (res.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? []
    ).flatMap((p) => statementsOf(p.PolicyDocument, `role ${id}`));
    rolesById.set(id, {
      logicalId: id,
      arn: r.arn(id),
      name: r.physicalName(id),
      statements: [...inline, ...(attached.get(id) ?? [])],
    });
  }
  const roleOf = (res: CfnResource, property: string) => {
    const id = refId(res.Properties?.[property]);
    return id ? rolesById.get(id) : undefined;
  };
  const functionRoles = new Map<string, RoleInfo>();
  for (const [id, res] of ofType('AWS::Lambda::Function')) {
    const role = roleOf(res, 'Role');
    if (role) functionRoles.set(r.physicalName(id), role);
  }
  const stateMachineRoles = new Map<string, RoleInfo>();
  for (const [id, res] of ofType('AWS::StepFunctions::StateMachine')) {
    const role = roleOf(res, 'RoleArn');
    if (role) stateMachineRoles.set(r.physicalName(id), role);
  }
  const { queueKeys, bucketKeys } = encryptionKeys(r, entries);
  return {
    region: placement.region,
    accountId: placement.accountId,
    functionRoles,
    stateMachineRoles,
    rolesByArn: new Map([...rolesById.values()].map((role) => [role.arn, role])),
    resourcePolicies: resourcePolicies(r, entries, statementsOf),
    queueKeys,
    bucketKeys,
    secretNames,
    ...(ofType('AWS::ApiGatewayV2::Api')[0] && {
      httpApiId: String(r.ref(ofType('AWS::ApiGatewayV2::Api')[0]?.[0] ?? '')),
    }),
  };
}

function fixSecretArns(statement: PolicyStatement, fix: (arn: string) => string): PolicyStatement {
  const map = (value: string | readonly string[] | undefined) =>
    value === undefined ? undefined : typeof value === 'string' ? fix(value) : value.map(fix);
  const resource = map(statement.Resource);
  return resource === undefined ? statement : { ...statement, Resource: resource };
}

function resourcePolicies(
  r: IntrinsicResolver,
  entries: readonly Entry[],
  statementsOf: (document: unknown, where: string) => PolicyStatement[],
): ResourcePolicy[] {
  const policies: ResourcePolicy[] = [];
  for (const [id, res] of entries) {
    const props = res.Properties ?? {};
    if (res.Type === 'AWS::SQS::QueuePolicy') {
      const arns = new Set(((props.Queues as unknown[] | undefined) ?? []).map((q) => queueArnOf(r, q)));
      policies.push({
        where: `queue policy ${id}`,
        governs: (arn) => arns.has(arn),
        statements: statementsOf(props.PolicyDocument, `queue policy ${id}`),
      });
    } else if (res.Type === 'AWS::S3::BucketPolicy') {
      const bucketArn = `arn:aws:s3:::${String(r.resolve(props.Bucket))}`;
      policies.push({
        where: `bucket policy ${id}`,
        governs: (arn) => arn === bucketArn || arn.startsWith(`${bucketArn}/`),
        statements: statementsOf(props.PolicyDocument, `bucket policy ${id}`),
      });
    } else if (res.Type === 'AWS::KMS::Key') {
      const keyArn = r.arn(id);
      policies.push({
        where: `key policy ${id}`,
        governs: (arn) => arn === keyArn,
        statements: statementsOf(props.KeyPolicy, `key policy ${id}`),
      });
    } else if (res.Type === 'AWS::Lambda::Permission') {
      policies.push(lambdaPermission(r, id, props));
    }
  }
  return policies;
}

/** A Lambda permission is one statement of the function's resource policy. */
function lambdaPermission(r: IntrinsicResolver, id: string, props: Record<string, unknown>): ResourcePolicy {
  const functionRef = String(r.resolve(props.FunctionName));
  const functionArn = functionRef.startsWith('arn:')
    ? functionRef
    : `arn:aws:lambda:${String(r.ref('AWS::Region'))}:${String(r.ref('AWS::AccountId'))}:function:${functionRef}`;
  const principal = String(r.resolve(props.Principal));
  const condition: Record<string, Record<string, string>> = {};
  if (props.SourceArn !== undefined)
    condition.ArnLike = { 'aws:SourceArn': String(r.resolve(props.SourceArn)) };
  if (props.SourceAccount !== undefined)
    condition.StringEquals = { 'aws:SourceAccount': String(r.resolve(props.SourceAccount)) };
  const statement: PolicyStatement = {
    Sid: id,
    Effect: 'Allow',
    Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
    Action: String(r.resolve(props.Action)),
    Resource: [functionArn, `${functionArn}:*`],
    ...(Object.keys(condition).length > 0 && { Condition: condition }),
  };
  return {
    where: `Lambda permission ${id}`,
    governs: (arn) => arn === functionArn || arn.startsWith(`${functionArn}:`),
    statements: [statement],
  };
}

function queueArnOf(r: IntrinsicResolver, queue: unknown): string {
  const id = refId(queue);
  if (id) return r.arn(id);
  const url = String(r.resolve(queue));
  return `arn:aws:sqs:${String(r.ref('AWS::Region'))}:${String(r.ref('AWS::AccountId'))}:${url.split('/').pop()}`;
}

function encryptionKeys(r: IntrinsicResolver, entries: readonly Entry[]) {
  const queueKeys = new Map<string, string>();
  const bucketKeys = new Map<string, string>();
  const keyArn = (value: unknown) => {
    const id = refId(value);
    return id ? r.arn(id) : String(r.resolve(value));
  };
  for (const [id, res] of entries) {
    const props = res.Properties ?? {};
    if (res.Type === 'AWS::SQS::Queue' && props.KmsMasterKeyId !== undefined)
      queueKeys.set(r.arn(id), keyArn(props.KmsMasterKeyId));
    if (res.Type === 'AWS::S3::Bucket') {
      const rules =
        (
          props.BucketEncryption as
            | { ServerSideEncryptionConfiguration?: Array<Record<string, unknown>> }
            | undefined
        )?.ServerSideEncryptionConfiguration ?? [];
      for (const rule of rules) {
        const byDefault = rule.ServerSideEncryptionByDefault as
          | { SSEAlgorithm?: string; KMSMasterKeyID?: unknown }
          | undefined;
        if (byDefault?.SSEAlgorithm?.startsWith('aws:kms') && byDefault.KMSMasterKeyID !== undefined)
          bucketKeys.set(r.physicalName(id), keyArn(byDefault.KMSMasterKeyID));
      }
    }
  }
  return { queueKeys, bucketKeys };
}
