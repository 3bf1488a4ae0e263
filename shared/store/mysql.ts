/**
 * MySQL / MariaDB through `mysql2/promise`. URL: `mysql://user:password@host:3306/database`.
 *
 * Settings: URL parameter, else environment variable, else default (see pooled.ts):
 * - `pool_max` / `DATABASE_POOL_MAX` (2): connections per instance.
 * - `connect_timeout_ms` / `DATABASE_CONNECT_TIMEOUT_MS` (2000): TCP + handshake; also how long a
 *   pooled connection gets to answer BEGIN before it is considered dead.
 * - `query_timeout_ms` / `DATABASE_QUERY_TIMEOUT_MS` (5000): per statement, client-side (the connection
 *   is then destroyed, which makes the server roll back); `innodb_lock_wait_timeout` is set to it too.
 * - `idle_timeout_ms` / `DATABASE_IDLE_TIMEOUT_MS` (30000): close connections idle this long.
 * - `keepalive_ms` / `DATABASE_KEEPALIVE_MS` (10000): TCP keepalive initial delay; 0 turns it off.
 * - `ssl=true`: TLS, verifying the server certificate.
 *
 * Sessions run READ COMMITTED. Statements are server-side prepared (`execute`): values never pass
 * through client-side escaping. The connection flag FOUND_ROWS is off, so that `INSERT ... ON DUPLICATE
 * KEY UPDATE` tells inserted (1) from existing (0); UPDATE's matched-row count is read from its info
 * message ("Rows matched: N ..."; N comes first in every server language).
 *
 * After its setup a session runs with autocommit off: `store.insertOnce` sends the INSERT alone,
 * which starts the transaction, then COMMIT once it answered (two round trips; mysql2 cannot send a
 * statement before the previous one answered, so START TRANSACTION would be a third). A statement
 * that never reaches the server, or whose COMMIT is never sent, commits nothing. The INSERT is also
 * the check that a pooled connection is alive, so it gets `connect_timeout_ms` to answer: one that
 * waits longer for a row lock (another transaction holds the same key and is stuck) is taken for a
 * silent connection, which is replaced, and the INSERT is tried on another one; nothing commits.
 */
import type { ExecuteValues, PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { errorCode, networkReason, resetSocket, storeLabel, unavailable } from './errors.js';
import { PooledStore, serverSettings, type Driver, type ErrorKind } from './pooled.js';
import { mysqlDialect, type Query, type Result } from './sql.js';
import type { Store } from './types.js';

const KINDS: Record<number, ErrorKind> = {
  1062: 'unique', // ER_DUP_ENTRY
  1586: 'unique', // ER_DUP_ENTRY_WITH_KEY_NAME
  1213: 'retry', // ER_LOCK_DEADLOCK
  1205: 'retry', // ER_LOCK_WAIT_TIMEOUT
  1146: 'missing-table', // ER_NO_SUCH_TABLE
  1053: 'dead', // ER_SERVER_SHUTDOWN
  1927: 'dead', // MariaDB ER_CONNECTION_KILLED
  4031: 'dead', // MySQL: disconnected by the server after wait_timeout
};

/** DDL errors that mean "already done" (the DDL of an interrupted migration is repeated). */
const ALREADY_EXISTS = new Set([1050, 1060, 1061]); // table, column, index

export async function openMysql(url: string): Promise<Store> {
  const parsed = new URL(url);
  const settings = serverSettings(parsed);
  const ssl = parsed.searchParams.get('ssl');
  parsed.searchParams.delete('ssl');
  const unknown = [...parsed.searchParams.keys()];
  if (unknown.length > 0) throw new Error(`mysql: unknown URL parameter(s) ${unknown.join(', ')}`);
  const host = parsed.hostname || 'localhost';
  const port = Number(parsed.port || 3306);
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const database = decodeURIComponent(parsed.pathname.slice(1));
  const label = storeLabel(url);

  const { default: mysql } = await import('mysql2/promise');
  const pool = mysql.createPool({
    host,
    port,
    user,
    password,
    database,
    ssl: ssl === 'true' || ssl === '1' ? {} : undefined,
    connectionLimit: settings.poolMax,
    maxIdle: settings.poolMax,
    idleTimeout: settings.idleTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    enableKeepAlive: settings.keepAliveMs > 0,
    keepAliveInitialDelay: settings.keepAliveMs,
    waitForConnections: true,
    flags: ['-FOUND_ROWS'],
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    dateStrings: true,
    supportBigNumbers: true,
    jsonStrings: true,
    maxPreparedStatements: 64, // per connection: keeps the server's max_prepared_stmt_count safe with many instances
    // No stack trace captured for every statement (about 4% of a callback's CPU): a failed statement
    // becomes StoreUnavailable or UniqueViolation with a message naming the cause, not a stack.
    trace: false,
  });
  /**
   * Per connection: whether the session was set up, and whether autocommit is off. After its setup a
   * session runs with autocommit off, so that `insertOnce`'s INSERT starts the transaction itself
   * (no START TRANSACTION round trip) and nothing commits without a COMMIT. Migrations, which run
   * statements outside any transaction, turn it back on (`autocommit`).
   */
  const sessions = new WeakMap<object, { autocommit: boolean }>();
  const lockWaitSeconds = Math.max(1, Math.ceil(settings.queryTimeoutMs / 1000));
  const setup = async (conn: PoolConnection): Promise<void> => {
    const state = sessions.get(conn.connection);
    if (state === undefined) {
      conn.connection.on('error', () => {}); // died while checked out: the next statement fails and says so
      await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await conn.execute('SET SESSION innodb_lock_wait_timeout = CAST(? AS UNSIGNED), autocommit = 0', [lockWaitSeconds]);
      sessions.set(conn.connection, { autocommit: false });
    } else if (state.autocommit) {
      await conn.query('SET autocommit = 0');
      state.autocommit = false;
    }
  };

  const classify = (error: unknown): ErrorKind => {
    const e = error as { errno?: number; fatal?: boolean; message?: string };
    const kind = typeof e?.errno === 'number' ? KINDS[e.errno] : undefined;
    if (kind) return kind;
    if (typeof e?.errno === 'number' && [1040, 1044, 1045, 1049, 1203, 1226, 1290, 1836, 1021, 1114, 3024, 1969].includes(e.errno)) return 'unavailable';
    const code = errorCode(error);
    if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'PROTOCOL_CONNECTION_LOST' || /closed state/.test(e?.message ?? '')) return 'dead';
    if (networkReason(error, host, port, 0) || code === 'PROTOCOL_SEQUENCE_TIMEOUT' || e?.message === 'Pool is closed.') return 'unavailable';
    return e?.fatal ? 'dead' : undefined;
  };

  const runQuery = async (conn: PoolConnection, query: Query): Promise<Result> => {
    try {
      const [result] = query.params.length === 0 ? await conn.query(query.sql) : await conn.execute(query.sql, query.params as ExecuteValues[]);
      if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], count: 0 };
      const header = result as ResultSetHeader;
      const matched = query.sql.startsWith('UPDATE') ? /^\D*(\d+)/.exec(header.info ?? '')?.[1] : undefined;
      return { rows: [], count: matched === undefined ? header.affectedRows : Number(matched) };
    } catch (error) {
      if (query.ddl && ALREADY_EXISTS.has((error as { errno?: number }).errno ?? 0)) return { rows: [], count: 0 };
      throw error;
    }
  };

  const driver: Driver<PoolConnection> = {
    kind: 'mysql',
    dialect: mysqlDialect,
    label,
    password,
    settings,
    acquire: () => pool.getConnection(),
    async begin(conn) {
      await setup(conn);
      await conn.query('START TRANSACTION');
    },
    run: (conn, query) => runQuery(conn, query),
    pipeline: {
      send(conn, statement) {
        // Autocommit is off: the INSERT starts the transaction, and COMMIT follows once it answered.
        const done = setup(conn).then(() => runQuery(conn, statement));
        // The transaction has begun once the INSERT answered, whatever it answered; only a connection
        // that turns out dead or unreachable fails the start (the store then tries another one).
        const begun = done.then(
          () => undefined,
          (error: unknown) => {
            const kind = classify(error);
            if (kind === 'dead' || kind === 'unavailable') throw error;
          },
        );
        return { begun, done };
      },
    },
    async autocommit(conn) {
      const state = sessions.get(conn.connection);
      if (state === undefined || state.autocommit) return; // a new session's autocommit is on
      await conn.query('SET autocommit = 1');
      state.autocommit = true;
    },
    release: (conn) => conn.release(),
    destroy(conn) {
      resetSocket((conn.connection as unknown as { stream?: unknown }).stream);
      conn.destroy();
    },
    async withMigrationLock(run, fn) {
      const name = `oss_callback_migrations:${database}`;
      const { rows } = await run({ sql: 'SELECT GET_LOCK(?, ?) AS locked', params: [name, 50] });
      if (Number(rows[0]?.locked) !== 1) throw unavailable(label, 'timed out after 50 s waiting for the migration lock (another instance is migrating)');
      try {
        await fn();
      } finally {
        await run({ sql: 'SELECT RELEASE_LOCK(?)', params: [name] }).catch(() => {});
      }
    },
    classify,
    describe(error) {
      const e = error as { errno?: number; message?: string };
      const message = e?.message ?? String(error);
      const reasons: Record<number, string> = {
        1045: `authentication failed for user "${user}"`,
        1044: `user "${user}" may not use database "${database}"`,
        1049: `database "${database}" does not exist`,
        1040: 'too many connections (max_connections reached: lower pool_max or the instance count)',
        1203: `too many connections for user "${user}"`,
        1226: `user "${user}" exceeded a resource limit`,
        1290: 'the server is read-only (connected to a replica?)',
        1836: 'the server is read-only',
        1021: 'the server disk is full',
        1114: 'a table is full (disk full?)',
        3024: 'statement timed out',
        1969: 'statement timed out',
      };
      const reason =
        networkReason(error, host, port, settings.connectTimeoutMs) ??
        (e?.errno === undefined ? undefined : reasons[e.errno]) ??
        (message === 'Pool is closed.' ? 'the store was closed' : undefined) ??
        (classify(error) === 'dead' ? `the connection to ${host}:${port} was lost` : undefined);
      return reason === undefined || reason === message ? message : `${reason}; ${message}`;
    },
    end: () => pool.end(),
  };
  return new PooledStore(driver);
}
