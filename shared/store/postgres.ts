/**
 * PostgreSQL through `pg`. URL: `postgres://user:password@host:5432/database` (or `postgresql://`).
 *
 * Settings: URL parameter, else environment variable, else default (see pooled.ts):
 * - `pool_max` / `DATABASE_POOL_MAX` (2): connections per instance.
 * - `connect_timeout_ms` / `DATABASE_CONNECT_TIMEOUT_MS` (2000): TCP + TLS + authentication; also
 *   how long a pooled connection gets to answer BEGIN before it is considered dead.
 * - `query_timeout_ms` / `DATABASE_QUERY_TIMEOUT_MS` (5000): per statement, client-side (the connection
 *   is then destroyed) and, in transactions, server-side (`statement_timeout`).
 *   `idle_in_transaction_session_timeout` is twice that, so a transaction left open by a frozen or
 *   crashed instance releases its locks. Both are `SET LOCAL` in the BEGIN (one round trip), not
 *   startup parameters: connection poolers (PgBouncer, which the RDS connection pool is built on)
 *   refuse connections that carry them ("unsupported startup parameter").
 * - `idle_timeout_ms` / `DATABASE_IDLE_TIMEOUT_MS` (30000): close connections idle this long.
 * - `keepalive_ms` / `DATABASE_KEEPALIVE_MS` (10000): TCP keepalive initial delay; 0 turns it off.
 * - `guard_margin_ms` / `DATABASE_GUARD_MARGIN_MS` (200): the one-round-trip `insertOnce` (below);
 *   0 turns it off.
 * Other URL parameters go to `pg` unchanged (`sslmode`, `application_name` (default `oss-callback`)...).
 *
 * `store.insertOnce` with a deadline commits in one round trip on a connection that read the server's
 * clock within the last 5 s: BEGIN (with SET LOCAL statement_timeout), the INSERT … ON CONFLICT DO
 * NOTHING RETURNING, and COMMIT as one simple-protocol message, the values inlined as literals
 * (`literal`). The INSERT's RETURNING carries the deadline guard (GUARD below): when the server's
 * clock has passed the caller's deadline, translated into server time with a lower bound of the
 * connection's clock offset, less `guard_margin_ms`, it raises an error; PostgreSQL then aborts the
 * transaction and skips the rest of the message, COMMIT included (the store sends ROLLBACK), so a
 * write held up in the network, or an INSERT that waited for a row lock past the deadline, commits
 * nothing. The reasoning, and the one assumption it makes about the server's clock
 * (it does not step back by more than the margin between two statements on a connection), are in
 * pooled.ts (`PooledStore.insertOnce`). Other connections, and calls without a deadline, take two
 * round trips (BEGIN with the INSERT, then COMMIT once they answered), which also read the clock.
 */
import type { PoolClient } from 'pg';
import { errorCode, networkReason, resetSocket, storeLabel } from './errors.js';
import { PooledStore, serverSettings, type Driver, type ErrorKind } from './pooled.js';
import { postgresDialect, type Query } from './sql.js';
import type { Store } from './types.js';

/** Marks the guard's error (see GUARD). */
const GUARD_MARK = 'oss-callback deadline guard';

/** An arbitrary constant: the advisory lock that serializes migrations. */
const MIGRATION_LOCK = '7283620312064517';

const KINDS: Record<string, ErrorKind> = {
  '23505': 'unique',
  '40001': 'retry', // serialization_failure
  '40P01': 'retry', // deadlock_detected
  '42P01': 'missing-table',
  '57P01': 'dead', // admin_shutdown (pg_terminate_backend, server stopping)
  '57P02': 'dead', // crash_shutdown
  '08000': 'dead',
  '08003': 'dead',
  '08006': 'dead',
  ECONNRESET: 'dead',
  EPIPE: 'dead',
};

const REASONS: Record<string, string> = {
  '53300': 'too many connections (max_connections reached: lower pool_max or the instance count)',
  '53100': 'the server disk is full',
  '53200': 'the server is out of memory',
  '25006': 'the server is read-only (connected to a standby?)',
  '57P01': 'the connection was terminated by the server (administrator command or shutdown)',
  '57P03': 'the server is starting up or shutting down',
};

/**
 * The server's clock, epoch milliseconds; NaN (no sample, so never the one-message path, whose values
 * are literals) unless the session's client_encoding is UTF8. pg's startup message always asks for
 * UTF8, and that wins over `options=-c client_encoding=…` and role defaults (tested); this keeps the
 * literals' safety from resting on that alone: in a client encoding such as GBK or SJIS, a byte of a
 * multi-byte character can be read as a backslash.
 */
const CLOCK = "SELECT CASE WHEN current_setting('client_encoding') = 'UTF8' THEN (extract(epoch FROM clock_timestamp()) * 1000)::float8 ELSE 'NaN'::float8 END AS now";

/**
 * GUARD: the deadline guard of the one-round-trip `insertOnce` (see pooled.ts), added to the INSERT's
 * RETURNING: the server's clock (epoch ms) when it reads at most `limit`, else an error (a text that
 * is not a number, cast to one: 22P02), which aborts the transaction before COMMIT. The error's
 * expression depends on clock_timestamp() (volatile): it is evaluated only when reached, never folded
 * at plan time; OFFSET 0 keeps the clock read once.
 */
const guardExpression = (limit: number): string =>
  `(SELECT CASE WHEN t.now <= ${limit}::float8 THEN t.now ELSE ('${GUARD_MARK}: the server clock passed the limit by ' || round((t.now - ${limit}::float8)::numeric, 1) || ' ms')::float8 END FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now OFFSET 0) AS t)`;

/**
 * One encoded value as a literal of unknown type (PostgreSQL gives it the column's type), or
 * undefined when it cannot be written as one (the caller then binds it as a parameter). Strings are
 * E'' literals with both the quote and the backslash doubled, which read the same whatever
 * standard_conforming_strings says; pg connects with client_encoding UTF8, where no byte of a
 * multi-byte character can be taken for a quote or a backslash. A NUL cannot be in a text value.
 */
function literal(value: unknown): string | undefined {
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') return Number.isFinite(value) ? `'${value}'` : undefined;
  if (typeof value !== 'string' || value.includes('\0')) return undefined;
  return value.includes("'") || value.includes('\\') ? `E'${value.replace(/[\\']/g, (c) => c + c)}'` : `E'${value}'`;
}

/** The statement with its `$n` placeholders replaced by literals; undefined if a value cannot be one. */
function inline(statement: Query): string | undefined {
  const { texts, order } = placeholders(statement.sql);
  const { params } = statement;
  let sql = texts[0]!;
  for (let i = 0; i < order.length; i++) {
    const text = literal(params[order[i]!]);
    if (text === undefined) return undefined;
    sql += text + texts[i + 1]!;
  }
  return sql;
}

/** A statement's text split at its `$n` placeholders (0-based parameter indexes), once per text. */
const splits = new Map<string, { texts: string[]; order: number[] }>();
function placeholders(sql: string): { texts: string[]; order: number[] } {
  let split = splits.get(sql);
  if (split === undefined) {
    // Placeholders are the only `$` in the text: identifiers come from validated table definitions.
    const parts = sql.split(/\$(\d+)/);
    split = { texts: parts.filter((_, i) => i % 2 === 0), order: parts.filter((_, i) => i % 2 === 1).map((n) => Number(n) - 1) };
    if (splits.size < 256) splits.set(sql, split); // statement texts are built once per table
  }
  return split;
}

/** The RETURNING column of the guard's clock reading. */
const NOW_COLUMN = 'oss_callback_now';

/** The client's socket (pg keeps it on its connection): corked around a write, reset on destroy. */
const streamOf = (client: PoolClient): { cork?(): void; uncork?(): void } | undefined =>
  (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;

const rolledBack = (): Error =>
  new Error('the transaction was rolled back: a statement in it failed (PostgreSQL aborts the whole transaction on an error)');

export async function openPostgres(url: string): Promise<Store> {
  const parsed = new URL(url);
  const settings = serverSettings(parsed);
  const host = parsed.hostname || 'localhost';
  const port = Number(parsed.port || 5432);
  const user = decodeURIComponent(parsed.username);
  const database = decodeURIComponent(parsed.pathname.slice(1)) || user;
  const password = decodeURIComponent(parsed.password);
  if (!parsed.searchParams.has('application_name')) parsed.searchParams.set('application_name', 'oss-callback');

  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    // Queries are written as soon as they are issued (BEGIN with the statement of `insertOnce`, see
    // pooled.ts); otherwise the store awaits each statement of a transaction before sending the next.
    pipeline: true,
    connectionString: parsed.toString(),
    max: settings.poolMax,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    idleTimeoutMillis: settings.idleTimeoutMs,
    keepAlive: settings.keepAliveMs > 0,
    keepAliveInitialDelayMillis: settings.keepAliveMs,
    allowExitOnIdle: true,
  });
  pool.on('error', () => {}); // an idle connection died (server restart, killed): the pool drops it
  // One simple-protocol query: the transaction and its server-side timeouts, valid until it ends.
  const begin = [
    'BEGIN ISOLATION LEVEL READ COMMITTED',
    `SET LOCAL statement_timeout = ${Math.trunc(settings.queryTimeoutMs)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${Math.trunc(settings.queryTimeoutMs * 2)}`,
  ].join('; ');
  // The one-round-trip commit's transaction lives inside one message (read whole before it runs): it
  // never waits for the client, so it needs no idle_in_transaction_session_timeout.
  const beginOnce = ['BEGIN ISOLATION LEVEL READ COMMITTED', `SET LOCAL statement_timeout = ${Math.trunc(settings.queryTimeoutMs)}`].join('; ');
  const watched = new WeakSet<PoolClient>();

  const classify = (error: unknown): ErrorKind => {
    if (errorCode(error) === '22P02' && ((error as Error).message ?? '').includes(GUARD_MARK)) return 'deadline';
    const kind = KINDS[String(errorCode(error))];
    if (kind) return kind;
    const code = String(errorCode(error));
    const message = (error as Error)?.message ?? '';
    if (/^(28|3D|53|57|08)/.test(code) || code === '25006' || networkReason(error, host, port, 0)) return 'unavailable';
    if (/connection timeout|trying to connect|pool after calling end/.test(message)) return 'unavailable';
    if (/Connection terminated|not queryable|connection error/i.test(message)) return 'dead';
    return undefined;
  };

  const driver: Driver<PoolClient> = {
    kind: 'postgres',
    dialect: postgresDialect,
    label: storeLabel(url),
    password,
    settings,
    async acquire() {
      const client = await pool.connect();
      if (!watched.has(client)) {
        watched.add(client);
        client.on('error', () => {}); // died while checked out: the next statement fails and says so
      }
      return client;
    },
    async begin(client) {
      await client.query(begin);
    },
    async run(client, query) {
      const result = await client.query({ text: query.sql, values: query.params as unknown[] });
      // COMMIT of a transaction in which a statement failed (the job caught the error) rolls back.
      if (query.sql === 'COMMIT' && result.command === 'ROLLBACK') throw rolledBack();
      return { rows: result.rows, count: result.rowCount ?? 0 };
    },
    async runWithClock(client, query) {
      // One simple-protocol message, two statements: one round trip, and one query for the server.
      const results = (await client.query(`${query.sql}; ${CLOCK}`)) as unknown as { rows: Record<string, unknown>[]; rowCount: number | null }[];
      const [result, clock] = results as [(typeof results)[0], (typeof results)[0]];
      return { result: { rows: result.rows, count: result.rowCount ?? 0 }, serverNow: Number(clock.rows[0]?.now) };
    },
    pipeline: {
      send(client, statement, sample) {
        // The pool's clients run in pg's pipeline mode: all are sent at once. pg writes each query
        // on its own; with the socket corked around them they leave in one write (one system call).
        const stream = streamOf(client);
        stream?.cork?.();
        try {
          const begun = client.query(begin);
          const serverNow = sample ? client.query(CLOCK).then((result) => Number(result.rows[0]?.now)) : undefined;
          serverNow?.catch(() => {});
          const done = client.query({ text: statement.sql, values: statement.params as unknown[] }).then((result) => ({ rows: result.rows, count: result.rowCount ?? 0 }));
          return { begun, done, serverNow };
        } finally {
          stream?.uncork?.();
        }
      },
      commit(client, statement, limit) {
        // BEGIN, the INSERT (its values inlined as literals, see `literal`) with the guard on its
        // RETURNING, and COMMIT are ONE simple-protocol message: the server reads a message whole
        // before it runs any of it, so COMMIT runs right after the guard, never after a wait for the
        // rest of the write (separate messages could be split by the network between the guard and
        // COMMIT, and COMMIT delivered after the deadline). The guard is evaluated when the inserted
        // row is returned, so after any wait for a row lock; a duplicate returns no row, inserts
        // nothing, and needs no guard. The answer to the whole message is the liveness check.
        const insert = inline(statement);
        if (insert === undefined) return undefined;
        const text = `${beginOnce}; ${insert}, ${guardExpression(limit)} AS ${NOW_COLUMN}; COMMIT`;
        const committing = client.query(text) as unknown as Promise<{ command: string; rows: Record<string, unknown>[]; rowCount: number | null }[]>;
        // The server's own error (one that closes the connection: killed while the instance was
        // frozen) tells that COMMIT did not answer; the store may try another connection (insertOnce
        // is idempotent by its key). Other failures come through `done`.
        const begun = committing.then(
          () => undefined,
          (error: unknown) => {
            if ((error as { severity?: unknown })?.severity === 'FATAL') throw error;
          },
        );
        // When a statement fails, the server skips the rest of the message (COMMIT included) and the
        // transaction stays open, aborted: the store then sends ROLLBACK.
        const done = committing.then((results) => {
          const inserted = results[results.length - 2]!;
          if (results[results.length - 1]?.command !== 'COMMIT') throw rolledBack();
          const rows = inserted.rows;
          const serverNow = Number(rows[0]?.[NOW_COLUMN]);
          if (rows[0] !== undefined) delete rows[0][NOW_COLUMN];
          return { result: { rows, count: inserted.rowCount ?? 0 }, serverNow };
        });
        return { begun, done };
      },
    },
    release: (client) => client.release(),
    destroy(client) {
      resetSocket(streamOf(client));
      client.release(true);
    },
    async withMigrationLock(run, fn) {
      await run({ sql: 'BEGIN', params: [] });
      try {
        await run({ sql: 'SET LOCAL statement_timeout = 0', params: [] }); // DDL may be slow; the client-side timeout stays
        await run({ sql: 'SELECT pg_advisory_xact_lock($1)', params: [MIGRATION_LOCK] });
        await fn();
        await run({ sql: 'COMMIT', params: [] });
      } catch (error) {
        await run({ sql: 'ROLLBACK', params: [] }).catch(() => {});
        throw error;
      }
    },
    classify,
    describe(error) {
      const code = String(errorCode(error));
      const message = (error as Error)?.message ?? String(error);
      if (/connection timeout|trying to connect/.test(message)) return `timed out connecting to ${host}:${port} after ${settings.connectTimeoutMs} ms (host down or firewalled?)`;
      const reason =
        networkReason(error, host, port, settings.connectTimeoutMs) ??
        (code === '28P01' || code === '28000' ? `authentication failed for user "${user}"` : undefined) ??
        (code === '3D000' ? `database "${database}" does not exist` : undefined) ??
        (code === '57014' ? `statement timed out (statement_timeout ${settings.queryTimeoutMs} ms)` : undefined) ??
        REASONS[code] ??
        (/pool after calling end/.test(message) ? 'the store was closed' : undefined) ??
        (classify(error) === 'dead' ? `the connection to ${host}:${port} was lost` : undefined);
      return reason === undefined || reason === message ? message : `${reason}; ${message}`;
    },
    end: () => pool.end(),
  };
  return new PooledStore(driver);
}
