/**
 * A loopback TCP proxy that delays every chunk by `delayMs` in each direction, in order: a database
 * that is a network hop away (in the same zone a round trip is about 0.3 to 1 ms; Node's timers count
 * whole milliseconds, so 1 ms each way is the smallest step, a 2 to 3 ms round trip). Loopback only.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface LatencyProxy {
  /** `url` with the proxy's host and port. */
  readonly url: string;
  close(): void;
}

export async function startLatencyProxy(url: string, delayMs: number): Promise<LatencyProxy> {
  const target = new URL(url);
  const targetPort = Number(target.port || 5432);
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket): void => {
    from.on('data', (chunk) => void setTimeout(() => to.destroyed || to.write(chunk), delayMs));
    from.on('end', () => void setTimeout(() => to.end(), delayMs));
    from.on('error', () => to.destroy());
    from.on('close', () => void setTimeout(() => to.destroy(), delayMs));
  };
  const server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect(targetPort, target.hostname === 'localhost' ? '127.0.0.1' : target.hostname);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
