/**
 * PostgreSQL's one-round-trip `insertOnce` (BEGIN, INSERT, deadline guard, COMMIT in one write; see
 * shared/store/pooled.ts): when it is used, that its guard refuses to commit once the deadline (less
 * the margin) has passed by the server's clock, and what happens to duplicates and lost answers.
 * Writes are counted at a TCP proxy: each write of the client arrives there as one chunk.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { isCallbackError } from '../../../shared/protocol/errors.js';
import { openStore } from '../../../shared/store/index.js';
import type { Store } from '../../../shared/store/types.js';
import { dropTables, POSTGRES, rawQuery, requireServer, startProxy, uniqueSuffix, withParams, type Proxy } from '../../helpers/stores.js';
import { item, itemsTable } from './contract.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const far = (): number => performance.now() + 10_000;

async function setup(t: TestContext, params: Record<string, string> = {}): Promise<{ store: Store; proxy: Proxy; table: ReturnType<typeof itemsTable> }> {
  const table = itemsTable(`st_one_${uniqueSuffix()}`);
  const proxy = await startProxy(POSTGRES.url);
  // Migrated by another store: the schema check would sample this store's connection's clock.
  const migrator = await openStore(POSTGRES.url);
  await migrator.migrate([table]);
  await migrator.close();
  const store = await openStore(withParams(proxy.url, { pool_max: '1', ...params }));
  t.after(async () => {
    await store.close();
    proxy.close();
    await dropTables(POSTGRES.url, [table.name]);
  });
  await store.transaction((tx) => tx.get(table, { id: 'none' })); // opens the connection (no clock sample)
  return { store, proxy, table };
}

/** The writes `fn` sends through the proxy. */
async function writes(proxy: Proxy, fn: () => Promise<unknown>): Promise<number> {
  const before = proxy.chunks;
  await fn();
  await sleep(20); // a chunk still on its way through the proxy
  return proxy.chunks - before;
}

const rowsWithKey = async (table: { name: string }, key: string): Promise<number> =>
  Number((await rawQuery(POSTGRES.url, `SELECT count(*) AS n FROM "${table.name}" WHERE "key" = $1`, [key]))[0]?.n);

test('PostgreSQL insertOnce: two round trips on a connection without a clock sample, then one; two without a deadline; a duplicate reads in a second', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t);
  assert.equal(await writes(proxy, () => store.insertOnce(table, item(), { deadline: far() })), 2, 'first: BEGIN + clock + INSERT, then COMMIT');
  for (let i = 0; i < 3; i++) assert.equal(await writes(proxy, () => store.insertOnce(table, item(), { deadline: far() })), 1, 'then one write');
  assert.equal(await writes(proxy, () => store.insertOnce(table, item())), 2, 'no deadline: two');
  const first = item();
  await store.insertOnce(table, first, { deadline: far() });
  let result: { row: { id: string }; duplicate: boolean } | undefined;
  assert.equal(await writes(proxy, async () => (result = await store.insertOnce(table, item({ key: first.key }), { deadline: far() }))), 2);
  assert.deepEqual([result!.row.id, result!.duplicate], [first.id, true]);
  assert.equal(await rowsWithKey(table, first.key), 1);
});

test('PostgreSQL insertOnce: the schema check of a cold start reads the clock in its own query, so the first callback takes one round trip', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { proxy, table } = await setup(t);
  const cold = await openStore(withParams(proxy.url, { pool_max: '1', application_name: `cold-${uniqueSuffix()}` }));
  t.after(() => cold.close());
  assert.equal(await writes(proxy, () => cold.migrate([table])), 2, 'the connection startup, then the schema check in one query');
  assert.equal(await writes(proxy, () => cold.insertOnce(table, item(), { deadline: far() })), 1);
});

test('PostgreSQL insertOnce: the guard refuses to commit once the deadline (less the margin) passed by the server clock → DeadlineExceeded, nothing committed', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t);
  await store.insertOnce(table, item(), { deadline: far() }); // the clock sample
  // Another instance inserts the same key and has not committed: this INSERT waits for its row lock.
  const other = await openStore(POSTGRES.url);
  t.after(() => other.close());
  const row = item();
  let release!: () => void;
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = other
    .transaction(async (tx) => {
      await tx.insertOnce(table, item({ key: row.key }));
      locked();
      await new Promise<void>((resolve) => (release = resolve));
      throw new Error('roll back');
    })
    .catch((error: Error) => error.message);
  await isLocked;
  // No signal: only the guard can stop it. The deadline is 600 ms away, the margin 200 ms.
  const started = performance.now();
  const before = proxy.chunks;
  const attempt = store.insertOnce(table, row, { deadline: started + 600 });
  await sleep(800);
  release(); // the lock is free after the deadline: the INSERT goes on, then the guard
  assert.equal(await holder, 'roll back');
  await assert.rejects(attempt, (error: unknown) => {
    assert.ok(isCallbackError(error) && error.code === 'DeadlineExceeded', String(error));
    assert.match((error as Error).message, /refused to commit because its clock had passed the deadline/);
    return true;
  });
  assert.equal(proxy.chunks - before, 2, 'the guarded commit in one write, then ROLLBACK');
  await sleep(300);
  assert.equal(await rowsWithKey(table, row.key), 0, 'nothing committed');
  // The connection is reused, and commits again.
  const again = await store.insertOnce(table, row, { deadline: far() });
  assert.deepEqual([again.row.id, again.duplicate], [row.id, false]);
});

test('PostgreSQL insertOnce: a clock sample whose round trip took longer than the margin is not used (two round trips, which sample again)', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t, { guard_margin_ms: '100' });
  // The first callback's round trip takes 300 ms (the network stalls, then delivers).
  proxy.hang();
  const slow = writes(proxy, () => store.insertOnce(table, item(), { deadline: far() }));
  await sleep(300);
  proxy.resume();
  assert.equal(await slow, 2);
  assert.equal(await writes(proxy, () => store.insertOnce(table, item(), { deadline: far() })), 2, 'the slow sample is refused');
  assert.equal(await writes(proxy, () => store.insertOnce(table, item(), { deadline: far() })), 1, 'the new sample is used');
  // A deadline closer than the margin: two round trips (the guard would refuse anyway).
  assert.equal(await writes(proxy, () => store.insertOnce(table, item(), { deadline: performance.now() + 90 })), 2);
});

test('PostgreSQL insertOnce: guard_margin_ms=0 turns the one-round-trip commit off', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t, { guard_margin_ms: '0' });
  for (let i = 0; i < 3; i++) assert.equal(await writes(proxy, () => store.insertOnce(table, item(), { deadline: far() })), 2);
});

test('PostgreSQL insertOnce in one round trip: 50 at once with one key → one record, every caller its id, one duplicate:false', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t, { pool_max: '2' });
  await Promise.all([store.insertOnce(table, item(), { deadline: far() }), store.insertOnce(table, item(), { deadline: far() })]); // both connections sampled
  const key = `k-${uniqueSuffix()}`;
  const before = proxy.chunks;
  const results = await Promise.all(Array.from({ length: 50 }, () => store.insertOnce(table, item({ key }), { deadline: far() })));
  const ids = new Set(results.map((r) => r.row.id));
  assert.equal(ids.size, 1);
  assert.equal(results.filter((r) => !r.duplicate).length, 1);
  assert.equal(await rowsWithKey(table, key), 1);
  assert.ok(proxy.chunks - before < 50 * 2, `${proxy.chunks - before} writes for 50 calls: the one-round-trip commit was not used`);
});

test('PostgreSQL insertOnce in one round trip: the write committed but its answer was lost → replaced connection, the row found is its own: duplicate:false', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t, { connect_timeout_ms: '500' });
  await store.insertOnce(table, item(), { deadline: far() });
  const muted = proxy.trip('COMMIT\0', 'mute'); // the write arrives and commits; nothing comes back
  const row = item();
  const started = Date.now();
  const result = await store.insertOnce(table, row, { deadline: far() });
  await muted;
  assert.deepEqual([result.row.id, result.duplicate], [row.id, false]);
  assert.ok(Date.now() - started >= 500, 'answered only after the connect timeout');
  assert.equal(await rowsWithKey(table, row.key), 1);
  // A true duplicate found after such a retry stays one: the row carries another call's primary key.
  const first = item();
  await store.insertOnce(table, first, { deadline: far() });
  const muted2 = proxy.trip('COMMIT\0', 'mute');
  const duplicate = await store.insertOnce(table, item({ key: first.key }), { deadline: far() });
  await muted2;
  assert.deepEqual([duplicate.row.id, duplicate.duplicate], [first.id, true]);
  assert.equal(await rowsWithKey(table, first.key), 1);
});

test('PostgreSQL insertOnce in one round trip: values written as literals read back exactly (quotes, backslashes, $n, Unicode, JSON, bigint, timestamps)', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t);
  await store.insertOnce(table, item(), { deadline: far() });
  const nasty = `it's \\ a '' \\' E'\\x41' $1 $$ $2; COMMIT; DROP TABLE x; -- ünïcödé 😀 \u2028 "q"`;
  const row = item({
    key: `k'\\${uniqueSuffix()}`,
    title: nasty,
    body: `${nasty}\n\ttab\r\n`,
    count: -2147483648,
    big: Number.MAX_SAFE_INTEGER,
    flag: true,
    data: { nasty, list: [1, -2.5, null, true, 'x\\y'], nested: { "'": '\\' } },
    createdAt: new Date('2001-02-03T04:05:06.789Z'),
    seenAt: new Date(0),
  });
  let result: { row: unknown; duplicate: boolean } | undefined;
  assert.equal(await writes(proxy, async () => (result = await store.insertOnce(table, row, { deadline: far() }))), 1);
  assert.deepEqual(result, { row, duplicate: false });
  assert.deepEqual(await store.transaction((tx) => tx.get(table, { id: row.id })), row);
  const empty = item({ title: '', body: null, data: [] as unknown as null });
  assert.equal(await writes(proxy, () => store.insertOnce(table, empty, { deadline: far() })), 1);
  assert.deepEqual(await store.transaction((tx) => tx.get(table, { id: empty.id })), empty);
});

test('PostgreSQL insertOnce in one round trip: any text without NUL reads back exactly as written (property, against the injection the literals could allow)', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const { store, proxy, table } = await setup(t);
  await store.insertOnce(table, item(), { deadline: far() }); // samples the clock
  // Full code points (no lone surrogates: UTF-8 cannot carry them either way), weighted towards the
  // characters a literal must get right.
  const tricky = fc.constantFrom("'", '\\', '$', '1', ';', '"', '\n', 'E', '-', '/*', 'é', '😀');
  const text = fc.array(fc.oneof(tricky, fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 24 }).map((parts) => parts.join('').replaceAll('\0', ''));
  let oneWrite = 0;
  await fc.assert(
    fc.asyncProperty(text, text, async (title, body) => {
      const row = item({ title, body });
      const chunks = await writes(proxy, () => store.insertOnce(table, row, { deadline: far() }));
      if (chunks === 1) oneWrite += 1;
      assert.deepEqual(await store.transaction((tx) => tx.get(table, { id: row.id })), row);
    }),
    { numRuns: 150 },
  );
  assert.ok(oneWrite >= 140, `the one-message path was taken (${oneWrite} of 150)`);
});

test('PostgreSQL: a URL asking for another client_encoding still gets UTF8 (the premise of the literals), and the one-message path round-trips', async (t) => {
  if (!(await requireServer(t, POSTGRES))) return;
  const asks: Record<string, string>[] = [{ client_encoding: 'LATIN1' }, { options: '-c client_encoding=SJIS' }];
  for (const params of asks) {
    const { store, proxy, table } = await setup(t, params);
    await store.insertOnce(table, item(), { deadline: far() });
    const row = item({ title: "表\\' OR 1=1 --", body: 'ソ\\' });
    assert.equal(await writes(proxy, () => store.insertOnce(table, row, { deadline: far() })), 1, JSON.stringify(params));
    assert.deepEqual(await store.transaction((tx) => tx.get(table, { id: row.id })), row);
  }
  const encoding = await rawQuery(withParams(POSTGRES.url, { options: '-c client_encoding=SJIS' }), "SELECT current_setting('client_encoding') AS e");
  assert.equal(encoding[0]?.e, 'UTF8');
});
