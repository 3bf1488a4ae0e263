import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineTable, openStore } from '../../../shared/store/index.js';
import { dropTables, killConnectionsWhileFrozen, MYSQL, mysqlConnectionId, mysqlIdleConnectionsSince, rawQuery, requireServer, uniqueSuffix } from '../../helpers/stores.js';
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
