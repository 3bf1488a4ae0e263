import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineTable, openStore } from '../../../shared/store/index.js';
import { dropTables, killConnectionsWhileFrozen, MYSQL, mysqlConnectionId, mysqlIdleConnectionsSince, rawQuery, requireServer, uniqueSuffix, withParams } from '../../helpers/stores.js';
import { serverSuite } from './server-suite.js';

serverSuite({
  kind: 'mysql',
  server: MYSQL,
  unreachableUrl: 'mysql://root:s3cret@127.0.0.1:1/test',
  withDatabase: (url, database) => {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
  },
  async killable() {
    // Connection ids grow: the store's connections are the idle ones opened after this one.
    const before = await mysqlConnectionId(MYSQL.url);
    return {
      url: MYSQL.url,
      kill: async () => {
        const ids = await mysqlIdleConnectionsSince(MYSQL.url, before);
        if (ids.length === 0) throw new Error('found no connection of the store to kill');
        killConnectionsWhileFrozen(MYSQL.url, ids);
      },
    };
  },
});

test('MySQL: a table created before @exact-strings (VARCHAR utf8mb4_bin, PAD SPACE) is converted in place by migrate()', async (t) => {
  if (!(await requireServer(t, MYSQL))) return;
  const name = `st_${uniqueSuffix()}_legacy`;
  const table = defineTable(name, { owner: { type: 'string', maxLength: 32 }, bytes: { type: 'bigint' }, note: { type: 'text', nullable: true } }, { primaryKey: ['owner'] });
  const stores = [await openStore(MYSQL.url)];
  t.after(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await dropTables(MYSQL.url, [name]);
  });
  // The state an existing deployment is in: @1 recorded (its checksum is dialect-neutral, so the
  // same as today's), the string column VARCHAR with the table's utf8mb4_bin collation.
  await stores[0]!.migrate([table]);
  await rawQuery(MYSQL.url, `ALTER TABLE \`${name}\` MODIFY \`owner\` VARCHAR(32) NOT NULL`);
  await rawQuery(MYSQL.url, 'DELETE FROM oss_callback_migrations WHERE name = ?', [`${name}@exact-strings`]);
  await stores[0]!.transaction((tx) => tx.insert(table, { owner: 'bob', bytes: 10, note: null }));
  // The premise, on this server: PAD SPACE makes "bob " the row of "bob".
  const legacy = await stores[0]!.transaction((tx) => tx.insertOnce(table, { owner: 'bob ', bytes: 5, note: null }));
  assert.equal(legacy.duplicate, true, 'VARCHAR utf8mb4_bin is PAD SPACE here');

  const upgraded = await openStore(MYSQL.url);
  stores.push(upgraded);
  await upgraded.migrate([table]);
  const [column] = await rawQuery(MYSQL.url, 'SELECT DATA_TYPE AS type, CHARACTER_MAXIMUM_LENGTH AS length FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?', [name, 'owner']);
  assert.deepEqual({ type: String(column!.type).toLowerCase(), length: Number(column!.length) }, { type: 'varbinary', length: 128 });
  const recorded = await rawQuery(MYSQL.url, 'SELECT name FROM oss_callback_migrations WHERE name LIKE ?', [`${name}@%`]);
  assert.deepEqual(recorded.map((row) => String(row.name)).sort(), [`${name}@1`, `${name}@exact-strings`]);
  assert.deepEqual(await upgraded.transaction((tx) => tx.get(table, { owner: 'bob' })), { owner: 'bob', bytes: 10, note: null }, 'existing rows survive');
  const exact = await upgraded.transaction((tx) => tx.insertOnce(table, { owner: 'bob ', bytes: 5, note: null }));
  assert.equal(exact.duplicate, false, '"bob " is its own owner after the conversion');
  assert.deepEqual((await upgraded.transaction((tx) => tx.find(table, {}))).map((row) => row.owner).sort(), ['bob', 'bob ']);
  await upgraded.migrate([table]); // idempotent
});

test('MySQL: one pooled connection goes from store.insertOnce (autocommit off) to migrations (autocommit on) and back: all committed, nothing left open', async (t) => {
  if (!(await requireServer(t, MYSQL))) return;
  const names = [`st_${uniqueSuffix()}_ac1`, `st_${uniqueSuffix()}_ac2`];
  const [first, second] = names.map((name) => defineTable(name, { owner: { type: 'string', maxLength: 32 }, bytes: { type: 'bigint' } }, { primaryKey: ['owner'] }));
  const store = await openStore(withParams(MYSQL.url, { pool_max: '1' }));
  t.after(async () => {
    await store.close();
    await dropTables(MYSQL.url, names);
  });
  await store.migrate([first!]);
  assert.deepEqual(await store.insertOnce(first!, { owner: 'a', bytes: 1 }), { row: { owner: 'a', bytes: 1 }, duplicate: false });
  // The same connection (the pool has one) runs the migration's statements outside a transaction.
  await store.migrate([first!, second!]);
  const recorded = await rawQuery(MYSQL.url, 'SELECT name FROM oss_callback_migrations WHERE name LIKE ? OR name LIKE ?', names.map((name) => `${name}@%`));
  const expected = names.flatMap((name) => [`${name}@1`, `${name}@exact-strings`]);
  assert.deepEqual(recorded.map((row) => String(row.name)).sort(), expected.sort(), 'every migration is recorded (committed), as seen from another connection');
  assert.deepEqual(await store.insertOnce(second!, { owner: 'b', bytes: 2 }), { row: { owner: 'b', bytes: 2 }, duplicate: false });
  assert.deepEqual(await store.insertOnce(second!, { owner: 'b', bytes: 3 }), { row: { owner: 'b', bytes: 2 }, duplicate: true });
  assert.deepEqual(await rawQuery(MYSQL.url, `SELECT owner FROM \`${names[0]}\` UNION ALL SELECT owner FROM \`${names[1]}\``).then((rows) => rows.map((row) => String(row.owner))), ['a', 'b']);
  // The duplicate read its row FOR UPDATE: were its transaction left open, the lock would still be held.
  assert.deepEqual(await rawQuery(MYSQL.url, `SELECT owner FROM \`${names[1]}\` WHERE owner = ? FOR UPDATE NOWAIT`, ['b']).then((rows) => rows.length), 1);
});
