import { type RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The management routes, all signed with SigV4 (AWS_IAM); the api function routes them by the
 * same method and path template (shared/usecases/api.ts MANAGEMENT_ROUTES, which a test compares
 * with this list).
 */
export const MANAGEMENT_ROUTES: ReadonlyArray<{
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
}> = [
  { method: 'GET', path: '/health' },
  { method: 'GET', path: '/runs' },
  { method: 'GET', path: '/runs/{id}' },
  { method: 'GET', path: '/runs/{id}/history' },
  { method: 'POST', path: '/pipelines/{name}/runs' },
  { method: 'GET', path: '/conflicts' },
  { method: 'GET', path: '/conflicts/{id}' },
  { method: 'POST', path: '/conflicts/{id}/resolve' },
  { method: 'GET', path: '/pipelines/{name}/checkpoint' },
  { method: 'PUT', path: '/pipelines/{name}/checkpoint' },
  { method: 'GET', path: '/pipelines/{name}/dlq' },
  { method: 'POST', path: '/pipelines/{name}/dlq/redrive' },
  { method: 'GET', path: '/pipelines/{name}/records/{key}/history' },
];

/** One JSON line per request; the caller is the IAM principal of a signed request. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  time: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
  routeKey: '$context.routeKey',
  status: '$context.status',
  latencyMs: '$context.responseLatency',
  responseLength: '$context.responseLength',
  integrationError: '$context.integrationErrorMessage',
};

export interface HttpApiProps {
  /** `esync-<stage>-core-api`. */
  readonly apiName: string;
  readonly webhookFunction: lambda.IFunction;
  readonly managementFunction: lambda.IFunction;
  /** Steady requests per second across the API; above it callers get 429. */
  readonly rateLimit: number;
  readonly burstLimit: number;
  readonly logKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The HTTP API: `POST /webhooks/{pipeline}` for sources pushing changes (no IAM: the webhook
 * function checks each delivery's signature, and answers 413 above the pipeline's body limit),
 * and the IAM-authorized management routes the esync command calls. Throttled and access-logged
 * on its one stage.
 */
export class HttpApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly webhookRoute: apigw.HttpRoute;
  readonly managementRoutes: apigw.HttpRoute[];

  constructor(scope: Construct, id: string, props: HttpApiProps) {
    super(scope, id);
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: props.apiName,
      description: 'ESync webhooks and management API',
      createDefaultStage: false,
    });
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      logGroupName: `/aws/vendedlogs/apigateway/${props.apiName}`,
      retention: props.logRetention,
      encryptionKey: props.logKey,
      removalPolicy: props.removalPolicy,
    });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit, burstLimit: props.burstLimit },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    [this.webhookRoute] = this.api.addRoutes({
      path: '/webhooks/{pipeline}',
      methods: [apigw.HttpMethod.POST],
      integration: new HttpLambdaIntegration('Webhook', props.webhookFunction),
    }) as [apigw.HttpRoute];
    Validations.of(this.webhookRoute).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Webhook senders (GitHub, Standard Webhooks, HMAC clients) cannot sign with SigV4; the webhook function verifies each delivery’s signature with the pipeline’s secret and rejects unsigned ones with 401.',
    });

    const management = new HttpLambdaIntegration('Management', props.managementFunction);
    const authorizer = new HttpIamAuthorizer();
    this.managementRoutes = MANAGEMENT_ROUTES.flatMap(({ method, path }) =>
      this.api.addRoutes({ path, methods: [apigw.HttpMethod[method]], integration: management, authorizer }),
    );
  }

  /** The API's base URL. */
  get url(): string {
    return this.stage.url;
  }
}
