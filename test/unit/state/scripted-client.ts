import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** One command a repository sent: its class name and input. */
export interface SentCommand {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/** What the client answers a command with: a response, or an error to throw. */
export type Answer = (command: SentCommand, index: number) => unknown;

/** An error as the SDK throws it: only `name` decides how the repositories treat it. */
export function awsError(name: string): Error {
  const error = new Error(`${name} (scripted)`);
  error.name = name;
  return error;
}

/**
 * A document client that answers each command with `answer` and records what was sent: the state
 * repositories take their client injected, so their error paths are tested without a table.
 */
export function scriptedClient(answer: Answer = () => ({})) {
  const sent: SentCommand[] = [];
  // A real client (the SDK's paginators accept nothing else) whose send never leaves the process.
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'local' }));
  const send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    const entry = { name: command.constructor.name, input: command.input };
    sent.push(entry);
    const response = answer(entry, sent.length - 1);
    if (response instanceof Error) throw response;
    return response;
  };
  Object.assign(ddb, { send });
  return { ddb, sent };
}
