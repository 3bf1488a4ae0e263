/**
 * SQLite, the embedded default, through `libsql` (the better-sqlite3 API, prebuilt binaries).
 *
 * URL: `sqlite:<path>` (relative to the working directory; parent folders are created) or
 * `sqlite::memory:`. Setting (URL parameter, else environment variable):
 * - `busy_timeout_ms` / `DATABASE_BUSY_TIMEOUT_MS` (default 3000): how long to wait for another
 *   process's write lock before failing with StoreUnavailable.
 *
 * The database is opened on first use (WAL journal, foreign keys on). Transactions are
 * `BEGIN IMMEDIATE` (the write lock up front: no deadlocks, no upgrade failures). While another
 * process holds the lock, BEGIN is retried in slices of BUSY_SLICE_MS (SQLite's busy handler sleeps
 * and blocks the thread) with the event loop free in between, until busy_timeout_ms or until the
 * caller's signal aborts: a deadline is kept even while the file stays locked. The driver is
 * synchronous and the API is not, so transactions on one file are queued in this process: two
 * interleaved async transactions never share one BEGIN, and a waiting BEGIN never blocks the event
 * loop on a lock held by this very process.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Libsql from 'libsql';
import { raceAbort, unavailable } from './errors.js';
import { migrate as runMigrations } from './migrate.js';
import { intSetting } from './pooled.js';
import { SqlTx, sqliteDialect, type Query, type Result, type Run } from './sql.js';
import type { InsertOnceOptions, Store, Table, TransactionOptions, Tx } from './types.js';

type Database = Libsql.Database;
type Statement = ReturnType<Database['prepare']>;

/** The tail of the queue of each database file in this process. */
const queues = new Map<string, Promise<void>>();
let memoryDatabases = 0;

/** Waits for the turn on `key`; the returned function ends it. */
async function takeTurn(key: string, signal: AbortSignal | undefined): Promise<() => void> {
  const previous = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  const release = (): void => {
    done();
    if (queues.get(key) === tail) queues.delete(key);
  };
  try {
    await raceAbort(previous, signal);
  } catch (error) {
    void previous.then(release); // give the turn up once it comes
    throw error;
  }
  return release;
}

/** How often the WAL is checkpointed (`wal_autocheckpoint` is off: see `open`). */
const CHECKPOINT_MS = 1000;
/** A checkpoint of the in-process fallback, postponed by queued transactions, runs anyway after this many postponements. */
const CHECKPOINT_MAX_POSTPONED = 10;

/** The checkpoint worker: its own connection, a PASSIVE checkpoint every `interval` ms. */
const CHECKPOINT_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
let db;
try {
  const Database = require(workerData.driver);
  db = new Database(workerData.path);
  db.exec('PRAGMA busy_timeout = 0');
} catch (error) {
  parentPort.postMessage({ failed: String(error && error.message || error) });
  process.exit(0);
}
setInterval(() => { try { db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch {} }, workerData.interval);
parentPort.postMessage({ started: true });
`;

/** One checkpoint worker per database file in this process, shared by its stores. */
const checkpointers = new Map<string, { users: number; stop(): void }>();

function checkpointerFor(path: string, fallback: () => () => void): () => void {
  let entry = checkpointers.get(path);
  if (entry === undefined) {
    let stopFallback: (() => void) | undefined;
    let worker: Worker | undefined;
    try {
      worker = new Worker(CHECKPOINT_WORKER, { eval: true, workerData: { path, driver: libsqlPath(), interval: CHECKPOINT_MS } });
      worker.on('message', (message: { failed?: string }) => {
        if (message.failed !== undefined) stopFallback ??= fallback();
      });
      worker.on('error', () => (stopFallback ??= fallback()));
      // After the listeners: adding a 'message' listener refs the worker's port again, and a ref'd port
      // keeps a process (a test file, a script) alive after its stores are forgotten.
      worker.unref();
    } catch {
      stopFallback = fallback();
    }
    const created = {
      users: 0,
      stop: () => {
        void worker?.terminate();
        stopFallback?.();
      },
    };
    checkpointers.set(path, created);
    entry = created;
  }
  const shared = entry;
  shared.users += 1;
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    shared.users -= 1;
    if (shared.users === 0) {
      checkpointers.delete(path);
      shared.stop();
    }
  };
}

/** Where `libsql` resolves from here (a worker started with `eval` resolves from the working directory). */
function libsqlPath(): string {
  try {
    return createRequire(join(process.cwd(), 'index.js')).resolve('libsql');
  } catch {
    return 'libsql';
  }
}

/** The longest SQLite's own busy handler may block the event loop at a time. */
const BUSY_SLICE_MS = 20;

/** SQLite primary result codes (the low byte of extended codes). */
const SQLITE = { BUSY: 5, LOCKED: 6, READONLY: 8, IOERR: 10, CORRUPT: 11, FULL: 13, CANTOPEN: 14, CONSTRAINT: 19, NOTADB: 26 };
const UNIQUE_CODES = new Set([1555, 2067]); // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private db: Database | undefined;
  private readonly statements = new Map<string, Statement>();
  private readonly key: string;
  /** Stops this store's share of the checkpoints. */
  private checkpointer: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly path: string,
    readonly label: string,
    private readonly busyTimeoutMs: number,
  ) {
    this.key = path === ':memory:' ? `:memory:#${++memoryDatabases}` : path;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const { signal } = options;
    return this.exclusive(signal, async (db) => {
      let done = false;
      const run: Run = async (query) => {
        if (done) throw new Error('the transaction has already finished: await every tx call inside the transaction function');
        signal?.throwIfAborted();
        return this.execute(db, query);
      };
      await this.beginImmediate(db, signal);
      try {
        const result = await raceAbort(fn(new SqlTx(sqliteDialect, run, isUnique)), signal);
        done = true;
        this.execute(db, { sql: 'COMMIT', params: [] });
        return result;
      } catch (error) {
        done = true;
        rollback(db);
        throw error;
      }
    });
  }

  /** One local transaction: there is no round trip to save. */
  insertOnce<R>(table: Table<R>, row: R, options: InsertOnceOptions<R> = {}): Promise<{ row: R; duplicate: boolean }> {
    return this.transaction((tx) => tx.insertOnce(table, row, options.conflictKey), { signal: options.signal });
  }

  async migrate(tables: readonly Table<any>[]): Promise<void> {
    await runMigrations(
      {
        dialect: sqliteDialect,
        read: (query) =>
          this.exclusive(undefined, async (db) => {
            try {
              return this.execute(db, query);
            } catch (error) {
              if (/no such table/.test((error as Error).message)) return { rows: [], count: 0 };
              throw error;
            }
          }),
        locked: (fn) =>
          this.exclusive(undefined, async (db) => {
            await this.beginImmediate(db, undefined);
            try {
              await fn(async (query) => this.execute(db, query));
              this.execute(db, { sql: 'COMMIT', params: [] });
            } catch (error) {
              rollback(db);
              throw error;
            }
          }),
      },
      tables,
    );
  }

  async close(): Promise<void> {
    await this.exclusive(undefined, async (db) => {
      this.closed = true;
      this.statements.clear();
      this.checkpointer?.();
      this.checkpointer = undefined;
      db.close();
      this.db = undefined;
    }).catch(() => {
      this.closed = true; // never opened
    });
  }

  /** Runs `fn` with the database (opened if needed) during this store's turn on the file. */
  private async exclusive<T>(signal: AbortSignal | undefined, fn: (db: Database) => Promise<T>): Promise<T> {
    if (this.closed) throw unavailable(this.label, 'the store was closed');
    const release = await takeTurn(this.key, signal);
    try {
      if (this.db === undefined) {
        this.db = await this.open();
        this.startCheckpoints();
      }
      return await fn(this.db);
    } finally {
      release();
    }
  }

  /**
   * Checkpoints off the request path: a worker thread with its own connection to the file runs a
   * PASSIVE checkpoint every CHECKPOINT_MS (PASSIVE takes no lock that writers wait for, and the
   * fsyncs happen on the worker's thread, not on the event loop). One worker per file per process.
   * Where the worker cannot start (the driver cannot be loaded from a worker), the checkpoint runs
   * here instead, in this store's turn on the file, postponed while transactions are queued.
   */
  private startCheckpoints(): void {
    if (this.path === ':memory:') return;
    this.checkpointer = checkpointerFor(this.path, () => this.checkpointHere());
  }

  /** The fallback: in-process checkpoints between transactions. */
  private checkpointHere(): () => void {
    let postponed = 0;
    const timer = setInterval(() => {
      if (this.closed || this.db === undefined) return clearInterval(timer);
      if (queues.has(this.key) && postponed < CHECKPOINT_MAX_POSTPONED) {
        postponed += 1; // transactions are waiting: later
        return;
      }
      postponed = 0;
      void this.exclusive(undefined, async (db) => void db.exec('PRAGMA wal_checkpoint(PASSIVE)')).catch(() => {}); // retried at the next tick; the WAL keeps the data
    }, CHECKPOINT_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async open(): Promise<Database> {
    const { path } = this;
    if (path !== ':memory:') {
      try {
        makeFolders(dirname(path));
      } catch (error) {
        throw unavailable(this.label, `cannot create the folder of the database file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, error);
      }
    }
    let Driver: typeof Libsql;
    try {
      ({ default: Driver } = await import('libsql'));
    } catch (error) {
      throw unavailable(
        this.label,
        'the embedded SQLite driver (libsql) is not installed here: deployed bundles leave it out because FC instances keep no files; set DATABASE_URL to a postgres:// or mysql:// URL',
        error,
      );
    }
    let db: Database | undefined;
    try {
      db = new Driver(path);
      db.exec(`PRAGMA busy_timeout = ${Math.trunc(this.busyTimeoutMs)}`);
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA foreign_keys = ON');
      // Checkpoints (copying the WAL back into the database file, with fsyncs) stay off the commit
      // path: SQLite's automatic one runs inside whichever COMMIT crosses 1000 pages and blocks the
      // event loop for milliseconds. A worker thread checkpoints instead (see `startCheckpoints`).
      // With synchronous = NORMAL a COMMIT writes the WAL without an fsync: a committed transaction
      // survives the process being killed, and the WAL reaches the disk at the next checkpoint (each
      // second), so an OS crash or a power loss can lose the last second of commits. FULL (an fsync per
      // COMMIT, on the event loop: this driver is synchronous) let the local server take ~190 of 600 offered
      // callbacks/s with a p99 of 60-75 ms in a measurement (BENCHMARKS.md, issue 13 round 3).
      db.exec('PRAGMA wal_autocheckpoint = 0');
      // From now on the busy handler blocks for a slice at most; BEGIN IMMEDIATE waits in between.
      db.exec(`PRAGMA busy_timeout = ${Math.min(BUSY_SLICE_MS, Math.trunc(this.busyTimeoutMs))}`);
      return db;
    } catch (error) {
      db?.close();
      throw unavailable(this.label, `cannot open the database file ${path} for writing (is its folder writable, and the disk not full?): ${(error as Error).message}`, error);
    }
  }

  /** BEGIN IMMEDIATE, waiting for another process's write lock without holding up the event loop. */
  private async beginImmediate(db: Database, signal: AbortSignal | undefined): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        this.execute(db, { sql: 'BEGIN IMMEDIATE', params: [] });
        return;
      } catch (error) {
        const waited = Date.now() - started;
        if (primaryCode(error) !== SQLITE.BUSY || waited >= this.busyTimeoutMs) throw error;
        signal?.throwIfAborted();
        const pause = Math.min(5 * attempt, 50, this.busyTimeoutMs - waited);
        await raceAbort(new Promise((resolve) => setTimeout(resolve, pause)), signal);
      }
    }
  }

  private execute(db: Database, query: Query): Result {
    try {
      let statement = this.statements.get(query.sql);
      if (statement === undefined) this.statements.set(query.sql, (statement = db.prepare(query.sql)));
      if (statement.reader && query.single) {
        // libsql 0.5's Statement.all() and iterate() leak about 1 KB of native memory per call
        // (get() and run() do not): use get() wherever one row is all there can be.
        const row = statement.get(query.params) as Record<string, unknown> | undefined;
        return { rows: row === undefined ? [] : [row], count: 0 };
      }
      if (statement.reader) return { rows: statement.all(query.params) as Record<string, unknown>[], count: 0 };
      return { rows: [], count: statement.run(query.params).changes };
    } catch (error) {
      throw this.mapError(error);
    }
  }

  private mapError(error: unknown): unknown {
    const rawCode = (error as { rawCode?: number }).rawCode;
    if (typeof rawCode !== 'number') return error;
    const reason = {
      [SQLITE.BUSY]: `the database is locked by another process (waited ${this.busyTimeoutMs} ms)`,
      [SQLITE.LOCKED]: 'the database is locked',
      [SQLITE.READONLY]: `the database file ${this.path} is not writable`,
      [SQLITE.IOERR]: `I/O error on ${this.path}`,
      [SQLITE.CORRUPT]: `the database file ${this.path} is corrupt`,
      [SQLITE.FULL]: 'the disk is full',
      [SQLITE.CANTOPEN]: `cannot open the database file ${this.path}`,
      [SQLITE.NOTADB]: `${this.path} is not a SQLite database`,
    }[rawCode & 0xff];
    return reason === undefined ? error : unavailable(this.label, `${reason}: ${(error as Error).message}`, error);
  }
}

/** `mkdir -p`, without `recursive: true`, which loops forever on some paths (under /proc, in Node 20). */
function makeFolders(folder: string): void {
  if (existsSync(folder)) return;
  const parent = dirname(folder);
  if (parent !== folder) makeFolders(parent);
  try {
    mkdirSync(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // created meanwhile
  }
}

function rollback(db: Database): void {
  try {
    if (db.inTransaction) db.exec('ROLLBACK');
  } catch {
    // the original error is the one to report
  }
}

/** The SQLite primary result code of a driver error, or of the cause of the StoreUnavailable made of it. */
function primaryCode(error: unknown): number | undefined {
  const e = error as { rawCode?: unknown; cause?: { rawCode?: unknown } } | null;
  const code = e?.rawCode ?? e?.cause?.rawCode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

function isUnique(error: unknown): boolean {
  return UNIQUE_CODES.has((error as { rawCode?: number }).rawCode as number);
}

export async function openSqlite(url: string): Promise<Store> {
  const [rest = '', query] = url.slice('sqlite:'.length).split('?', 2);
  const busyTimeoutMs = intSetting(new URLSearchParams(query), 'busy_timeout_ms', 'DATABASE_BUSY_TIMEOUT_MS', 3000);
  const location = decodeURIComponent(rest);
  if (location === '') throw new Error(`"${url}": expected sqlite:<path> or sqlite::memory:`);
  const path = location === ':memory:' ? location : resolve(location);
  return new SqliteStore(path, `sqlite:${location}`, busyTimeoutMs);
}
