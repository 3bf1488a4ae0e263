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
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
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

/**
 * A TCP proxy to the URL's server. `silenceExisting()` makes the connections open so far drop
 * everything, in both directions, without closing: like a NAT entry that expired while the instance
 * was frozen. New connections work normally.
 */
export async function startProxy(url: string): Promise<{ url: string; silenceExisting(): void; close(): void }> {
  const target = new URL(url);
  const links = new Set<{ client: Socket; upstream: Socket; silent: boolean }>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    const link = { client, upstream, silent: false };
    links.add(link);
    client.on('data', (data) => link.silent || upstream.write(data));
    upstream.on('data', (data) => link.silent || client.write(data));
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => {});
      a.on('close', () => {
        b.destroy();
        links.delete(link);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.toString(),
    silenceExisting: () => links.forEach((link) => (link.silent = true)),
    close: () => {
      links.forEach((link) => link.client.destroy());
      server.close();
    },
  };
}
