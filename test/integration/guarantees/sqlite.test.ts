/**
 * The guarantees on the embedded SQLite store, plus its own faults: a database that cannot be opened
 * (then can), and one locked by another process (a writer that holds the lock: the SQLite "hang").
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempSqlite } from '../../helpers/stores.js';
import {
  DEADLINE_SLACK_MS,
  expectError,
  expectNothingCommitted,
  expectOk,
  freshDb,
  guaranteeSuite,
  records,
  recordsOf,
  runtimeOn,
  send,
  sqliteDb,
  SHORT_DEADLINE_MS,
  UNAVAILABLE_WITHIN_MS,
  upload,
  type Db,
} from './suite.js';

const target = { name: 'SQLite', kind: 'sqlite' } as const;
guaranteeSuite(target);

/** Another process's connection to the database file, holding the write lock until `release()`. */
async function lockedByAnotherProcess(db: Db): Promise<{ release(): void }> {
  const { default: Database } = await import('libsql');
  const other = new Database(db.url.slice('sqlite:'.length));
  other.exec('BEGIN IMMEDIATE');
  return {
    release: () => {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    },
  };
}

test('SQLite: a database that cannot be opened at the first request → 503 StoreUnavailable < 3 s; once it can, the next request succeeds', async (t) => {
  const folder = tempSqlite();
  t.after(() => folder.remove());
  const blocker = join(folder.folder, 'data');
  writeFileSync(blocker, ''); // a regular file where the database's folder must go
  const url = `sqlite:${blocker}/callbacks.db`;
  const runtime = runtimeOn(url);
  const bucket = 'g-sqlite-open';
  const reply = await send(runtime, upload(bucket));
  expectError(reply, 'StoreUnavailable', 503, UNAVAILABLE_WITHIN_MS);
  t.diagnostic(`StoreUnavailable (cannot open) after ${reply.ms} ms`);
  rmSync(blocker);
  const values = upload(bucket);
  const id = expectOk(await send(runtime, values), false);
  assert.deepEqual((await records(sqliteDb(url), bucket)).map((row) => row.id), [id]);
});

test('SQLite: locked by another process for longer than busy_timeout_ms → 503 StoreUnavailable < 3 s, nothing written; released → the next request succeeds', async (t) => {
  const db = await freshDb(target);
  const runtime = runtimeOn(`${db.url}?busy_timeout_ms=300`);
  const bucket = 'g-sqlite-busy';
  expectOk(await send(runtime, upload(bucket)), false);
  const lock = await lockedByAnotherProcess(db);
  const values = upload(bucket);
  try {
    const reply = await send(runtime, values);
    expectError(reply, 'StoreUnavailable', 503, UNAVAILABLE_WITHIN_MS);
    assert.match(reply.body.error!.message, /locked/);
    t.diagnostic(`StoreUnavailable (locked, busy_timeout_ms=300) after ${reply.ms} ms`);
  } finally {
    lock.release();
  }
  assert.deepEqual(await recordsOf(db, values), []);
  expectOk(await send(runtime, values), false);
});

test('SQLite: locked by another process past the deadline → DeadlineExceeded within it, nothing committed later; released → the next request succeeds', async (t) => {
  const db = await freshDb(target);
  const runtime = runtimeOn(db.url, SHORT_DEADLINE_MS); // busy_timeout_ms 3000 (default) > the deadline
  const bucket = 'g-sqlite-hang';
  expectOk(await send(runtime, upload(bucket)), false);
  const lock = await lockedByAnotherProcess(db);
  const values = upload(bucket);
  let released = false;
  try {
    const reply = await send(runtime, values);
    expectError(reply, 'DeadlineExceeded', 504, SHORT_DEADLINE_MS + DEADLINE_SLACK_MS);
    t.diagnostic(`DeadlineExceeded (locked) after ${reply.ms} ms, deadline ${SHORT_DEADLINE_MS} ms`);
    lock.release();
    released = true;
    await expectNothingCommitted(db, values);
  } finally {
    if (!released) lock.release();
  }
  const again = await send(runtime, values);
  expectOk(again, false);
  t.diagnostic(`next callback after the lock was released: ${again.ms} ms`);
});
