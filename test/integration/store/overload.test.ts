/**
 * A connect timeout under local overload is not a network fault: when this process's event loop was
 * busy nearly all the time the connect waited, StoreUnavailable says so instead of "host down or
 * firewalled?" (shared/store/errors.ts connectTimeoutReason). The server is a stalling loopback
 * server: it accepts the TCP connection and never answers.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { isUnavailable } from '../../../shared/store/errors.js';
import { connectTimeoutReason } from '../../../shared/store/errors.js';
import { openStore } from '../../../shared/store/index.js';

const REASON = 'timed out connecting to 127.0.0.1:5432 after 300 ms (host down or firewalled?)';
const sockets = new Set<Socket>();
let stalling: Server;
after(() => {
  for (const socket of sockets) socket.destroy();
  stalling?.close();
});

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the event loop is blocked, as under a flood of callbacks on a small CPU
  }
}

async function stallingPort(): Promise<number> {
  stalling ??= createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  if (!stalling.listening) await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
  return (stalling.address() as AddressInfo).port;
}

describe('connect timeouts: local overload or network fault', () => {
  it('keeps "host down or firewalled?" when the process was idle, says local overload when it was busy', async () => {
    const idleSince = performance.eventLoopUtilization();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(connectTimeoutReason(REASON, idleSince), REASON);

    const busySince = performance.eventLoopUtilization();
    busy(300);
    assert.match(connectTimeoutReason(REASON, busySince), /^timed out connecting to 127\.0\.0\.1:5432 after 300 ms while this process was busy (9\d|100)% of the time: local overload .*not a network fault; lower the load or raise connect_timeout_ms$/);
    assert.equal(connectTimeoutReason('connection refused by 127.0.0.1:1 (is the server running and listening there?)', busySince), 'connection refused by 127.0.0.1:1 (is the server running and listening there?)');
    assert.equal(connectTimeoutReason(REASON, undefined), REASON);
  });

  it('through the PostgreSQL store: a silent server is "host down or firewalled?", a blocked event loop is overload', async () => {
    const port = await stallingPort();
    const store = await openStore(`postgres://app:hunter2@127.0.0.1:${port}/test?connect_timeout_ms=300`);
    try {
      await assert.rejects(store.transaction(async () => undefined), (error: unknown) => {
        assert.ok(isUnavailable(error), String(error));
        assert.match(error.message, new RegExp(`timed out connecting to 127\\.0\\.0\\.1:${port} after 300 ms \\(host down or firewalled\\?\\)`));
        return true;
      });
      const pending = store.transaction(async () => undefined);
      busy(700); // the connect's timer comes due while this process is busy
      await assert.rejects(pending, (error: unknown) => {
        assert.ok(isUnavailable(error), String(error));
        assert.match(error.message, new RegExp(`timed out connecting to 127\\.0\\.0\\.1:${port} after 300 ms while this process was busy \\d+% of the time: local overload`));
        assert.doesNotMatch(error.message, /firewalled|hunter2/);
        return true;
      });
    } finally {
      await store.close();
    }
  });
});
