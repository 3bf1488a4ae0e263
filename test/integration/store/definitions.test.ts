/** The parts of the store layer that need no database: table definitions, ids, URLs, the store cache. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeStores, defineTable, getStore, newId, openStore, storeLabel, type ColumnDef } from '../../../shared/store/index.js';
import { CallbackError } from '../../../shared/protocol/errors.js';
import { columnName } from '../../../shared/store/table.js';

const id = { type: 'string', maxLength: 36 } as const;

test('defineTable infers the row type and maps field names to snake_case columns', () => {
  const table = defineTable(
    'demo_rows',
    { id, objectKey: { type: 'string' }, size: { type: 'bigint' }, note: { type: 'text', nullable: true }, at: { type: 'timestamp' }, ok: { type: 'bool' } },
    { primaryKey: ['id'], unique: [['objectKey']], indexes: [['at', 'ok']] },
  );
  type Row = NonNullable<(typeof table)['__row']>;
  const row: Row = { id: 'a', objectKey: 'k', size: 1, note: null, at: new Date(), ok: true };
  // @ts-expect-error size is a number
  const wrong: Row = { ...row, size: '1' };
  // @ts-expect-error note may be null, objectKey may not
  const wrong2: Row = { ...row, objectKey: null };
  void wrong;
  void wrong2;
  assert.deepEqual(table.unique, [['objectKey']]);
  assert.equal(columnName('objectKey'), 'object_key');
  assert.equal(columnName('contentMD5Hash'), 'content_md5_hash');
  assert.equal(columnName('x'), 'x');
});

test('defineTable refuses mistakes at definition time', () => {
  const cols = { id, name: { type: 'string' }, body: { type: 'text' }, data: { type: 'json' }, maybe: { type: 'int', nullable: true } } satisfies Record<string, ColumnDef>;
  const cases: [string, () => unknown, RegExp][] = [
    ['unknown key field', () => defineTable('t_a', cols, { primaryKey: ['nope' as 'id'] }), /unknown field "nope"/],
    ['text in an index', () => defineTable('t_a', cols, { primaryKey: ['id'], indexes: [['body']] }), /'text' column, which cannot be indexed/],
    ['json in a unique key', () => defineTable('t_a', cols, { primaryKey: ['id'], unique: [['data']] }), /'json' column/],
    ['nullable primary key', () => defineTable('t_a', cols, { primaryKey: ['maybe'] }), /must not be nullable/],
    ['empty key', () => defineTable('t_a', cols, { primaryKey: [] }), /primaryKey has no fields/],
    ['bad table name', () => defineTable('Bad-Name', cols, { primaryKey: ['id'] }), /snake_case/],
    ['bad field name', () => defineTable('t_a', { id, snake_case: { type: 'int' } }, { primaryKey: ['id'] }), /camelCase/],
    ['unknown type', () => defineTable('t_a', { id, x: { type: 'float' as 'int' } }, { primaryKey: ['id'] }), /unknown type "float"/],
    ['maxLength on int', () => defineTable('t_a', { id, x: { type: 'int', maxLength: 3 } }, { primaryKey: ['id'] }), /maxLength only applies/],
    ['key too long for MySQL', () => defineTable('t_a', { id, x: { type: 'string', maxLength: 1000 } }, { primaryKey: ['id'], unique: [['x']] }), /too long for a MySQL index/],
    ['migration adds a non-nullable column', () => defineTable('t_a', cols, { primaryKey: ['id'], migrations: [{ name: 'add', up: [{ addColumn: 'name' }] }] }), /must be nullable/],
    ['migration adds an unknown column', () => defineTable('t_a', cols, { primaryKey: ['id'], migrations: [{ name: 'add', up: [{ addColumn: 'nope' as 'id' }] }] }), /unknown field "nope"/],
    ['duplicate migration', () => defineTable('t_a', cols, { primaryKey: ['id'], migrations: [{ name: 'a', up: [{ addIndex: ['name'] }] }, { name: 'a', up: [{ addIndex: ['maybe'] }] }] }), /listed twice/],
    ['migration named 1', () => defineTable('t_a', cols, { primaryKey: ['id'], migrations: [{ name: '1', up: [{ addIndex: ['name'] }] }] }), /"1" is the creation/],
    ['initial index on a later column', () => defineTable('t_a', cols, { primaryKey: ['id'], indexes: [['maybe']], migrations: [{ name: 'add', up: [{ addColumn: 'maybe' }] }] }), /which a later migration adds/],
    ['index before its column is added', () => defineTable('t_a', cols, { primaryKey: ['id'], migrations: [{ name: 'idx', up: [{ addIndex: ['maybe'] }] }, { name: 'add', up: [{ addColumn: 'maybe' }] }] }), /which a later migration adds/],
  ];
  for (const [what, define, message] of cases) assert.throws(define, message, what);
});

test('newId returns UUIDv7s that sort by creation time', () => {
  const ids = Array.from({ length: 5000 }, newId);
  for (const value of ids) assert.match(value, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids, 'strictly increasing within a process');
  const ms = parseInt(ids[0]!.replace(/-/g, '').slice(0, 12), 16);
  assert.ok(Math.abs(ms - Date.now()) < 5000, 'the first 48 bits are the Unix time in ms');
});

test('storeLabel never shows the password or parameters', () => {
  assert.equal(storeLabel('postgres://app:s3cret@db.internal:5433/callbacks?sslmode=require'), 'postgres://app@db.internal:5433/callbacks');
  assert.equal(storeLabel('mysql://root:p%40ss@127.0.0.1/test'), 'mysql://root@127.0.0.1/test');
  assert.equal(storeLabel('sqlite:.data/callbacks.db?busy_timeout_ms=100'), 'sqlite:.data/callbacks.db');
  assert.equal(storeLabel('postgres://u:pw@[bad'), 'postgres:(unparseable URL)');
});

test('openStore rejects an unknown scheme and names the supported ones', async () => {
  await assert.rejects(openStore('mongodb://localhost/x'), /Unsupported database URL scheme "mongodb:"; supported: sqlite:<path>.*postgres:\/\/.*mysql:\/\//);
  await assert.rejects(openStore('callbacks.db'), /Unsupported database URL scheme/);
  await assert.rejects(openStore('postgres://localhost/x?pool_max=0'), /pool_max .* must be an integer >= 1/);
  await assert.rejects(openStore('mysql://localhost/x?sslmode=on'), /unknown URL parameter\(s\) sslmode/);
});

test('a DATABASE_URL it cannot use is a ConfigurationError naming DATABASE_URL and the problem, never the password', async () => {
  const cases: [string, RegExp][] = [
    ['mongodb://app:hunter2@db.internal/x', /^DATABASE_URL \(mongodb:\/\/app@db.internal\/x\): Unsupported database URL scheme "mongodb:"/],
    ['postgres://app:hunter2@db.internal/x?pool_max=abc', /^DATABASE_URL \(postgres:\/\/app@db.internal\/x\): pool_max \(DATABASE_POOL_MAX\) must be an integer >= 1, got "abc"$/],
    ['mysql://app:p%40hunter2@db.internal/x?connect_timeout_ms=-1', /^DATABASE_URL \(mysql:\/\/app@db.internal\/x\): connect_timeout_ms \(DATABASE_CONNECT_TIMEOUT_MS\) must be an integer >= 0/],
    ['postgres://app:hunter2@[bad/x', /^DATABASE_URL \(postgres:\(unparseable URL\)\): is not a valid URL/],
    ['mysql://app:hunter2@db.internal/x?hunter2=1', /^DATABASE_URL \(mysql:\/\/app@db.internal\/x\): mysql: unknown URL parameter\(s\) \*\*\*$/],
  ];
  for (const [url, message] of cases) {
    await assert.rejects(openStore(url), (error: unknown) => {
      assert.ok(error instanceof CallbackError, String(error));
      assert.equal(error.code, 'ConfigurationError');
      assert.equal(error.status, 500);
      assert.match(error.message, message);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  }
});

test('getStore returns one store per URL until closeStores()', async () => {
  const [a, b] = await Promise.all([getStore('sqlite::memory:'), getStore('sqlite::memory:')]);
  assert.equal(a, b);
  assert.equal(a.kind, 'sqlite');
  assert.equal(a.label, 'sqlite::memory:');
  await closeStores();
  const c = await getStore('sqlite::memory:');
  assert.notEqual(c, a);
  await c.close(); // closing it directly also forgets it
  assert.notEqual(await getStore('sqlite::memory:'), c);
  await closeStores();
});
