import { describe, expect, it } from 'vitest';
import {
  type AuthorizationRequest,
  arnMatches,
  type Caller,
  evaluate,
  type PolicyStatement,
  readStatements,
  wildcardMatches,
} from '../../../local/iam/policy.ts';

const ROLE: Caller = {
  kind: 'role',
  roleArn: 'arn:aws:iam::000000000000:role/load',
  accountId: '000000000000',
};
const EVENTS: Caller = { kind: 'service', service: 'events.amazonaws.com' };
const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table/esync-dev-state';

function request(
  action: string,
  resource: string,
  extra: Partial<AuthorizationRequest> = {},
): AuthorizationRequest {
  return { caller: ROLE, action, resource, context: { 'aws:SecureTransport': 'true' }, ...extra };
}

const allow = (statement: Omit<PolicyStatement, 'Effect'>): PolicyStatement => ({
  Effect: 'Allow',
  ...statement,
});
const deny = (statement: Omit<PolicyStatement, 'Effect'>): PolicyStatement => ({
  Effect: 'Deny',
  ...statement,
});

describe('IAM policy evaluation', () => {
  it('allows an action on a resource an identity statement lists', () => {
    const identity = [allow({ Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: TABLE })];
    expect(evaluate(request('dynamodb:PutItem', TABLE), { identity, resource: [] }).decision).toBe('allow');
  });

  it('denies implicitly what no statement allows', () => {
    const identity = [allow({ Action: 'dynamodb:GetItem', Resource: TABLE })];
    expect(evaluate(request('dynamodb:PutItem', TABLE), { identity, resource: [] }).decision).toBe(
      'implicit-deny',
    );
    expect(evaluate(request('dynamodb:GetItem', `${TABLE}-other`), { identity, resource: [] }).decision).toBe(
      'implicit-deny',
    );
  });

  it('matches actions without regard to case and with wildcards', () => {
    const identity = [allow({ Action: ['s3:get*', 'sqs:*MessageVisibility'], Resource: '*' })];
    expect(evaluate(request('s3:GetObject', 'arn:aws:s3:::b/k'), { identity, resource: [] }).decision).toBe(
      'allow',
    );
    expect(
      evaluate(request('sqs:ChangeMessageVisibility', 'arn:aws:sqs:us-east-1:0:q'), {
        identity,
        resource: [],
      }).decision,
    ).toBe('allow');
    expect(evaluate(request('s3:PutObject', 'arn:aws:s3:::b/k'), { identity, resource: [] }).decision).toBe(
      'implicit-deny',
    );
  });

  it('matches resource wildcards: * over any run, ? over one character', () => {
    const identity = [
      allow({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::data/claim-check/*' }),
      allow({
        Action: 'secretsmanager:GetSecretValue',
        Resource: 'arn:aws:secretsmanager:us-east-1:0:secret:db-??????',
      }),
    ];
    const decide = (action: string, resource: string) =>
      evaluate(request(action, resource), { identity, resource: [] }).decision;
    expect(decide('s3:GetObject', 'arn:aws:s3:::data/claim-check/run/1.json')).toBe('allow');
    expect(decide('s3:GetObject', 'arn:aws:s3:::data/reports/1.json')).toBe('implicit-deny');
    expect(
      decide('secretsmanager:GetSecretValue', 'arn:aws:secretsmanager:us-east-1:0:secret:db-AbC123'),
    ).toBe('allow');
    expect(
      decide('secretsmanager:GetSecretValue', 'arn:aws:secretsmanager:us-east-1:0:secret:db-AbC1234'),
    ).toBe('implicit-deny');
  });

  it('keeps a wildcard inside its ARN segment', () => {
    expect(arnMatches('arn:aws:sqs:*:000000000000:q', 'arn:aws:sqs:us-east-1:000000000000:q')).toBe(true);
    expect(arnMatches('arn:aws:sqs:*:q', 'arn:aws:sqs:us-east-1:000000000000:q')).toBe(false);
    expect(
      arnMatches(
        'arn:aws:states:us-east-1:0:execution:sm:*',
        'arn:aws:states:us-east-1:0:execution:sm:run:1',
      ),
    ).toBe(true);
    expect(wildcardMatches('a*b?c', 'aXXbYc')).toBe(true);
    expect(wildcardMatches('a*b?c', 'abc')).toBe(false);
  });

  it('lets an explicit Deny win over any Allow', () => {
    const identity = [
      allow({ Action: '*', Resource: '*' }),
      deny({ Action: 'dynamodb:DeleteItem', Resource: TABLE }),
    ];
    const evaluation = evaluate(request('dynamodb:DeleteItem', TABLE), { identity, resource: [] });
    expect(evaluation).toEqual({ decision: 'explicit-deny', deniedBy: 'identity' });
  });

  it('applies NotAction and NotResource as the complement of their lists', () => {
    const identity = [
      allow({ NotAction: 'dynamodb:DeleteItem', Resource: TABLE }),
      deny({ Action: 's3:*', NotResource: 'arn:aws:s3:::data/*' }),
      allow({ Action: 's3:*', Resource: '*' }),
    ];
    const decide = (action: string, resource: string) =>
      evaluate(request(action, resource), { identity, resource: [] }).decision;
    expect(decide('dynamodb:PutItem', TABLE)).toBe('allow');
    expect(decide('dynamodb:DeleteItem', TABLE)).toBe('implicit-deny');
    expect(decide('s3:GetObject', 'arn:aws:s3:::data/x')).toBe('allow');
    expect(decide('s3:GetObject', 'arn:aws:s3:::logs/x')).toBe('explicit-deny');
  });

  it('applies a resource policy Deny to everyone it names, as the TLS-only bucket policies do', () => {
    const resource = [
      deny({
        Principal: { AWS: '*' },
        Action: 's3:*',
        Resource: 'arn:aws:s3:::data/*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    ];
    const identity = [allow({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::data/*' })];
    const overTls = evaluate(request('s3:GetObject', 'arn:aws:s3:::data/k'), { identity, resource });
    const plain = evaluate(
      request('s3:GetObject', 'arn:aws:s3:::data/k', { context: { 'aws:SecureTransport': 'false' } }),
      {
        identity,
        resource,
      },
    );
    expect(overTls.decision).toBe('allow');
    expect(plain).toEqual({ decision: 'explicit-deny', deniedBy: 'resource' });
  });

  it('lets a resource policy allow a service only from the source its condition names', () => {
    const queue = 'arn:aws:sqs:us-east-1:000000000000:load';
    const rule = 'arn:aws:events:us-east-1:000000000000:rule/cdc';
    const resource = [
      allow({
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queue,
        Condition: { ArnEquals: { 'aws:SourceArn': rule } },
      }),
    ];
    const from = (sourceArn: string) =>
      evaluate(
        {
          caller: EVENTS,
          action: 'sqs:SendMessage',
          resource: queue,
          context: { 'aws:SourceArn': sourceArn },
        },
        { identity: [], resource },
      ).decision;
    expect(from(rule)).toBe('allow');
    expect(from(`${rule}-other`)).toBe('implicit-deny');
  });

  it('does not let a resource policy naming the account allow by itself', () => {
    const key = 'arn:aws:kms:us-east-1:000000000000:key/k';
    const resource = [
      allow({ Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'kms:*', Resource: '*' }),
    ];
    expect(evaluate(request('kms:Decrypt', key), { identity: [], resource }).decision).toBe('implicit-deny');
    const identity = [allow({ Action: 'kms:Decrypt', Resource: key })];
    expect(evaluate(request('kms:Decrypt', key), { identity, resource }).decision).toBe('allow');
  });

  it('evaluates the condition operators the stack uses, with absent keys as IAM treats them', () => {
    const key = 'arn:aws:kms:us-east-1:000000000000:key/k';
    const decide = (condition: PolicyStatement['Condition'], context: Record<string, string>) =>
      evaluate(request('kms:Decrypt', key, { context }), {
        identity: [allow({ Action: 'kms:Decrypt', Resource: key, Condition: condition })],
        resource: [],
      }).decision;
    const viaSqs = {
      StringEquals: { 'kms:ViaService': ['sqs.us-east-1.amazonaws.com', 's3.us-east-1.amazonaws.com'] },
    };
    expect(decide(viaSqs, { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' })).toBe('allow');
    expect(decide(viaSqs, { 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' })).toBe('implicit-deny');
    expect(decide(viaSqs, {})).toBe('implicit-deny');
    expect(decide({ StringEqualsIfExists: { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' } }, {})).toBe(
      'allow',
    );
    expect(decide({ StringNotEquals: { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' } }, {})).toBe(
      'allow',
    );
    expect(decide({ Null: { 'kms:ViaService': 'false' } }, {})).toBe('implicit-deny');
    expect(
      decide(
        { StringLike: { 'KMS:VIASERVICE': 'sqs.*' } },
        { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' },
      ),
    ).toBe('allow');
    expect(
      decide(
        {
          ArnLike: { 'aws:SourceArn': 'arn:aws:events:*:0:rule/*' },
          StringEquals: { 'aws:SourceAccount': '0' },
        },
        {
          'aws:SourceArn': 'arn:aws:events:us-east-1:0:rule/r',
          'aws:SourceAccount': '1',
        },
      ),
    ).toBe('implicit-deny');
  });

  it('refuses a policy it cannot decide rather than guessing', () => {
    expect(() =>
      readStatements(
        {
          Statement: [
            allow({
              Action: '*',
              Resource: '*',
              Condition: { 'ForAnyValue:StringLike': { 'aws:TagKeys': 'x' } },
            }),
          ],
        },
        'policy P',
      ),
    ).toThrow(/policy P: IAM condition operator ForAnyValue:StringLike is not supported/);
    expect(() =>
      readStatements(
        { Statement: allow({ Action: '*', Resource: `arn:aws:s3:::b/$${'{'}aws:username}` }) },
        'policy Q',
      ),
    ).toThrow(/policy variables/);
  });
});
