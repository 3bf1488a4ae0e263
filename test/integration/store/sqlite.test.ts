import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../../../shared/store/index.js';
import { tempSqlite } from '../../helpers/stores.js';
import { isUnavailable, item, itemsTable, storeContract } from './contract.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const table = itemsTable('st_items');

test('SQLite store contract', async (t) => {
  const db = tempSqlite();
  t.after(() => db.remove());
  await storeContract(t, { kind: 'sqlite', url: db.url, dropTables: async () => {} });
});

test('SQLite: a database path that cannot be written is StoreUnavailable', async (t) => {
  const db = tempSqlite();
  t.after(() => db.remove());
  const file = join(db.folder, 'a-file');
  writeFileSync(file, '');
  const store = await openStore(`sqlite:${file}/sub/callbacks.db`); // a folder inside a regular file
  await assert.rejects(store.migrate([table]), (error: Error) => isUnavailable(error) && /cannot create the folder/.test(error.message));
  await assert.rejects(store.transaction((tx) => tx.get(table, { key: 'x' })), isUnavailable);
  await store.close();

  const store2 = await openStore('sqlite:/proc/no-such-process/callbacks.db');
  await assert.rejects(store2.transaction((tx) => tx.get(table, { key: 'x' })), isUnavailable);
  await store2.close();

  if (process.getuid?.() === 0) {
    t.diagnostic('read-only folder case not run: root may write anywhere');
    return;
  }
  const readOnly = join(db.folder, 'read-only');
  const store3 = await openStore(`sqlite:${readOnly}/callbacks.db`);
  await store3.migrate([table]);
  await store3.close();
  chmodSync(readOnly, 0o555);
  chmodSync(join(readOnly, 'callbacks.db'), 0o444);
  try {
    const store4 = await openStore(`sqlite:${readOnly}/callbacks.db`);
    await assert.rejects(store4.transaction((tx) => tx.insert(table, item())), isUnavailable);
    await store4.close();
  } finally {
    chmodSync(readOnly, 0o755);
  }
});

test('SQLite: parent folders are created; memory databases are private to their store', async (t) => {
  const db = tempSqlite();
  t.after(() => db.remove());
  const store = await openStore(`sqlite:${db.folder}/a/b/callbacks.db`);
  await store.migrate([table]);
  assert.ok(existsSync(join(db.folder, 'a/b/callbacks.db')));
  await store.close();

  const [one, two] = [await openStore('sqlite::memory:'), await openStore('sqlite::memory:')];
  await one.migrate([table]);
  await two.migrate([table]);
  await one.transaction((tx) => tx.insert(table, item({ key: 'only-in-one' })));
  assert.equal((await two.transaction((tx) => tx.find(table, {}))).length, 0);
  assert.equal((await one.transaction((tx) => tx.find(table, {}))).length, 1);
  await Promise.all([one.close(), two.close()]);
});

test('SQLite: concurrent transactions of one store never interleave', async (t) => {
  const db = tempSqlite();
  t.after(() => db.remove());
  const store = await openStore(db.url);
  t.after(() => store.close());
  await store.migrate([table]);
  await store.transaction((tx) => tx.insert(table, item({ key: 'n', count: 0 })));
  // Read, wait, write: without serialization, these would share one BEGIN or lose updates.
  await Promise.all(
    Array.from({ length: 20 }, () =>
      store.transaction(async (tx) => {
        const row = await tx.get(table, { key: 'n' });
        await sleep(Math.random() * 3);
        await tx.update(table, { key: 'n' }, { count: row!.count + 1 });
      }),
    ),
  );
  assert.equal((await store.transaction((tx) => tx.get(table, { key: 'n' })))?.count, 20);
});

test('SQLite: a database locked by another process is StoreUnavailable after busy_timeout_ms', async (t) => {
  const db = tempSqlite();
  t.after(() => db.remove());
  const store = await openStore(db.url);
  await store.migrate([table]);
  await store.close();
  const { default: Database } = await import('libsql');
  const other = new Database(db.url.slice('sqlite:'.length)); // stands in for another process
  other.exec('BEGIN IMMEDIATE');
  t.after(() => other.close());
  const blocked = await openStore(`${db.url}?busy_timeout_ms=200`);
  const started = Date.now();
  await assert.rejects(blocked.transaction((tx) => tx.insert(table, item())), (error: Error) => isUnavailable(error) && /locked/.test(error.message));
  assert.ok(Date.now() - started < 2000);
  other.exec('ROLLBACK');
  await blocked.transaction((tx) => tx.insert(table, item()));
  await blocked.close();
});

test('SQLite: a process that opens a store, writes and never closes it still exits (the checkpoint worker does not hold it)', async (t) => {
  const db = tempSqlite();
  t.after(() => db.remove());
  const storeModule = new URL('../../../shared/store/index.ts', import.meta.url).href;
  const script = `
    const { openStore } = await import(${JSON.stringify(storeModule)});
    const store = await openStore(${JSON.stringify(db.url)});
    await store.transaction(async () => undefined);
    console.log('opened');`;
  const file = join(db.folder, 'forgets-its-store.mts');
  writeFileSync(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  // A generous bound: the process exits on its own in well under a second; only a held handle reaches it.
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  assert.equal(signal, null, `the process had to be killed: something kept it alive\n${out}`);
  assert.equal(code, 0, out);
  assert.match(out, /opened/);
});
