/**
 * Issue 13, target 5: "A cold start costs at most one round trip for the schema check."
 *
 * record-upload runs in a process of its own (test/helpers/invoke-child.ts) against PostgreSQL
 * through a loopback TCP proxy that reads the wire protocol in both directions. For every connection
 * it counts the round trips (each time the client writes after the server has answered), separately
 * for the connection's startup (up to the server's first ReadyForQuery) and after it, and the
 * queries the client sends (simple `Query` messages and extended-protocol `Sync`s: one answer each).
 *
 * The first callback of a cold process (on a database that is already migrated) must cost exactly
 * the startup of one connection, plus one round trip and one query for the schema check, plus what
 * the same callback costs once the process is warm (measured after it, on the same process, with
 * the row removed so that it inserts again).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { DEV_KEYS_FILE } from '../helpers/callbacks.js';
import { createTestDatabase, POSTGRES, rawQuery, requireServer } from '../helpers/stores.js';

const root = join(import.meta.dirname, '..', '..');
const EVENT = join(root, 'functions', 'record-upload', 'events', 'form.json');

interface Wire {
  /** Round trips up to the server's first ReadyForQuery (connection startup and authentication). */
  startupTrips: number;
  /** Round trips after it. */
  trips: number;
  /** Simple Query messages and extended-protocol Syncs sent after startup. */
  queries: number;
  /** What the client sent, message type by message type (e.g. "Q", "PBDES"), after startup. */
  messages: string;
}

/** Splits a PostgreSQL protocol stream into message types; `untyped` for the client's first message (StartupMessage). */
class Framer {
  private pending = Buffer.alloc(0);
  constructor(private untyped: boolean) {}
  push(data: Buffer): string[] {
    this.pending = Buffer.concat([this.pending, data]);
    const types: string[] = [];
    for (;;) {
      if (this.untyped) {
        if (this.pending.length < 4) break;
        const length = this.pending.readUInt32BE(0);
        if (this.pending.length < length) break;
        this.pending = this.pending.subarray(length);
        this.untyped = false;
        types.push('startup');
        continue;
      }
      if (this.pending.length < 5) break;
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 1 + length) break;
      types.push(String.fromCharCode(this.pending[0]!));
      this.pending = this.pending.subarray(1 + length);
    }
    return types;
  }
}

/** A proxy to PostgreSQL that counts, per connection, what `Wire` describes. */
async function countingProxy(url: string): Promise<{ url: string; wires: Wire[]; close(): void }> {
  const target = new URL(url);
  const wires: Wire[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(client).add(upstream);
    const wire: Wire = { startupTrips: 0, trips: 0, queries: 0, messages: '' };
    wires.push(wire);
    const fromClient = new Framer(true);
    const fromServer = new Framer(false);
    let ready = false;
    let answered = true; // the client's first write is a round trip
    client.on('data', (data: Buffer) => {
      if (answered) {
        if (ready) wire.trips++;
        else wire.startupTrips++;
        answered = false;
      }
      for (const type of fromClient.push(data)) {
        if (!ready || type === 'startup') continue;
        wire.messages += type;
        if (type === 'Q' || type === 'S') wire.queries++;
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      answered = true;
      if (fromServer.push(data).includes('Z')) ready = true;
      client.write(data);
    });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('end', () => b.end());
      a.on('error', () => b.destroy());
      a.on('close', () => sockets.delete(a));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    wires,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** record-upload in a fresh process; `invoke()` runs one callback and resolves with the reply line. */
async function coldProcess(databaseUrl: string): Promise<{ invoke(): Promise<string>; stop(): Promise<void> }> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'helpers', 'invoke-child.ts'), 'record-upload', EVENT], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      OSS_ALLOWED_BUCKETS: 'examplebucket',
      OSS_PUBLIC_KEYS_FILE: DEV_KEYS_FILE,
      OSS_CALLBACK_LOG: 'off',
      OSS_VERIFY_OBJECTS: 'off',
      CALLBACK_OWNER_FROM: 'x:owner',
      NODE_ENV: 'production',
    },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the function's process ended: ${stderr.slice(0, 2000)}`);
    return line.value;
  };
  assert.equal(await next(), 'READY');
  return {
    invoke: async () => {
      child.stdin.write('invoke\n');
      return next();
    },
    stop: async () => {
      child.stdin.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

const snapshot = (wires: Wire[]): Wire[] => wires.map((w) => ({ ...w }));

describe('cold start on PostgreSQL: round trips', () => {
  it('the first callback of a cold process costs one connection startup, one round trip and one query for the schema check, and nothing else', async (t) => {
    if (!(await requireServer(t, POSTGRES))) return;
    const db = await createTestDatabase(POSTGRES.url);
    t.after(() => db.drop());
    // The schema as a deployed function finds it: migrated by an earlier instance.
    const first = await coldProcess(db.url);
    assert.match(await first.invoke(), /^REPLY 200 /);
    await first.stop();
    await rawQuery(db.url, 'DELETE FROM oss_uploads');
    await rawQuery(db.url, 'DELETE FROM oss_uploads_object_keys');

    const proxy = await countingProxy(db.url);
    t.after(() => proxy.close());
    const fn = await coldProcess(proxy.url);
    assert.equal(proxy.wires.length, 0, 'loading the function opens no connection');
    assert.match(await fn.invoke(), /^REPLY 200 \{"id":"[^"]+","duplicate":false\}/);
    const cold = snapshot(proxy.wires);

    // The same callback once warm: the row removed, so that it inserts again.
    await rawQuery(db.url, 'DELETE FROM oss_uploads');
    await rawQuery(db.url, 'DELETE FROM oss_uploads_object_keys');
    assert.match(await fn.invoke(), /^REPLY 200 \{"id":"[^"]+","duplicate":false\}/);
    const warm = snapshot(proxy.wires);
    await fn.stop();

    assert.equal(cold.length, 1, `a cold start opens one connection: ${JSON.stringify(cold)}`);
    assert.equal(warm.length, 1, `the warm callback reuses it: ${JSON.stringify(warm)}`);
    const [c] = cold as [Wire];
    const [w] = warm as [Wire];
    const warmTrips = w.trips - c.trips;
    const warmQueries = w.queries - c.queries;
    assert.ok(warmTrips >= 1 && warmQueries >= 1, JSON.stringify({ cold, warm }));
    assert.equal(c.startupTrips, 1, `connection startup (trust authentication): ${JSON.stringify(c)}`);
    assert.equal(c.trips, warmTrips + 1, `the cold callback's round trips after startup: the warm callback's (${warmTrips}) + 1 schema check; sent ${c.messages}, warm ${w.messages.slice(c.messages.length)}`);
    assert.equal(c.queries, warmQueries + 1, `the cold callback's queries: the warm callback's (${warmQueries}) + 1 schema check; sent ${c.messages}`);
    t.diagnostic(`cold: startup ${c.startupTrips} round trip, then ${c.trips} round trips, ${c.queries} queries (${c.messages}); warm: ${warmTrips} round trips, ${warmQueries} queries (${w.messages.slice(c.messages.length)})`);
  });
});
