import { parentPort, workerData } from 'node:worker_threads';
import {
  type EmbeddedServers,
  type EmbeddedServersOptions,
  type ServerWorkerMessage,
  startEmbeddedServers,
} from './servers.ts';

/**
 * The local AWS servers' worker thread (see `startLocalServers`): starts the embedded servers
 * from `workerData`, answers `ready` with their endpoints (or `failed`), and on `stop` closes them
 * and answers `stopped`.
 */
const port = parentPort;
if (!port) throw new Error('server-worker.ts runs as a worker thread of startLocalServers, not on its own');

const post = (message: ServerWorkerMessage) => port.postMessage(message);
let servers: EmbeddedServers | undefined;
port.on('message', (message: ServerWorkerMessage) => {
  if (message.kind !== 'stop') return;
  void (async () => {
    await servers?.stop();
    post({ kind: 'stopped' });
  })();
});
try {
  servers = await startEmbeddedServers(workerData as EmbeddedServersOptions);
  post({ kind: 'ready', endpoints: servers.endpoints });
} catch (error) {
  post({ kind: 'failed', message: (error as Error).stack ?? String(error) });
}
