import {
  AwsServiceError,
  type LocalServiceOptions,
  pageByToken,
  requireString,
  storeService,
} from './aws-json-server.ts';

/**
 * A local AWS Systems Manager Parameter Store: the JSON 1.1 subset ESync uses (`PutParameter`,
 * `GetParameter`, `GetParametersByPath` with paging, `DeleteParameter`), String parameters only,
 * with the service's error shapes, so the unchanged SDK client (and Powertools' SSM provider)
 * reach it through `AWS_ENDPOINT_URL_SSM`. Parameters live in memory.
 */

export interface SsmServerOptions extends LocalServiceOptions {
  /** Parameters created at start: name → value. */
  readonly parameters?: Readonly<Record<string, string>>;
}

interface Parameter {
  readonly name: string;
  readonly value: string;
  readonly version: number;
  readonly lastModifiedDate: number;
}

/** A name as SSM takes it: a path of segments, or a bare name; at most 1011 characters. */
const NAME_PATTERN = /^(\/?[A-Za-z0-9_.-]+)+$/;
/** SSM's limit for a standard parameter; the intelligent tier takes up to 8 KB. */
const MAX_VALUE_BYTES = 8192;
/** GetParametersByPath answers at most 10 parameters per page. */
const MAX_PAGE = 10;

class ParameterStore {
  readonly #parameters = new Map<string, Parameter>();

  constructor(
    readonly region: string,
    readonly accountId: string,
  ) {}

  putParameter(input: Record<string, unknown>) {
    const name = checkedName(requireString(input, 'Name'));
    const value = requireString(input, 'Value');
    const type = input.Type ?? 'String';
    if (type !== 'String')
      throw new AwsServiceError(
        'ValidationException',
        `only String parameters are emulated, got Type ${String(type)}`,
      );
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES)
      throw new AwsServiceError('ValidationException', `value of ${name} exceeds ${MAX_VALUE_BYTES} bytes`);
    const existing = this.#parameters.get(name);
    if (existing && input.Overwrite !== true)
      throw new AwsServiceError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    const version = (existing?.version ?? 0) + 1;
    this.#parameters.set(name, { name, value, version, lastModifiedDate: Date.now() / 1000 });
    return { Version: version, Tier: 'Standard' };
  }

  getParameter(input: Record<string, unknown>) {
    const name = requireString(input, 'Name');
    const parameter = this.#parameters.get(name);
    if (!parameter) throw new AwsServiceError('ParameterNotFound', `Parameter ${name} not found.`);
    return { Parameter: this.describe(parameter) };
  }

  deleteParameter(input: Record<string, unknown>) {
    const name = requireString(input, 'Name');
    if (!this.#parameters.delete(name))
      throw new AwsServiceError('ParameterNotFound', `Parameter ${name} not found.`);
    return {};
  }

  getParametersByPath(input: Record<string, unknown>) {
    const path = requireString(input, 'Path');
    if (!path.startsWith('/'))
      throw new AwsServiceError('ValidationException', `Path must start with "/", got "${path}"`);
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const recursive = input.Recursive === true;
    const maxResults = typeof input.MaxResults === 'number' ? input.MaxResults : MAX_PAGE;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_PAGE)
      throw new AwsServiceError('ValidationException', `MaxResults must be 1-${MAX_PAGE}, got ${maxResults}`);
    const all = [...this.#parameters.values()]
      .filter((p) => p.name.startsWith(prefix) && (recursive || !p.name.slice(prefix.length).includes('/')))
      .sort((a, b) => a.name.localeCompare(b.name));
    const { page, next } = pageByToken(all, input.NextToken, maxResults, 'ValidationException');
    return { Parameters: page.map((p) => this.describe(p)), ...next };
  }

  private describe(parameter: Parameter) {
    return {
      Name: parameter.name,
      Type: 'String',
      Value: parameter.value,
      Version: parameter.version,
      LastModifiedDate: parameter.lastModifiedDate,
      ARN: `arn:aws:ssm:${this.region}:${this.accountId}:parameter${parameter.name.startsWith('/') ? '' : '/'}${parameter.name}`,
      DataType: 'text',
    };
  }
}

function checkedName(name: string): string {
  if (!NAME_PATTERN.test(name) || name.length > 1011)
    throw new AwsServiceError('ValidationException', `Parameter name "${name}" is not valid.`);
  return name;
}

/** Starts the Parameter Store emulator on 127.0.0.1 with the given parameters. */
export const startSsmServer = storeService<SsmServerOptions, ParameterStore>(
  'AmazonSSM',
  ({ region, accountId }, options) => {
    const store = new ParameterStore(region, accountId);
    for (const [name, value] of Object.entries(options.parameters ?? {}))
      store.putParameter({ Name: name, Value: value, Type: 'String' });
    return store;
  },
  ['PutParameter', 'GetParameter', 'GetParametersByPath', 'DeleteParameter'],
);
