/**
 * `resetSocket`: the store closes an abandoned connection with a TCP reset, also under TLS, so that
 * nothing it had not delivered yet (a COMMIT) reaches the server after the close.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { resetSocket } from '../../../shared/store/errors.js';

/** A server: when the first connection sent data, and how it ended: 'reset' (RST) or 'end' (FIN). */
async function listen(): Promise<{ port: number; received: Promise<void>; ended: Promise<'reset' | 'end'>; close(): void }> {
  let ended!: (how: 'reset' | 'end') => void;
  const promise = new Promise<'reset' | 'end'>((resolve) => (ended = resolve));
  let received!: () => void;
  const data = new Promise<void>((resolve) => (received = resolve));
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.once('data', () => received());
    socket.on('error', (error: NodeJS.ErrnoException) => ended(error.code === 'ECONNRESET' ? 'reset' : 'end'));
    socket.on('end', () => ended('end'));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: data,
    ended: promise,
    close: () => {
      sockets.forEach((socket) => socket.destroy());
      server.close();
    },
  };
}

const connected = (socket: Socket): Promise<void> => new Promise((resolve) => socket.once('connect', resolve));

test('resetSocket closes a TCP socket with a reset, not a normal close', async (t) => {
  const server = await listen();
  t.after(server.close);
  const socket = createConnection({ host: '127.0.0.1', port: server.port });
  socket.on('error', () => {});
  await connected(socket);
  resetSocket(socket);
  assert.equal(socket.destroyed, true);
  assert.equal(await server.ended, 'reset');
});

test('resetSocket resets the TCP socket under a TLS stream', async (t) => {
  const server = await listen();
  t.after(server.close);
  const raw = createConnection({ host: '127.0.0.1', port: server.port });
  raw.on('error', () => {});
  await connected(raw);
  const tls = tlsConnect({ socket: raw, rejectUnauthorized: false }); // the handshake never completes: no matter
  tls.on('error', () => {});
  await server.received; // the ClientHello: the TLS stream is in use
  resetSocket(tls);
  assert.equal(await server.ended, 'reset');
});

test('resetSocket ignores what is not an open socket', () => {
  for (const value of [undefined, null, {}, { resetAndDestroy: 1 }]) assert.doesNotThrow(() => resetSocket(value));
  const closed = createConnection({ host: '127.0.0.1', port: 1 });
  closed.on('error', () => {});
  closed.destroy();
  assert.doesNotThrow(() => resetSocket(closed));
});
