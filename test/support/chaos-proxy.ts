import { connect, createServer, type Socket } from 'node:net';
import type { FaultCounter } from './chaos-faults.ts';

/** A TCP proxy in front of a database that cuts connections at random. */
export interface DroppingProxy {
  readonly port: number;
  close(): Promise<void>;
}

export interface DroppingProxyOptions {
  readonly targetPort: number;
  /** @default '127.0.0.1' */
  readonly targetHost?: string;
  /** Share of client writes (a query, a handshake step) on which the connection is cut instead. */
  readonly dropRate: number;
  /**
   * No two drops come closer than this, so a query's own retries (a few short backoffs) always
   * get through: the fault tests recovery, not the retry budget. @default 500
   */
  readonly minGapMs?: number;
  readonly random: () => number;
  readonly faults: FaultCounter;
}

/**
 * Starts a proxy that forwards to the database and, on a drawn client write, destroys both ends
 * of the connection before the write reaches the server, as a database restart or a load
 * balancer's idle cut does. The client sees "Connection terminated unexpectedly" mid-query.
 */
export async function startDroppingProxy(options: DroppingProxyOptions): Promise<DroppingProxy> {
  const sockets = new Set<Socket>();
  const minGapMs = options.minGapMs ?? 500;
  let lastDrop = 0;
  const server = createServer((client) => {
    const upstream = connect(options.targetPort, options.targetHost ?? '127.0.0.1');
    sockets.add(client).add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('data', (chunk) => {
      const now = Date.now();
      if (now - lastDrop >= minGapMs && options.random() < options.dropRate) {
        lastDrop = now;
        options.faults.add('sourceConnectionDrop');
        cut();
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
