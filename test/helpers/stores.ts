/**
 * Test servers for the store backends. PostgreSQL and MySQL/MariaDB tests run whenever the server is
 * reachable; when it is not, they are skipped with a message, except in CI (`CI=true`), where they fail.
 *
 *   TEST_POSTGRES_URL  default postgres://postgres@127.0.0.1:5432/test
 *   TEST_MYSQL_URL     default mysql://root@127.0.0.1:3306/test
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';

export interface TestServer {
  name: string;
  url: string;
  env: string;
}

export const POSTGRES: TestServer = { name: 'PostgreSQL', url: POSTGRES_URL, env: 'TEST_POSTGRES_URL' };
export const MYSQL: TestServer = { name: 'MySQL', url: MYSQL_URL, env: 'TEST_MYSQL_URL' };

/** Whether a TCP connection to the URL's host and port opens within `timeoutMs`. */
export function reachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const defaultPort = url.startsWith('mysql') ? 3306 : 5432;
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname || 'localhost', port: Number(port || defaultPort) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * True when the server is reachable. Otherwise fails the test in CI, or skips it with a message
 * saying how to run it, and returns false.
 */
export async function requireServer(t: TestContext, server: TestServer): Promise<boolean> {
  if (await reachable(server.url)) return true;
  const { host } = new URL(server.url);
  const message = `${server.name} not reachable at ${host}: start it or set ${server.env}`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: these tests must run)`);
  t.skip(message);
  return false;
}

/** A short random suffix for table names, so that concurrent and repeated runs never collide. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** A `sqlite:` URL of a fresh database file in a temporary folder, and a function that removes it. */
export function tempSqlite(): { url: string; folder: string; remove(): void } {
  const folder = mkdtempSync(join(tmpdir(), 'store-test-'));
  return { url: `sqlite:${join(folder, 'test.db')}`, folder, remove: () => rmSync(folder, { recursive: true, force: true }) };
}

/** `url` with extra query parameters. */
export function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [key, value] of Object.entries(params)) u.searchParams.set(key, value);
  return u.toString();
}

/** Runs SQL directly on a PostgreSQL or MySQL server (test setup and cleanup only). */
export async function rawQuery(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (url.startsWith('mysql')) {
    const { default: mysql } = await import('mysql2/promise');
    const connection = await mysql.createConnection({ uri: url.replace(/\?.*$/, '') });
    try {
      const [rows] = await connection.query(sql, params);
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    } finally {
      await connection.end();
    }
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Drops the test's tables and forgets their migrations. */
export async function dropTables(url: string, tables: readonly string[]): Promise<void> {
  const quote = url.startsWith('mysql') ? (name: string) => `\`${name}\`` : (name: string) => `"${name}"`;
  for (const table of tables) {
    await rawQuery(url, `DROP TABLE IF EXISTS ${quote(table)}`);
    const like = `${table.replace(/_/g, '\\_')}@%`;
    await rawQuery(url, `DELETE FROM oss_callback_migrations WHERE name LIKE ${url.startsWith('mysql') ? '?' : '$1'}`, [like]).catch(() => {});
  }
}

const KILL_SCRIPT = `
const [url, target] = process.argv.slice(1);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
(async () => {
  if (url.startsWith('mysql')) {
    const mysql = require('mysql2/promise');
    const connection = await mysql.createConnection({ uri: url.replace(/\\?.*$/, '') });
    for (const id of target.split(',')) await connection.query('KILL ?', [Number(id)]);
    await connection.end();
  } else {
    const { Client } = require('pg');
    const client = new Client({ connectionString: url });
    await client.connect();
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [target]);
    await client.end();
  }
  await sleep(200); // let the server close the sockets
})().catch((error) => { console.error(error); process.exit(1); });
`;

/**
 * Kills server connections from another process while this one's event loop is blocked, like a
 * Function Compute instance frozen while its connections die: the pool cannot notice before its next
 * use. Targets: PostgreSQL connections with the given application_name, or MySQL connection ids.
 */
export function killConnectionsWhileFrozen(url: string, target: string | number[]): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(process.execPath, ['-e', KILL_SCRIPT, url, Array.isArray(target) ? target.join(',') : target], { cwd: root, stdio: 'inherit', timeout: 10_000 });
}

/** The current MySQL connection id: connections opened after this call have larger ids. */
export async function mysqlConnectionId(url: string): Promise<number> {
  const [row] = await rawQuery(url, 'SELECT CONNECTION_ID() AS id');
  return Number(row?.id);
}

/** Ids of idle MySQL connections to the URL's database opened after connection `after` (and before this call). */
export async function mysqlIdleConnectionsSince(url: string, after: number): Promise<number[]> {
  const rows = await rawQuery(
    url,
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID > ? AND ID < CONNECTION_ID() AND DB = DATABASE() AND COMMAND = 'Sleep'",
    [after],
  );
  return rows.map((row) => Number(row.id));
}

/** What `startProxy` returns: a TCP proxy to a test server whose faults the test controls. */
export interface Proxy {
  /** The server URL with the proxy's port. */
  readonly url: string;
  readonly port: number;
  /** Connections open through the proxy now. */
  readonly connections: number;
  /**
   * The connections open so far drop everything, in both directions, without closing, for good: like
   * a NAT entry that expired while the instance was frozen. New connections work normally.
   */
  silenceExisting(): void;
  /** Stops listening and closes every connection: connections are refused until `reopen()`. */
  close(): void;
  /** Listens again on the same port (the store came back). */
  reopen(): Promise<void>;
  /**
   * The store stalls: every connection, open or new, holds all data in both directions (new ones are
   * accepted, then nothing) until `resume()`. Held data models bytes not yet delivered: when a side
   * closes meanwhile, a normal close (FIN) still delivers them on `resume()`, a reset (RST) loses them.
   */
  hang(): void;
  /** Ends a hang or a tripped hold: held data is delivered in order, and forwarding goes on. */
  resume(): void;
  /**
   * Arms a fault on the first client→server chunk that contains `marker` (e.g. "COMMIT"): `hold` keeps
   * that chunk and everything after it on that connection until `resume()`; `silence` drops them for
   * good; `reset` resets both sides without forwarding the chunk; `mute` forwards the chunk, then drops
   * everything after it in both directions (the write arrives, its answer is lost). Resolves when the
   * fault fires.
   */
  trip(marker: string, fault: 'hold' | 'silence' | 'reset' | 'mute'): Promise<void>;
  /** Chunks received from clients so far, whatever became of them (each write of a client usually arrives as one). */
  readonly chunks: number;
}

type LinkMode = 'forward' | 'hold' | 'silent';
interface Link {
  client: Socket;
  upstream: Socket;
  mode: LinkMode;
  /** Data (or, as null, the end of a side) held for the socket it goes to. */
  held: [Socket, Buffer | null][];
}

/** A TCP proxy on 127.0.0.1 to the URL's server (see `Proxy`). */
export async function startProxy(url: string): Promise<Proxy> {
  const target = new URL(url);
  const targetPort = Number(target.port || (url.startsWith('mysql') ? 3306 : 5432));
  const links = new Set<Link>();
  let hanging = false;
  let tripwire: { marker: Buffer; fault: 'hold' | 'silence' | 'reset' | 'mute'; fired(): void } | undefined;
  let chunks = 0;

  /** Forwards data, or a side's end (null), according to the link's mode. */
  const deliver = (link: Link, to: Socket, data: Buffer | null): void => {
    if (link.mode === 'hold') link.held.push([to, data]);
    else if (link.mode === 'forward' && !to.destroyed) data === null ? to.end() : to.write(data);
  };
  const forget = (link: Link): void => {
    link.client.destroy();
    link.upstream.destroy();
    links.delete(link);
  };
  const onConnection = (client: Socket): void => {
    const upstream = createConnection({ host: target.hostname || '127.0.0.1', port: targetPort });
    const link: Link = { client, upstream, mode: hanging ? 'hold' : 'forward', held: [] };
    links.add(link);
    client.on('data', (data: Buffer) => {
      chunks += 1;
      if (tripwire && link.mode === 'forward' && data.includes(tripwire.marker)) {
        const { fault, fired } = tripwire;
        tripwire = undefined;
        fired();
        if (fault === 'reset') {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
          return;
        }
        if (fault === 'mute') {
          deliver(link, upstream, data);
          link.mode = 'silent';
          return;
        }
        link.mode = fault === 'hold' ? 'hold' : 'silent';
      }
      deliver(link, upstream, data);
    });
    upstream.on('data', (data: Buffer) => deliver(link, client, data));
    // Like TCP: a side that closes normally (FIN) still gets what it sent before delivered, then its
    // end; a side that resets (RST) loses what was still on the way, and the other side is reset.
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('end', () => deliver(link, b, null));
      a.on('error', () => forget(link));
      a.on('close', () => {
        if (link.mode !== 'hold') forget(link);
      });
    }
  };

  const listen = async (port: number): Promise<Server> => {
    const server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return server;
  };
  let server: Server | undefined = await listen(0);
  const port = (server.address() as AddressInfo).port;
  const proxied = new URL(url);
  proxied.port = String(port);

  return {
    url: proxied.toString(),
    port,
    get connections() {
      return links.size;
    },
    get chunks() {
      return chunks;
    },
    silenceExisting: () => links.forEach((link) => (link.mode = 'silent')),
    close: () => {
      links.forEach(forget);
      server?.close();
      server = undefined;
    },
    reopen: async () => {
      server ??= await listen(port);
    },
    hang: () => {
      hanging = true;
      links.forEach((link) => link.mode === 'forward' && (link.mode = 'hold'));
    },
    resume: () => {
      hanging = false;
      for (const link of links) {
        if (link.mode !== 'hold') continue;
        link.mode = 'forward';
        for (const [to, data] of link.held.splice(0)) deliver(link, to, data);
        if (link.client.destroyed || link.upstream.destroyed) forget(link);
      }
    },
    trip: (marker, fault) => new Promise<void>((fired) => (tripwire = { marker: Buffer.from(marker), fault, fired })),
  };
}

/** A database of its own on a PostgreSQL or MySQL test server, for tests that need empty tables. */
export interface TestDatabase {
  /** `url` with the new database in place of the test database. */
  url: string;
  name: string;
  /** Drops the database (closing whatever is still connected to it). */
  drop(): Promise<void>;
}

export async function createTestDatabase(url: string, name = `oss_cb_${uniqueSuffix()}`): Promise<TestDatabase> {
  const mysql = url.startsWith('mysql');
  await rawQuery(url, mysql ? `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4` : `CREATE DATABASE "${name}"`);
  const database = new URL(url);
  database.pathname = `/${name}`;
  return {
    url: database.toString(),
    name,
    drop: async () => {
      if (mysql) {
        await rawQuery(url, `DROP DATABASE IF EXISTS \`${name}\``);
        return;
      }
      await rawQuery(url, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await rawQuery(url, `DROP DATABASE IF EXISTS "${name}"`);
    },
  };
}
