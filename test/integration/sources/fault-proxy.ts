import { connect, createServer, type Server, type Socket } from 'node:net';

/** How an injected fault shows to the client. */
export type FaultMode = 'reset' | 'http-503';

/**
 * A TCP proxy in front of a real server that can break the next requests on demand: the
 * connection is cut (as when a database restarts or a load balancer drops it) or, for HTTP
 * servers, answered with a bare 503. Faults happen on the wire, so the code under test sees
 * exactly what it would see in production.
 */
export interface FaultProxy {
  readonly port: number;
  /** Breaks the next `count` client writes (a query, a request) with `mode`. */
  failNext(count: number, mode?: FaultMode): void;
  /** Faults injected so far. */
  readonly injected: number;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  let pending = 0;
  let mode: FaultMode = 'reset';
  let injected = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const cleanup = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', cleanup).on('close', cleanup);
    upstream.on('error', cleanup).on('close', cleanup);
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('data', (chunk) => {
      if (pending > 0) {
        pending--;
        injected++;
        if (mode === 'http-503') {
          client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          upstream.destroy();
        } else cleanup();
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    failNext(count, faultMode = 'reset') {
      pending = count;
      mode = faultMode;
    },
    get injected() {
      return injected;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
