/**
 * The guarantees of issue 3, proven at the level of the function: `handleCallback` with the real
 * record-upload job, a runtime whose DATABASE_URL points at the store, and the database read back
 * directly over connections of its own. `guaranteeSuite(target)` runs the same tests against every
 * store; the fault tests of PostgreSQL and MySQL go through a TCP proxy (test/helpers/stores.ts) that
 * can refuse, stall, hold or reset connections. SQLite's own faults are in sqlite.test.ts.
 */
import assert from 'node:assert/strict';
import { after, test, type TestContext } from 'node:test';
import { job as recordUpload, uploads } from '../../../functions/record-upload/index.js';
import { handleCallback } from '../../../shared/core/pipeline.js';
import { closeStores, newId, openStore, type Store } from '../../../shared/store/index.js';
import { objectIdempotencyKey } from '../../../shared/core/object.js';
import { body, signedRequest, testRuntime, uploadValues, type TestRuntime } from '../../helpers/callbacks.js';
import {
  createTestDatabase,
  killConnectionsWhileFrozen,
  mysqlConnectionId,
  mysqlIdleConnectionsSince,
  rawQuery,
  requireServer,
  startProxy,
  tempSqlite,
  uniqueSuffix,
  withParams,
  type Proxy,
  type TestServer,
} from '../../helpers/stores.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The deadline of the hang tests (CALLBACK_DEADLINE_MS), and the slack allowed on top of it. */
export const SHORT_DEADLINE_MS = 800;
export const DEADLINE_SLACK_MS = 250;
/** How long after a DeadlineExceeded reply the tests keep checking that nothing was committed. */
export const LATE_COMMIT_CHECK_MS = 2000;
/** StoreUnavailable must come well before OSS gives up (5 s). */
export const UNAVAILABLE_WITHIN_MS = 3000;

/** A database of the test's own, and SQL on it over a new connection each time. */
export interface Db {
  kind: 'sqlite' | 'postgres' | 'mysql';
  url: string;
  /** `?` placeholders on every backend. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

export interface Target {
  name: string;
  kind: 'sqlite' | 'postgres' | 'mysql';
  /** For PostgreSQL and MySQL: skipped with a message when unreachable (failing in CI). */
  server?: TestServer;
}

/** Markers of the transaction's statements on the wire, for `proxy.trip` (PG's BEGIN contains "COMMITTED"). */
const COMMIT_MARKER = { postgres: 'COMMIT\0', mysql: '\x03COMMIT' } as const;

const dropAfterAll: (() => Promise<void>)[] = [];
after(async () => {
  await closeStores();
  await Promise.allSettled(dropAfterAll.map((drop) => drop()));
});

/** Direct access to the SQLite database of `url` (a connection of its own for each query). */
export function sqliteDb(url: string): Db {
  const path = url.slice('sqlite:'.length).split('?')[0]!;
  return {
    kind: 'sqlite',
    url,
    async query(sql, params = []) {
      const { default: Database } = await import('libsql');
      const db = new Database(path);
      try {
        const statement = db.prepare(sql);
        return statement.reader ? (statement.all(params) as Record<string, unknown>[]) : (statement.run(params), []);
      } finally {
        db.close();
      }
    },
  };
}

/** A fresh database (a file for SQLite, a new database on the server) dropped after the file's tests. */
export async function freshDb(target: Target): Promise<Db> {
  if (target.kind === 'sqlite') {
    const file = tempSqlite();
    dropAfterAll.push(async () => file.remove());
    return sqliteDb(file.url);
  }
  const server = target.server!;
  const created = await createTestDatabase(server.url);
  dropAfterAll.push(created.drop);
  const kind = target.kind;
  return {
    kind,
    url: created.url,
    query: (sql, params = []) => {
      let n = 0;
      return rawQuery(created.url, kind === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql, params);
    },
  };
}

export interface UploadRecord {
  id: string;
  idempotencyKey: string;
  object: string;
  size: number;
}

/** The records of `bucket`, read directly (none while the table does not exist yet). */
export async function records(db: Db, bucket: string): Promise<UploadRecord[]> {
  try {
    const rows = await db.query('SELECT id, idempotency_key, object, size FROM oss_uploads WHERE bucket = ? ORDER BY id', [bucket]);
    return rows.map((row) => ({ id: String(row.id), idempotencyKey: String(row.idempotency_key), object: String(row.object), size: Number(row.size) }));
  } catch (error) {
    if (/does not exist|doesn't exist|no such table/i.test((error as Error).message)) return [];
    throw error;
  }
}

export interface Reply {
  status: number;
  body: { id?: string; duplicate?: boolean; error?: { code: string; message: string } };
  /** From the platform's receive time to the reply. */
  ms: number;
}

/** One upload: the callback body values (its own bucket and OSS request id). */
export function upload(bucket: string, overrides: Record<string, string | number> = {}) {
  return uploadValues({ bucket, object: `guarantees/${uniqueSuffix()}.jpg`, ...overrides });
}

export async function send(runtime: TestRuntime, values: ReturnType<typeof upload>): Promise<Reply> {
  const request = signedRequest(body(recordUpload.template.form, values));
  const response = await handleCallback(recordUpload, request, runtime);
  const ms = Date.now() - request.receivedAt!;
  return { status: response.status, body: JSON.parse(response.body.toString('utf8')), ms };
}

export function expectOk(reply: Reply, duplicate?: boolean): string {
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.match(String(reply.body.id), /^[0-9a-f-]{36}$/);
  if (duplicate !== undefined) assert.equal(reply.body.duplicate, duplicate);
  return reply.body.id!;
}

export function expectError(reply: Reply, code: string, status: number, withinMs: number): void {
  assert.equal(reply.body.error?.code, code, `expected ${code}, got ${reply.status} ${JSON.stringify(reply.body)}`);
  assert.equal(reply.status, status);
  assert.ok(reply.ms < withinMs, `${code} after ${reply.ms} ms (must be < ${withinMs} ms)`);
}

/** A runtime on `url`, as one FC instance (the store is shared by the runtimes of this process on the same URL). */
export function runtimeOn(url: string, deadlineMs = 4000): TestRuntime {
  return testRuntime({ databaseUrl: url, deadlineMs });
}

/** A runtime with a store (a pool) of its own, as a separate FC instance: opens and migrates on first use. */
export function separateInstance(url: string, opened: Store[]): TestRuntime {
  let ready: Promise<Store> | undefined;
  return testRuntime(
    { databaseUrl: url },
    {
      storeFor: (job) =>
        (ready ??= (async () => {
          const store = await openStore(url);
          opened.push(store);
          await store.migrate(job.tables);
          return store;
        })()),
    },
  );
}

/** The upload's idempotency key: from bucket, key and ETag (the request id is only a hint). */
export const keyOf = (values: ReturnType<typeof upload>): string =>
  objectIdempotencyKey({ bucket: String(values.bucket), key: String(values.object), etag: String(values.etag) });

/** The upload's records (by idempotency key). */
export async function recordsOf(db: Db, values: ReturnType<typeof upload>): Promise<UploadRecord[]> {
  return (await records(db, String(values.bucket))).filter((row) => row.idempotencyKey === keyOf(values));
}

/** For `LATE_COMMIT_CHECK_MS`, checks every 250 ms that the upload has no record. */
export async function expectNothingCommitted(db: Db, values: ReturnType<typeof upload>): Promise<void> {
  const until = Date.now() + LATE_COMMIT_CHECK_MS;
  for (;;) {
    assert.deepEqual(await recordsOf(db, values), [], 'a record was committed after a failed reply');
    if (Date.now() >= until) return;
    await sleep(250);
  }
}

/** Transactions left open on the server in `db` (PostgreSQL: sessions idle or active in one; MySQL: InnoDB transactions). */
async function openTransactions(db: Db): Promise<number> {
  if (db.kind === 'postgres') {
    const [row] = await db.query(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start IS NOT NULL",
    );
    return Number(row?.n);
  }
  const [row] = await db.query(
    'SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID()',
  );
  return Number(row?.n);
}

/** Open transactions in `db` drop to none within `ms` (the server saw the client's connection close). */
async function expectNoOpenTransactions(db: Db, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  let open = await openTransactions(db);
  while (open > 0 && Date.now() < until) {
    await sleep(100);
    open = await openTransactions(db);
  }
  assert.equal(open, 0, `${open} transaction(s) still open on the server`);
}

/** The tests every store passes (and, for PostgreSQL and MySQL, their faults through a proxy). */
export function guaranteeSuite(target: Target): void {
  const { name } = target;
  const ready = async (t: TestContext): Promise<boolean> => (target.server ? requireServer(t, target.server) : true);
  let shared: Promise<Db> | undefined;
  /** The database most tests share (each with buckets of its own). */
  const sharedDb = (): Promise<Db> => (shared ??= freshDb(target));

  test(`${name}: a 200 reply means the record is committed (read back at once over another connection)`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const runtime = runtimeOn(db.url);
    const bucket = `g-${uniqueSuffix()}-commit`;
    for (let i = 0; i < 5; i++) {
      const values = upload(bucket, { size: 1000 + i });
      const id = expectOk(await send(runtime, values), false);
      const rows = (await records(db, bucket)).filter((row) => row.id === id);
      assert.deepEqual(rows, [{ id, idempotencyKey: keyOf(values), object: values.object, size: 1000 + i }]);
    }
    assert.equal((await records(db, bucket)).length, 5);
  });

  test(`${name}: the same upload delivered 50 times at once: one record, every reply 200 with its id, one duplicate:false`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const runtime = runtimeOn(db.url);
    const bucket = `g-${uniqueSuffix()}-dup`;
    expectOk(await send(runtime, upload(bucket))); // migrated and connected: the 50 below race on the row only
    const values = upload(bucket);
    const replies = await Promise.all(Array.from({ length: 50 }, () => send(runtime, values)));
    const ids = new Set(replies.map((reply) => expectOk(reply)));
    assert.equal(ids.size, 1, `replies carry ${ids.size} different ids`);
    assert.equal(replies.filter((reply) => reply.body.duplicate === false).length, 1);
    assert.deepEqual((await recordsOf(db, values)).map((row) => row.id), [...ids]);
  });

  test(`${name}: 5 separate instances (own pools) starting cold at once on empty tables, 10 deliveries each: one record`, async (t) => {
    if (!(await ready(t))) return;
    const db = await freshDb(target); // nothing migrated yet: the instances also race to create the tables
    const opened: Store[] = [];
    t.after(() => Promise.allSettled(opened.map((store) => store.close())));
    const instances = Array.from({ length: 5 }, () => separateInstance(db.url, opened));
    const bucket = `g-${uniqueSuffix()}-inst`;
    const values = upload(bucket);
    const replies = await Promise.all(instances.flatMap((runtime) => Array.from({ length: 10 }, () => send(runtime, values))));
    const ids = new Set(replies.map((reply) => expectOk(reply)));
    assert.equal(ids.size, 1);
    assert.equal(replies.filter((reply) => reply.body.duplicate === false).length, 1);
    assert.deepEqual((await records(db, bucket)).map((row) => row.id), [...ids]);
    assert.equal(opened.length, 5);
  });

  if (target.kind !== 'sqlite') serverFaults(target, ready, sharedDb);
}

/** Faults of a client/server store, through a proxy between the function and the server. */
function serverFaults(target: Target, ready: (t: TestContext) => Promise<boolean>, sharedDb: () => Promise<Db>): void {
  const { name } = target;
  const kind = target.kind as 'postgres' | 'mysql';

  /** A proxy to `db`'s server; the store URL points at it (with extra parameters), closed after the test. */
  const proxied = async (t: TestContext, db: Db, params: Record<string, string> = {}): Promise<{ proxy: Proxy; url: string }> => {
    const proxy = await startProxy(db.url);
    t.after(() => proxy.close());
    return { proxy, url: Object.keys(params).length > 0 ? withParams(proxy.url, params) : proxy.url };
  };

  test(`${name}: unreachable at the very first request (migration fails) → 503 StoreUnavailable < 3 s, nothing written; once it is back on the same port the next request succeeds`, async (t) => {
    if (!(await ready(t))) return;
    const db = await freshDb(target); // the tables do not exist: the recovered request must create them
    const { proxy, url } = await proxied(t, db);
    proxy.close(); // nothing listens on the port now: connection refused
    const runtime = runtimeOn(url);
    const bucket = `g-${uniqueSuffix()}-down0`;
    for (let i = 0; i < 2; i++) {
      const reply = await send(runtime, upload(bucket));
      expectError(reply, 'StoreUnavailable', 503, UNAVAILABLE_WITHIN_MS);
      assert.match(reply.body.error!.message, /connection refused/);
      t.diagnostic(`StoreUnavailable (refused, first request) after ${reply.ms} ms`);
    }
    assert.deepEqual(await records(db, bucket), []);
    await proxy.reopen();
    const values = upload(bucket);
    const reply = await send(runtime, values);
    const id = expectOk(reply, false);
    t.diagnostic(`first request after recovery (migrates): ${reply.ms} ms`);
    assert.deepEqual((await records(db, bucket)).map((row) => row.id), [id]);
  });

  test(`${name}: store goes away after working → 503 StoreUnavailable < 3 s, nothing written; back on the same port → the next request succeeds`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const { proxy, url } = await proxied(t, db);
    const runtime = runtimeOn(url);
    const bucket = `g-${uniqueSuffix()}-down`;
    expectOk(await send(runtime, upload(bucket)), false); // pooled connections now exist
    expectOk(await send(runtime, upload(bucket)), false);
    proxy.close();
    const failed = upload(bucket);
    for (let i = 0; i < 3; i++) {
      const reply = await send(runtime, failed);
      expectError(reply, 'StoreUnavailable', 503, UNAVAILABLE_WITHIN_MS);
      t.diagnostic(`StoreUnavailable (store went away) after ${reply.ms} ms`);
    }
    await proxy.reopen();
    const reply = await send(runtime, failed);
    expectOk(reply, false); // the failed attempts wrote nothing, so this is no duplicate
    t.diagnostic(`first request after recovery: ${reply.ms} ms`);
    assert.equal((await records(db, bucket)).length, 3);
  });

  test(`${name}: a server that accepts connections but never answers (firewalled, stalled) → 503 after the connect timeout, < 3 s; then recovers`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const { proxy, url } = await proxied(t, db);
    proxy.hang();
    const runtime = runtimeOn(url);
    const bucket = `g-${uniqueSuffix()}-stall`;
    const reply = await send(runtime, upload(bucket));
    expectError(reply, 'StoreUnavailable', 503, UNAVAILABLE_WITHIN_MS);
    assert.match(reply.body.error!.message, /timed out|timeout/i);
    t.diagnostic(`StoreUnavailable (no answer at connect) after ${reply.ms} ms`);
    proxy.resume();
    expectOk(await send(runtime, upload(bucket)), false);
    assert.equal((await records(db, bucket)).length, 1);
  });

  // The four cases run at once (each through a proxy of its own): each waits LATE_COMMIT_CHECK_MS.
  test(`${name}: a store that hangs mid-way → DeadlineExceeded within the deadline, nothing committed later, the next callback succeeds`, { concurrency: true }, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const cases: Promise<void>[] = [];

    cases.push(t.test('every connection stalls (between two callbacks)', async (t) => {
      const { proxy, url } = await proxied(t, db);
      const runtime = runtimeOn(url, SHORT_DEADLINE_MS);
      const bucket = `g-${uniqueSuffix()}-hang`;
      expectOk(await send(runtime, upload(bucket)), false);
      proxy.hang();
      const values = upload(bucket);
      const reply = await send(runtime, values);
      expectError(reply, 'DeadlineExceeded', 504, SHORT_DEADLINE_MS + DEADLINE_SLACK_MS);
      t.diagnostic(`DeadlineExceeded (stalled before BEGIN) after ${reply.ms} ms, deadline ${SHORT_DEADLINE_MS} ms`);
      proxy.resume(); // whatever was held is delivered now
      await expectNothingCommitted(db, values);
      const again = await send(runtime, values);
      expectOk(again, false);
      t.diagnostic(`next callback after the stall: ${again.ms} ms`);
      await expectNoOpenTransactions(db);
    }));

    cases.push(t.test('the COMMIT is held up in the network past the deadline, then delivered', async (t) => {
      const { proxy, url } = await proxied(t, db);
      const runtime = runtimeOn(url, SHORT_DEADLINE_MS);
      const bucket = `g-${uniqueSuffix()}-hold`;
      expectOk(await send(runtime, upload(bucket)), false);
      const held = proxy.trip(COMMIT_MARKER[kind], 'hold'); // the INSERT ran; COMMIT does not arrive
      const values = upload(bucket);
      const reply = await send(runtime, values);
      await held;
      expectError(reply, 'DeadlineExceeded', 504, SHORT_DEADLINE_MS + DEADLINE_SLACK_MS);
      t.diagnostic(`DeadlineExceeded (COMMIT held) after ${reply.ms} ms`);
      await sleep(100);
      proxy.resume(); // the network comes back 100 ms after the reply: a COMMIT still on its way arrives now
      await expectNothingCommitted(db, values);
      expectOk(await send(runtime, values), false);
      assert.equal((await records(db, bucket)).length, 2);
      await expectNoOpenTransactions(db);
    }));

    cases.push(t.test('the COMMIT is lost (connection silent for good)', async (t) => {
      const { proxy, url } = await proxied(t, db);
      const runtime = runtimeOn(url, SHORT_DEADLINE_MS);
      const bucket = `g-${uniqueSuffix()}-lost`;
      expectOk(await send(runtime, upload(bucket)), false);
      const silenced = proxy.trip(COMMIT_MARKER[kind], 'silence');
      const values = upload(bucket);
      const reply = await send(runtime, values);
      await silenced;
      expectError(reply, 'DeadlineExceeded', 504, SHORT_DEADLINE_MS + DEADLINE_SLACK_MS);
      await expectNothingCommitted(db, values);
      const again = await send(runtime, values);
      expectOk(again, false);
      t.diagnostic(`next callback after a lost COMMIT: ${again.ms} ms`);
      await expectNoOpenTransactions(db);
    }));

    cases.push(t.test('the store hangs at the very first request (during the migration check)', async (t) => {
      const fresh = await freshDb(target);
      const { proxy, url } = await proxied(t, fresh);
      const runtime = runtimeOn(url, SHORT_DEADLINE_MS);
      const bucket = `g-${uniqueSuffix()}-hang0`;
      proxy.hang();
      const values = upload(bucket);
      const reply = await send(runtime, values);
      expectError(reply, 'DeadlineExceeded', 504, SHORT_DEADLINE_MS + DEADLINE_SLACK_MS);
      t.diagnostic(`DeadlineExceeded (hang at first request) after ${reply.ms} ms`);
      proxy.resume();
      await expectNothingCommitted(fresh, values);
      const again = await send(runtime, values);
      expectOk(again, false);
      t.diagnostic(`next callback after the first-request hang: ${again.ms} ms`);
    }));
    await Promise.all(cases);
  });

  test(`${name}: a connection reset mid-transaction (at COMMIT) → 503 StoreUnavailable, nothing written; the next callback succeeds`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const { proxy, url } = await proxied(t, db);
    const runtime = runtimeOn(url);
    const bucket = `g-${uniqueSuffix()}-reset`;
    expectOk(await send(runtime, upload(bucket)), false);
    const reset = proxy.trip(COMMIT_MARKER[kind], 'reset');
    const values = upload(bucket);
    const reply = await send(runtime, values);
    await reset;
    expectError(reply, 'StoreUnavailable', 503, UNAVAILABLE_WITHIN_MS);
    t.diagnostic(`StoreUnavailable (reset at COMMIT) after ${reply.ms} ms: ${reply.body.error?.message}`);
    await expectNothingCommitted(db, values);
    expectOk(await send(runtime, values), false);
    await expectNoOpenTransactions(db);
  });

  test(`${name}: the deadline passes while the INSERT waits for a row lock → DeadlineExceeded; rolled back, not committed later; no stuck connection`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const applicationName = `g-lock-${uniqueSuffix()}`;
    const runtime = runtimeOn(withParams(db.url, kind === 'postgres' ? { application_name: applicationName } : { pool_max: '2' }), SHORT_DEADLINE_MS);
    const bucket = `g-${uniqueSuffix()}-lock`;
    expectOk(await send(runtime, upload(bucket)), false);
    const values = upload(bucket);

    // Another instance inserted the same upload and has not committed yet: the callback's INSERT waits.
    const other = await openStore(db.url);
    t.after(() => other.close());
    let release!: () => void;
    const holding = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = other
      .transaction(async (tx) => {
        await tx.insertOnce(uploads, {
          id: newId(),
          idempotencyKey: keyOf(values),
          bucket,
          object: 'held',
          etag: 'E',
          size: 1,
          mimeType: null,
          imageWidth: null,
          imageHeight: null,
          imageFormat: null,
          crc64: null,
          contentMd5: null,
          vpcId: null,
          clientIp: '203.0.113.9',
          ossRequestId: String(values.reqId),
          operation: 'PutObject',
          custom: {},
          receivedAt: new Date(),
          objectHash: null,
          ossCreatedAt: null,
          ossCreatedFrom: null,
          ossRemovedAt: null,
          deletedAt: null,
          eventRequestId: null,
          callbackAt: null,
        });
        locked();
        await holding;
        throw new Error('roll back'); // the other instance fails: its row never existed
      })
      .catch((error: Error) => error.message);
    await isLocked;

    const reply = await send(runtime, values);
    expectError(reply, 'DeadlineExceeded', 504, SHORT_DEADLINE_MS + DEADLINE_SLACK_MS);
    t.diagnostic(`DeadlineExceeded (INSERT waiting for a lock) after ${reply.ms} ms`);
    release();
    assert.equal(await holder, 'roll back');
    // The callback's transaction would now go on (the lock is free) were it not rolled back.
    await expectNothingCommitted(db, values);
    await expectNoOpenTransactions(db);
    // The pool is whole: the same upload, then more callbacks at once than it has connections, all fast.
    const started = Date.now();
    expectOk(await send(runtime, values), false);
    for (const reply of await Promise.all(Array.from({ length: 4 }, () => send(runtime, upload(bucket))))) expectOk(reply, false);
    const ms = Date.now() - started;
    assert.ok(ms < 1000, `5 callbacks after the abort took ${ms} ms: a stuck pooled connection?`);
    t.diagnostic(`5 callbacks after the abort: ${ms} ms`);
    if (kind === 'postgres') {
      const [row] = await db.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = ?', [applicationName]);
      assert.ok(Number(row?.n) <= 2, `${row?.n} server connections for a pool of 2`);
    }
  });

  test(`${name}: connections killed while the instance was frozen, between two callbacks → the second succeeds`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const bucket = `g-${uniqueSuffix()}-kill`;
    let url: string;
    let kill: () => Promise<void>;
    if (kind === 'postgres') {
      const applicationName = `g-kill-${uniqueSuffix()}`;
      url = withParams(db.url, { application_name: applicationName });
      kill = async () => killConnectionsWhileFrozen(db.url, applicationName);
    } else {
      const before = await mysqlConnectionId(db.url);
      url = withParams(db.url, { idle_timeout_ms: '30001' }); // a URL (so a pool) of this test's own
      kill = async () => {
        const ids = await mysqlIdleConnectionsSince(db.url, before);
        assert.ok(ids.length > 0, 'found no connection to kill');
        killConnectionsWhileFrozen(db.url, ids);
      };
    }
    const runtime = runtimeOn(url);
    expectOk(await send(runtime, upload(bucket)), false);
    for (let round = 0; round < 2; round++) {
      await kill();
      const reply = await send(runtime, upload(bucket));
      expectOk(reply, false);
      t.diagnostic(`callback after its connections were killed: ${reply.ms} ms`);
    }
    assert.equal((await records(db, bucket)).length, 3);
  });

  test(`${name}: pooled connections that went silent while the instance was frozen → the next callback succeeds`, async (t) => {
    if (!(await ready(t))) return;
    const db = await sharedDb();
    const { proxy, url } = await proxied(t, db, { connect_timeout_ms: '500' });
    const runtime = runtimeOn(url);
    const bucket = `g-${uniqueSuffix()}-silent`;
    await Promise.all([send(runtime, upload(bucket)), send(runtime, upload(bucket))]); // two pooled connections
    proxy.silenceExisting();
    const reply = await send(runtime, upload(bucket));
    expectOk(reply, false);
    t.diagnostic(`callback after its connections went silent: ${reply.ms} ms (connect_timeout_ms=500)`);
    assert.equal((await records(db, bucket)).length, 3);
  });
}
