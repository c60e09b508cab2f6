import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { ApiThrottles, RouteThrottle } from '../stage.ts';
import { type VendedLogSettings, vendedLogGroup } from './vended-log-group.ts';

/**
 * The management routes, all signed with SigV4 (AWS_IAM); the api function routes them by the
 * same method and path template (shared/usecases/api/routes.ts MANAGEMENT_ROUTES, which a test compares
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
  { method: 'GET', path: '/pipelines/{name}/stream' },
  { method: 'GET', path: '/pipelines/{name}/dlq' },
  { method: 'POST', path: '/pipelines/{name}/dlq/redrive' },
  { method: 'GET', path: '/pipelines/{name}/records/{key}/history' },
  { method: 'GET', path: '/audit' },
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

export interface HttpApiProps extends VendedLogSettings {
  /** `esync-<stage>-core-api`. */
  readonly apiName: string;
  readonly webhookFunction: lambda.IFunction;
  readonly managementFunction: lambda.IFunction;
  /** Each route's own limits: webhook deliveries and management calls never share a budget. */
  readonly throttles: ApiThrottles;
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
    const accessLogs = vendedLogGroup(this, 'AccessLogs', 'apigateway', props.apiName, props);
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttles.management,
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
    this.throttleRoutes(props.throttles);
  }

  /** Route settings per route key; the stage default (management's) covers any route added later. */
  private throttleRoutes(throttles: ApiThrottles): void {
    const limits = (t: RouteThrottle) => ({
      ThrottlingRateLimit: t.rateLimit,
      ThrottlingBurstLimit: t.burstLimit,
    });
    const cfnStage = this.stage.node.defaultChild as apigw.CfnStage;
    cfnStage.routeSettings = {
      'POST /webhooks/{pipeline}': limits(throttles.webhooks),
      ...Object.fromEntries(
        MANAGEMENT_ROUTES.map(({ method, path }) => [`${method} ${path}`, limits(throttles.management)]),
      ),
    };
    // Route settings name routes that the stage deploys; without the dependency the stage may come first.
    for (const route of [this.webhookRoute, ...this.managementRoutes]) cfnStage.node.addDependency(route);
  }

  /** The API's base URL. */
  get url(): string {
    return this.stage.url;
  }
}
