/**
 * What the client/server backends (postgres.ts, mysql.ts) share: settings, and the transaction runner
 * written for serverless instances (one request at a time, frozen between requests, hundreds at once):
 *
 * - a tiny pool (default 2 connections) and a short connect timeout, so an unreachable store fails fast;
 * - a pooled connection that died while the instance was frozen is found out by the first statement
 *   (BEGIN), discarded, and the transaction starts again on a fresh connection (at most twice);
 * - `insertOnce` with a deadline commits in one round trip where the backend can (PostgreSQL), behind
 *   a guard that the server evaluates against the deadline (see `PooledStore.insertOnce`);
 * - every statement has a client-side timeout; on timeout, or when the caller's signal aborts while a
 *   statement runs (COMMIT included), the connection is destroyed (the server then rolls back) instead
 *   of reused: a COMMIT still unanswered at the deadline is not left to complete later;
 * - deadlocks and serialization failures rerun the whole transaction function (up to 3 more times).
 */
import { migrate as runMigrations, type MigrationHost } from './migrate.js';
import { connectTimeoutReason, isUnavailable, raceAbort, UniqueViolation, unavailable, withTimeout } from './errors.js';
import { insertOncePlan, SqlTx, type Dialect, type InsertOncePlan, type Query, type Result, type Run } from './sql.js';
import type { InsertOnceOptions, Store, Table, TransactionOptions, Tx } from './types.js';
import { CallbackError } from '../protocol/errors.js';

export interface ServerSettings {
  poolMax: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  idleTimeoutMs: number;
  /** TCP keepalive initial delay; 0 turns keepalive off. */
  keepAliveMs: number;
  /**
   * PostgreSQL's one-round-trip `insertOnce`: how long before the caller's deadline (by the server's
   * clock, translated) the guard refuses to commit; 0 turns the one-round-trip commit off.
   */
  guardMarginMs: number;
}

const SETTINGS: Record<keyof ServerSettings, [param: string, env: string, fallback: number]> = {
  poolMax: ['pool_max', 'DATABASE_POOL_MAX', 2],
  connectTimeoutMs: ['connect_timeout_ms', 'DATABASE_CONNECT_TIMEOUT_MS', 2000],
  queryTimeoutMs: ['query_timeout_ms', 'DATABASE_QUERY_TIMEOUT_MS', 5000],
  idleTimeoutMs: ['idle_timeout_ms', 'DATABASE_IDLE_TIMEOUT_MS', 30000],
  keepAliveMs: ['keepalive_ms', 'DATABASE_KEEPALIVE_MS', 10000],
  guardMarginMs: ['guard_margin_ms', 'DATABASE_GUARD_MARGIN_MS', 200],
};

/** Reads one integer setting: URL parameter (then removed from `params`), else environment variable, else default. */
export function intSetting(params: URLSearchParams, param: string, env: string, fallback: number, min = 0): number {
  const raw = params.get(param) ?? process.env[env];
  params.delete(param);
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${param} (${env}) must be an integer >= ${min}, got "${raw}"`);
  return value;
}

/** The settings of the URL's parameters / environment; the parameters are removed from `url`. */
export function serverSettings(url: URL): ServerSettings {
  const entries = Object.entries(SETTINGS).map(([key, [param, env, fallback]]) => [key, intSetting(url.searchParams, param, env, fallback, key === 'poolMax' ? 1 : 0)]);
  const settings = Object.fromEntries(entries) as ServerSettings;
  if (settings.connectTimeoutMs === 0 || settings.queryTimeoutMs === 0) throw new Error('connect_timeout_ms and query_timeout_ms must be > 0');
  return settings;
}

/** How a driver error should be handled. */
export type ErrorKind =
  /** Duplicate key (UniqueViolation). */
  | 'unique'
  /** Deadlock / serialization failure: run the transaction again. */
  | 'retry'
  /** This connection is gone (killed, reset, closed while frozen): discard it. */
  | 'dead'
  /** The store cannot be used right now (refused, auth, unknown database, full, timed out...). */
  | 'unavailable'
  | 'missing-table'
  /** The deadline guard of the one-round-trip commit refused to commit (see `Pipeline.commit`). */
  | 'deadline'
  | undefined;

/** The driver-specific half of a client/server backend. `C` is one connection. */
export interface Driver<C> {
  readonly kind: 'postgres' | 'mysql';
  readonly dialect: Dialect;
  readonly label: string;
  readonly password: string;
  readonly settings: ServerSettings;
  /** A connection from the pool (connecting if needed, failing after the connect timeout). */
  acquire(): Promise<C>;
  /** Starts a READ COMMITTED transaction (after per-connection session setup where needed). */
  begin(conn: C): Promise<void>;
  run(conn: C, query: Query): Promise<Result>;
  release(conn: C): void;
  /** Closes the socket now, with a TCP reset (`resetSocket`), and drops the connection from the pool. */
  destroy(conn: C): void;
  /** Runs `fn` holding the database-wide migration lock (inside a transaction where DDL is transactional). */
  withMigrationLock(run: Run, fn: () => Promise<void>): Promise<void>;
  classify(error: unknown): ErrorKind;
  /** Starts a transaction with its first statement in one round trip (see Pipeline). */
  readonly pipeline?: Pipeline<C>;
  /**
   * Runs a statement without parameters and reads the server's clock (epoch ms) in the same message:
   * the schema check of a cold start samples the clock of its connection for free (see insertOnce).
   */
  runWithClock?(conn: C, query: Query): Promise<{ result: Result; serverNow: number }>;
  /**
   * Makes statements run outside a transaction commit on their own (MySQL: sessions run with
   * autocommit off after their setup). Called before such statements (the migration check and lock).
   */
  autocommit?(conn: C): Promise<void>;
  /** The likely cause of an 'unavailable' or 'dead' error, for the StoreUnavailable message. */
  describe(error: unknown): string;
  end(): Promise<void>;
}

/**
 * A transaction and its first statement in one round trip: PostgreSQL writes BEGIN and the statement
 * at once (pipeline mode); MySQL sessions run with autocommit off, so the statement itself starts the
 * transaction. COMMIT goes out only after the statement answered, on its own: a COMMIT sent with them
 * could be held up in the network and delivered after the caller answered DeadlineExceeded, or run
 * once a lock the statement waited for is released after the deadline; a transaction whose COMMIT
 * was never sent cannot commit. `commit`, where the backend has it, sends COMMIT with them behind a
 * guard that the server evaluates against the deadline (see `PooledStore.insertOnce`).
 */
export interface Pipeline<C> {
  /**
   * `begun` settles when the transaction has started (rejecting only when the connection is dead or
   * unreachable, so that another one is tried); `done` with the statement's result. With `sample`,
   * `serverNow` is the server's clock (epoch ms) read right after BEGIN, in the same write.
   */
  send(conn: C, statement: Query, sample?: boolean): { begun: Promise<unknown>; done: Promise<Result>; serverNow?: Promise<number> };
  /**
   * One round trip: BEGIN, `statement` with a guard that fails (ErrorKind 'deadline') unless the
   * server's clock reads at most `limit` (epoch ms) once the row is inserted, and COMMIT, in one
   * write; the guard and COMMIT must reach the server in one message, so that nothing can hold COMMIT
   * up between them. When the statement or its guard fails nothing commits (the store then sends
   * ROLLBACK). `begun` settles with the answer and rejects only with a server error that closed the
   * connection (another connection may then be tried: the store's retry is idempotent); every other
   * failure comes through `done`. `serverNow` is the server's clock read by the guard. Undefined when
   * the statement cannot be sent so (the store then uses two round trips).
   */
  commit?(conn: C, statement: Query, limit: number): { begun: Promise<unknown>; done: Promise<{ result: Result; serverNow: number }> } | undefined;
}

/**
 * The lower bound of one connection's clock offset (server epoch ms minus client `performance.now()`),
 * from the latest statement that read the server's clock: sent at t0, answered at t1, the server's
 * reading s was taken at some client time in [t0, t1], so offset >= s - t1.
 */
interface ClockSample {
  offset: number;
  /** t1, client `performance.now()`. */
  at: number;
  /** t1 - t0. */
  roundTripMs: number;
}

/**
 * A sample older than this is not used (the connection takes two round trips, which sample again):
 * it bounds what the two clocks may drift apart in between (NTP slews at most 500 ppm: 2.5 ms in
 * 5 s), and a connection idle for longer, possibly across a freeze of the instance, is checked alive
 * by BEGIN on its own again before anything that can commit is sent on it.
 */
const CLOCK_SAMPLE_MAX_AGE_MS = 5000;

const MAX_RETRIES = 3;
const MIGRATION_TIMEOUT_MS = 60_000;

/** One connection checked out for one transaction (or one migration). */
class Session<C> {
  private inFlight = 0;
  broken = false;
  sawRetryable = false;
  done = false;
  private released = false;

  constructor(
    private readonly driver: Driver<C>,
    readonly conn: C,
    private readonly signal: AbortSignal | undefined,
  ) {}

  run(query: Query, options: { timeoutMs?: number } = {}): Promise<Result> {
    return this.guard(() => this.driver.run(this.conn, query), options);
  }

  begin(): Promise<void> {
    return this.guard(() => this.driver.begin(this.conn));
  }

  /** Any driver call on this connection, with the same timeout, abort and error handling as `run`. */
  call<T>(call: (conn: C) => Promise<T>): Promise<T> {
    return this.guard(() => call(this.conn));
  }

  /**
   * Runs one driver call with the statement timeout and the abort signal; on either, the connection is
   * destroyed (a statement may hang, and the server rolls back what it cannot finish). Connection
   * failures become StoreUnavailable (the driver's error as its cause).
   */
  private async guard<T>(call: () => Promise<T>, { timeoutMs = this.driver.settings.queryTimeoutMs } = {}): Promise<T> {
    const { driver, signal } = this;
    if (this.done) throw new Error('the transaction has already finished: await every tx call inside the transaction function');
    if (this.broken) throw unavailable(driver.label, 'the connection was lost earlier in this transaction');
    signal?.throwIfAborted();
    this.inFlight += 1;
    try {
      const timed = withTimeout(call(), timeoutMs, () => {
        this.kill();
        return unavailable(driver.label, `query timed out after ${timeoutMs} ms (server overloaded, or a lock held too long?)`);
      });
      return await raceAbort(timed, signal);
    } catch (error) {
      if (signal?.aborted) {
        this.kill(); // the statement was still running
        throw signal.reason;
      }
      if (isUnavailable(error)) throw error;
      const kind = driver.classify(error);
      if (kind === 'retry') this.sawRetryable = true;
      if (kind === 'deadline') {
        throw new CallbackError(
          'DeadlineExceeded',
          `the callback could not be completed in time: ${driver.label} refused to commit because its clock had passed the deadline (less guard_margin_ms ${driver.settings.guardMarginMs}); the datastore is slow, or waited for a lock; rolled back`,
          { cause: error },
        );
      }
      if (kind === 'dead' || kind === 'unavailable') {
        this.kill();
        throw unavailable(driver.label, driver.describe(error), error, driver.password);
      }
      throw error;
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Returns the connection to the pool, unless it was destroyed. */
  release(): void {
    this.done = true;
    this.released = true;
    if (!this.broken) this.driver.release(this.conn);
  }

  kill(): void {
    if (this.broken) return;
    this.broken = true;
    this.driver.destroy(this.conn);
  }

  /**
   * Commits and returns the connection. When the signal aborts first (the caller has answered
   * DeadlineExceeded), the connection is destroyed: a COMMIT still in this process or held up on the
   * way never arrives, and the server rolls back. (One the server already received may still commit:
   * nothing on the client can take it back.)
   */
  async commit(): Promise<void> {
    if (this.sawRetryable) throw new Error('a statement of this transaction failed; it cannot commit');
    const committing = this.run({ sql: 'COMMIT', params: [] });
    this.done = true; // COMMIT is sent: a forgotten tx call now fails instead of running after it
    await committing;
    this.release();
  }

  /** Rolls back and returns the connection, or destroys it when that is not possible. */
  async rollback(): Promise<void> {
    this.done = true;
    if (this.broken || this.released) return;
    if (this.inFlight > 0) return this.kill();
    try {
      const rollback = this.driver.run(this.conn, { sql: 'ROLLBACK', params: [] });
      await withTimeout(rollback, this.driver.settings.connectTimeoutMs, () => new Error('ROLLBACK timed out'));
      this.driver.release(this.conn);
    } catch {
      this.kill();
    }
  }
}

export class PooledStore<C> implements Store {
  readonly kind: string;
  readonly label: string;
  private closed = false;

  constructor(private readonly driver: Driver<C>) {
    this.kind = driver.kind;
    this.label = driver.label;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const { signal } = options;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const session = await this.connect(signal, (s) => s.begin());
      try {
        const result = await raceAbort(fn(this.tx(session)), signal);
        await session.commit();
        return result;
      } catch (error) {
        await session.rollback();
        if (!session.sawRetryable || signal?.aborted) throw error;
        if (attempt > MAX_RETRIES) {
          throw unavailable(this.label, `transaction still failed after ${attempt} attempts (deadlocks or lock waits: too much contention)`, error);
        }
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20 * attempt));
      }
    }
  }

  /**
   * One INSERT as a transaction of its own. PostgreSQL with `deadline`, on a connection with a recent
   * clock sample (below): one round trip, BEGIN, the INSERT with a guard, and COMMIT in one message.
   * The guard fails, and the server rolls back, when the server's clock reads later than
   *
   *     deadline + offset - guard_margin_ms
   *
   * where `offset` is a lower bound of (server clock - client monotonic clock) on this connection
   * (ClockSample). If the guard passes at server time g, the client's clock then read at most
   * g - offset <= deadline - margin: COMMIT runs before the caller's deadline, by at least the margin,
   * however late the write was delivered (held in the network, or after a row lock the INSERT waited
   * for). This rests on one assumption: the server's wall clock does not step back by more than the
   * margin between two statements on a connection (5 s at most apart, CLOCK_SAMPLE_MAX_AGE_MS;
   * slewing is covered by the margin). Otherwise the exposure is the one of the two-round-trip path:
   * a COMMIT the server received before the deadline may finish after it (Session.commit).
   *
   * A connection without a usable sample (new, unless the schema check of `migrate` ran on it and
   * read the clock; idle for more than 5 s; or whose sample's round trip took longer than the
   * margin) takes two round trips, BEGIN with a clock reading and the INSERT in
   * one write, then COMMIT once they answered, which also samples its clock.
   *
   * A duplicate: the one-round-trip transaction committed nothing; the existing row is read in a
   * second round trip. The one message is also the liveness check: a connection that does not answer
   * it within connect_timeout_ms (or that the server closed, FATAL) is replaced and the INSERT sent
   * again on another one. The first write may have committed (only its answer was lost), so a row
   * found with this call's own primary key is this call's insert (duplicate: false). An INSERT that
   * waits for a row lock longer than connect_timeout_ms (2 s; the deadline is 4 s) is taken for a
   * silent connection in the same way (as on MySQL): the second try waits for the same lock, and the
   * guard keeps either from committing after the deadline. A connection that fails otherwise before
   * the answer (reset) is not retried: the outcome is unknown, as for a failed COMMIT
   * (StoreUnavailable).
   */
  async insertOnce<R>(table: Table<R>, row: R, options: InsertOnceOptions<R> = {}): Promise<{ row: R; duplicate: boolean }> {
    const { signal, conflictKey, deadline } = options;
    const { pipeline, settings } = this.driver;
    if (pipeline === undefined) return this.transaction((tx) => tx.insertOnce(table, row, conflictKey), { signal });
    const plan = insertOncePlan(this.driver.dialect, table, conflictKey);
    const values = row as Record<string, unknown>;
    const statement = plan.query(values); // a value that does not fit its column fails here, before any I/O
    const margin = settings.guardMarginMs;
    const guarded = deadline !== undefined && margin > 0 && pipeline.commit !== undefined;
    /** A write with COMMIT was sent on a connection that was then given up: it may have committed. */
    let maybeCommitted = false;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      let inserting: Promise<Result> | undefined;
      let committing: Promise<{ result: Result; serverNow: number }> | undefined;
      // The transaction's start is the first statement, as in `transaction`: a connection that died
      // or went silent in the pool is found out by it and replaced.
      const session = await this.connect(signal, (s) => {
        signal?.throwIfAborted(); // before anything is written
        if (committing !== undefined) maybeCommitted = true; // the previous connection was given up
        inserting = committing = undefined;
        const now = performance.now();
        const clock = guarded ? this.clocks.get(s.conn as object) : undefined;
        let begun: Promise<unknown> = Promise.resolve();
        if (clock !== undefined && now - clock.at <= CLOCK_SAMPLE_MAX_AGE_MS && clock.roundTripMs <= margin && deadline! - now > margin) {
          const limit = deadline! + clock.offset - margin;
          const batch = pipeline.commit!(s.conn, statement, limit);
          if (batch !== undefined) {
            begun = batch.begun;
            committing = s.call(() => batch.done).then((done) => {
              this.sampled(s.conn, now, done.serverNow);
              return done;
            });
            committing.catch(() => {});
            return s.call(() => begun).then(() => {});
          }
        }
        {
          const sent = s.call((conn) => {
            const batch = pipeline.send(conn, statement, guarded);
            begun = batch.begun;
            batch.serverNow?.then((serverNow) => this.sampled(conn, now, serverNow), () => {});
            return batch.done;
          });
          inserting = sent;
          inserting.catch(() => {});
        }
        return s.call(() => begun).then(() => {});
      });
      try {
        if (committing !== undefined) {
          const { result } = await committing;
          const inserted = plan.inserted(values, result);
          // A duplicate: the transaction committed nothing; the row it conflicted with, read now.
          const found = inserted !== undefined ? { row: inserted as R, duplicate: false } : this.own(table, plan, values, maybeCommitted, await this.tx(session).existing(table, plan, row));
          session.release();
          return found;
        }
        const inserted = plan.inserted(values, await inserting!);
        // A duplicate (rare): the row it conflicted with, in the same transaction.
        const result = inserted !== undefined ? { row: inserted as R, duplicate: false } : this.own(table, plan, values, maybeCommitted, await this.tx(session).existing(table, plan, row));
        await session.commit();
        return result;
      } catch (error) {
        await session.rollback();
        // The conflict was on another unique key than the one asked for (as SqlTx reports it).
        if (!signal?.aborted && this.driver.classify(error) === 'unique') throw new UniqueViolation(table.name, { cause: error });
        if (!session.sawRetryable || signal?.aborted) throw error;
        if (attempt > MAX_RETRIES) {
          throw unavailable(this.label, `transaction still failed after ${attempt} attempts (deadlocks or lock waits: too much contention)`, error);
        }
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20 * attempt));
      }
    }
  }

  /** Per connection: the latest clock sample (see insertOnce). */
  private readonly clocks = new WeakMap<object, ClockSample>();

  private sampled(conn: C, sentAt: number, serverNow: number): void {
    const at = performance.now();
    // Not a number: no reading (a duplicate's guard did not run) or one the driver refused (postgres.ts CLOCK).
    if (Number.isFinite(serverNow)) this.clocks.set(conn as object, { offset: serverNow - at, at, roundTripMs: at - sentAt });
  }

  /**
   * A duplicate found after an earlier write of this call may have committed (its connection was given
   * up before it answered): when the row carries this call's own primary key, that write committed it.
   * (Only for a primary key outside the conflict key; otherwise it cannot be told apart: duplicate.)
   */
  private own<R>(table: Table<R>, plan: InsertOncePlan, values: Record<string, unknown>, maybeCommitted: boolean, found: { row: R; duplicate: boolean }): { row: R; duplicate: boolean } {
    if (!maybeCommitted) return found;
    const pk = table.primaryKey as readonly string[];
    if (pk.every((f) => plan.key.includes(f))) return found;
    const stored = found.row as Record<string, unknown>;
    return pk.every((f) => String(stored[f]) === String(values[f])) ? { row: found.row, duplicate: false } : found;
  }

  async migrate(tables: readonly Table<any>[]): Promise<void> {
    const { driver } = this;
    const host: MigrationHost = {
      dialect: driver.dialect,
      read: async (query) => {
        let result: Result = { rows: [], count: 0 };
        try {
          const session = await this.connect(undefined, async (s) => {
            if (driver.autocommit) await s.call((conn) => driver.autocommit!(conn));
            if (driver.runWithClock !== undefined && driver.settings.guardMarginMs > 0 && query.params.length === 0) {
              // A cold start's first callback then commits in one round trip on this connection too.
              const sentAt = performance.now();
              const read = await s.call((conn) => driver.runWithClock!(conn, query));
              this.sampled(s.conn, sentAt, read.serverNow);
              result = read.result;
            } else {
              result = await s.run(query);
            }
          });
          session.release();
        } catch (error) {
          if (driver.classify(error) !== 'missing-table') throw error;
        }
        return result;
      },
      locked: async (fn) => {
        const session = await this.connect(undefined, async (s) => {
          if (driver.autocommit) await s.call((conn) => driver.autocommit!(conn));
          await s.run({ sql: 'SELECT 1', params: [] });
        });
        const run: Run = (query) => session.run(query, { timeoutMs: MIGRATION_TIMEOUT_MS });
        try {
          await driver.withMigrationLock(run, () => fn(run));
        } finally {
          session.release();
        }
      },
    };
    await runMigrations(host, tables);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.driver.end();
  }

  private tx(session: Session<C>): SqlTx {
    return new SqlTx(this.driver.dialect, (query) => session.run(query), (error) => this.driver.classify(error) === 'unique');
  }

  /** A connection from the pool; on abort or timeout, a connection that arrives later goes back. */
  private async checkout(signal: AbortSignal | undefined): Promise<Session<C>> {
    const { driver } = this;
    if (this.closed) throw unavailable(this.label, 'the store was closed');
    let abandoned = false;
    const busySince = performance.eventLoopUtilization(); // tells a connect timeout under local overload apart
    const pending = driver.acquire();
    pending.then((conn) => abandoned && driver.release(conn), () => {});
    try {
      // The driver's own connect timeout normally fires first, with a more precise error.
      const timeoutMs = driver.settings.connectTimeoutMs + 1000;
      const conn = await raceAbort(
        withTimeout(pending, timeoutMs, () => unavailable(this.label, `no connection within ${timeoutMs} ms (server unreachable, or all ${driver.settings.poolMax} pooled connections busy)`)),
        signal,
      );
      return new Session(driver, conn, signal);
    } catch (error) {
      abandoned = true;
      if (signal?.aborted || isUnavailable(error)) throw error;
      throw unavailable(this.label, connectTimeoutReason(driver.describe(error), busySince), error, driver.password);
    }
  }

  /**
   * A pooled connection on which `first` (BEGIN, or a migration statement) succeeded. A connection that
   * died in the pool (typically while the instance was frozen) fails at that first statement, before
   * anything of the transaction ran: it is discarded and `first` runs again on another connection (each
   * pooled connection may be dead; then a new one is opened). The first statement gets only the connect
   * timeout to answer, which also finds out connections that died silently.
   */
  private async connect(signal: AbortSignal | undefined, first: (session: Session<C>) => Promise<void>): Promise<Session<C>> {
    const { driver } = this;
    const { connectTimeoutMs, poolMax } = driver.settings;
    for (let attempt = 1; ; attempt++) {
      const session = await this.checkout(signal);
      let silent: Error | undefined; // built only when the timer fires (an Error's stack is not free)
      try {
        await withTimeout(first(session), connectTimeoutMs, () => {
          session.kill();
          return (silent = unavailable(this.label, `the server did not answer within ${connectTimeoutMs} ms`));
        });
        return session;
      } catch (error) {
        const cause = isUnavailable(error) ? error.cause : error;
        const stale = (silent !== undefined && error === silent) || driver.classify(cause) === 'dead';
        if (stale || isUnavailable(error)) session.kill();
        else session.release();
        if (stale && attempt <= poolMax && !signal?.aborted) continue;
        throw error;
      }
    }
  }
}
