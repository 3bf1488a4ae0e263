/**
 * The behaviour every Store backend must have, as one suite: `storeContract(t, target)` runs it as
 * subtests of `t` against fresh, uniquely named tables, and drops them afterwards.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { isCallbackError } from '../../../shared/protocol/errors.js';
import { defineTable, newId, openStore, UniqueViolation, type Store, type Tx } from '../../../shared/store/index.js';
import { migrationsTable } from '../../../shared/store/migrate.js';
import { uniqueSuffix } from '../../helpers/stores.js';

export interface ContractTarget {
  kind: 'sqlite' | 'postgres' | 'mysql';
  /** Every store of the suite is opened on this URL. */
  url: string;
  dropTables(names: readonly string[]): Promise<void>;
}

export function itemsTable(name: string) {
  return defineTable(
    name,
    {
      id: { type: 'string', maxLength: 36 },
      key: { type: 'string', maxLength: 64 },
      title: { type: 'string', nullable: true },
      body: { type: 'text', nullable: true },
      count: { type: 'int' },
      big: { type: 'bigint', nullable: true },
      flag: { type: 'bool' },
      data: { type: 'json', nullable: true },
      createdAt: { type: 'timestamp' },
      seenAt: { type: 'timestamp', nullable: true },
    },
    { primaryKey: ['id'], unique: [['key']], indexes: [['createdAt'], ['flag', 'count']] },
  );
}

export type Item = NonNullable<ReturnType<typeof itemsTable>['__row']>;

export function item(fields: Partial<Item> = {}): Item {
  return { id: newId(), key: newId(), title: null, body: null, count: 0, big: null, flag: false, data: null, createdAt: new Date(), seenAt: null, ...fields };
}

export const isUnavailable = (error: unknown): boolean => isCallbackError(error) && error.code === 'StoreUnavailable';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function storeContract(t: TestContext, target: ContractTarget): Promise<void> {
  const prefix = `st_${uniqueSuffix()}`;
  const tableNames: string[] = [];
  const tableName = (suffix: string): string => {
    tableNames.push(`${prefix}_${suffix}`);
    return `${prefix}_${suffix}`;
  };
  const stores: Store[] = [];
  const open = async (): Promise<Store> => {
    const store = await openStore(target.url);
    stores.push(store);
    return store;
  };
  t.after(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    await target.dropTables(tableNames);
  });

  const store = await open();
  const items = itemsTable(tableName('items'));
  const count = async (key: string): Promise<number | undefined> => (await store.transaction((tx) => tx.get(items, { key })))?.count;

  await t.test('migrate creates the tables and is idempotent', async () => {
    await store.migrate([items]);
    await store.migrate([items]);
    await (await open()).migrate([items, items]);
    const row = item();
    await store.transaction((tx) => tx.insert(items, row));
    assert.deepEqual(await store.transaction((tx) => tx.get(items, { id: row.id })), row);
    const recorded = await store.transaction((tx) => tx.find(migrationsTable, { name: `${items.name}@1` }));
    assert.equal(recorded.length, 1);
    assert.match(recorded[0]!.checksum, /^[0-9a-f]{64}$/);
  });

  await t.test('one string, one identity: keys that differ by trailing spaces, case, normalization or an emoji are distinct', async () => {
    const names = tableName('exact');
    const table = defineTable(names, { name: { type: 'string', maxLength: 16 }, n: { type: 'int' } }, { primaryKey: ['name'] });
    await store.migrate([table]);
    // Each group would be one key under a PAD SPACE (MySQL/MariaDB utf8mb4_bin), case-insensitive
    // or normalizing comparison; here every spelling is its own row.
    const groups = [
      ['a', 'a ', 'a  ', ' a'],
      ['bob', 'Bob', 'BOB'],
      ['\u00e9', 'e\u0301'], // é: NFC, NFD
      ['\u{1F600}', '\u{1F601}', '\u{1F600} '],
      ['a\t', 'a\u00a0'],
    ];
    const all = groups.flat();
    await store.transaction(async (tx) => {
      for (const [i, name] of all.entries()) {
        const { duplicate } = await tx.insertOnce(table, { name, n: i });
        assert.equal(duplicate, false, `${JSON.stringify(name)} collided with an earlier key`);
      }
    });
    for (const [i, name] of all.entries()) {
      const row = await store.transaction((tx) => tx.get(table, { name }));
      assert.deepEqual(row, { name, n: i }, `get(${JSON.stringify(name)})`);
    }
    const listed = await store.transaction((tx) => tx.find(table, {}));
    assert.deepEqual(listed.map((row) => row.name).sort(), [...all].sort());
    assert.equal((await store.transaction((tx) => tx.find(table, { name: 'a ' }))).length, 1);
    assert.equal(await store.transaction((tx) => tx.update(table, { name: 'a' }, { n: 100 })), 1);
    assert.equal((await store.transaction((tx) => tx.get(table, { name: 'a ' })))!.n, 1, 'updating "a" left "a " alone');
    await assert.rejects(store.transaction((tx) => tx.insert(table, { name: 'a ', n: 0 })), UniqueViolation, 'the exact spelling is still unique');
  });

  await t.test('later migrations apply exactly once when several instances migrate at once', async () => {
    const name = tableName('evolving');
    const v1 = defineTable(name, { id: { type: 'string', maxLength: 36 }, label: { type: 'string' } }, { primaryKey: ['id'] });
    await store.migrate([v1]);
    await store.transaction((tx) => tx.insert(v1, { id: 'old', label: 'before the migrations' }));

    const v2 = defineTable(
      name,
      {
        id: { type: 'string', maxLength: 36 },
        label: { type: 'string' },
        extra: { type: 'int', nullable: true },
        tag: { type: 'string', maxLength: 32, nullable: true },
      },
      {
        primaryKey: ['id'],
        migrations: [
          { name: 'add-extra', up: [{ addColumn: 'extra' }] },
          { name: 'add-tag', up: [{ addColumn: 'tag' }, { addIndex: ['tag', 'extra'], unique: true }] },
        ],
      },
    );
    const instances = await Promise.all(Array.from({ length: 6 }, open));
    await Promise.all(instances.map((instance) => instance.migrate([items, v2])));

    const recorded = (await store.transaction((tx) => tx.find(migrationsTable, {}))).map((row) => row.name).filter((n) => n.startsWith(`${name}@`));
    // MySQL: v1's string columns were made VARBINARY by @exact-strings before the later migrations ran.
    const exact = target.kind === 'mysql' ? [`${name}@exact-strings`] : [];
    assert.deepEqual(recorded.sort(), [`${name}@1`, `${name}@add-extra`, `${name}@add-tag`, ...exact]);
    assert.deepEqual(await store.transaction((tx) => tx.get(v2, { id: 'old' })), { id: 'old', label: 'before the migrations', extra: null, tag: null });
    await store.transaction((tx) => tx.insert(v2, { id: 'new', label: 'after', extra: 7, tag: 'x' }));
    await assert.rejects(
      store.transaction((tx) => tx.insert(v2, { id: 'dup', label: 'same tag and extra', extra: 7, tag: 'x' })),
      UniqueViolation,
      'the unique index added by the migration exists',
    );
  });

  await t.test('a migration changed after it was applied is refused', async () => {
    const name = tableName('frozen');
    const original = defineTable(name, { id: { type: 'string', maxLength: 36 }, n: { type: 'int' } }, { primaryKey: ['id'] });
    await store.migrate([original]);
    const changed = defineTable(name, { id: { type: 'string', maxLength: 36 }, n: { type: 'bigint' } }, { primaryKey: ['id'] });
    await assert.rejects((await open()).migrate([changed]), new RegExp(`"${name}@1" was applied with a different definition`));

    const withStep = (unique: boolean) =>
      defineTable(name, { id: { type: 'string', maxLength: 36 }, n: { type: 'int' } }, { primaryKey: ['id'], migrations: [{ name: 'index-n', up: [{ addIndex: ['n'], unique }] }] });
    await store.migrate([withStep(false)]);
    await assert.rejects(store.migrate([withStep(true)]), /"[a-z0-9_]+@index-n" was applied with a different definition/);
    await store.migrate([withStep(false)]); // unchanged: still fine
  });

  await store.migrate([items]);

  await t.test('every column type round-trips', async () => {
    const rows = [
      item({
        title: `Grüße, 世界 😀 'single' "double" \\ back\`tick\` %_ \u200b`,
        body: `${'long text '.repeat(20_000)}é😀`,
        count: -2147483648,
        big: 2 ** 53 - 1,
        flag: true,
        data: { nested: { list: [1, 'two', null, true, 2.5, { deep: 'ünïcödé 😀' }] }, empty: {}, none: [], quote: '"\'\\' },
        createdAt: new Date('2024-02-29T23:59:59.999Z'),
        seenAt: new Date(1),
      }),
      item({ count: 2147483647, big: -(2 ** 53 - 1), data: 'a JSON string', createdAt: new Date('1999-12-31T23:59:59.001Z') }),
      item({ big: 0, data: [1, [2, [3]]], title: '' }),
      item({ data: 42 }),
      item({ data: false }),
      item(), // every nullable column null
    ];
    await store.transaction(async (tx) => {
      for (const row of rows) await tx.insert(items, row);
    });
    for (const row of rows) assert.deepEqual(await store.transaction((tx) => tx.get(items, { id: row.id })), row);
  });

  await t.test('insertOnce inserts once and then returns the original row', async () => {
    const original = item({ key: 'once', title: 'first', data: { n: 1 }, createdAt: new Date('2025-01-01T00:00:00.123Z') });
    const first = await store.transaction((tx) => tx.insertOnce(items, original));
    assert.deepEqual(first, { row: original, duplicate: false });
    const again = await store.transaction((tx) => tx.insertOnce(items, item({ key: 'once', title: 'second' })));
    assert.deepEqual(again, { row: original, duplicate: true });
    const byId = await store.transaction((tx) => tx.insertOnce(items, { ...original, key: 'another', title: 'third' }, ['id']));
    assert.deepEqual(byId, { row: original, duplicate: true });
    // A conflict on a unique key other than the one asked for is a UniqueViolation, not a duplicate.
    await assert.rejects(store.transaction((tx) => tx.insertOnce(items, item({ key: 'once' }), ['id'])), UniqueViolation);
    assert.deepEqual(await store.transaction((tx) => tx.find(items, { key: 'once' })), [original]);
    await assert.rejects(store.transaction((tx) => tx.insertOnce(items, item(), ['title'])), /neither the primary key nor a unique constraint/);
  });

  await t.test('50 concurrent insertOnce of one key from separate stores: one row, one id', async () => {
    const racers = await Promise.all(Array.from({ length: 50 }, open));
    const results = await Promise.all(racers.map((racer, i) => racer.transaction((tx) => tx.insertOnce(items, item({ key: 'race', title: `racer ${i}` })))));
    assert.equal(results.filter((result) => !result.duplicate).length, 1);
    assert.equal(new Set(results.map((result) => result.row.id)).size, 1);
    assert.equal(new Set(results.map((result) => result.row.title)).size, 1);
    assert.equal((await store.transaction((tx) => tx.find(items, { key: 'race' }))).length, 1);
    await Promise.all(racers.map((racer) => racer.close()));
  });

  await t.test('store.insertOnce: a transaction of its own, with the same results as tx.insertOnce', async () => {
    const original = item({ key: 'own', title: 'first', data: { n: 2 }, createdAt: new Date('2025-02-01T00:00:00.456Z') });
    assert.deepEqual(await store.insertOnce(items, original), { row: original, duplicate: false });
    assert.deepEqual(await store.insertOnce(items, item({ key: 'own', title: 'second' })), { row: original, duplicate: true });
    await assert.rejects(store.insertOnce(items, item({ key: 'own' }), { conflictKey: ['id'] }), UniqueViolation);
    await assert.rejects(store.insertOnce(items, item({ title: 7 as unknown as string })), TypeError);
    assert.deepEqual(await store.transaction((tx) => tx.find(items, { key: 'own' })), [original]);
    // Many at once, from separate stores: one row.
    const racers = await Promise.all(Array.from({ length: 20 }, open));
    const results = await Promise.all(racers.map((racer, i) => racer.insertOnce(items, item({ key: 'own-race', title: `racer ${i}` }))));
    assert.equal(results.filter((result) => !result.duplicate).length, 1);
    assert.equal(new Set(results.map((result) => result.row.id)).size, 1);
    await Promise.all(racers.map((racer) => racer.close()));
    // An aborted signal: refused, nothing written.
    const aborted = new AbortController();
    aborted.abort(new Error('too late'));
    await assert.rejects(store.insertOnce(items, item({ key: 'own-aborted' }), { signal: aborted.signal }), /too late/);
    assert.deepEqual(await store.transaction((tx) => tx.find(items, { key: 'own-aborted' })), []);
  });

  await t.test('insert raises UniqueViolation and the transaction stays usable', async () => {
    const row = item();
    await store.transaction((tx) => tx.insert(items, row));
    await assert.rejects(store.transaction((tx) => tx.insert(items, item({ id: row.id }))), UniqueViolation);
    await assert.rejects(
      store.transaction((tx) => tx.insert(items, item({ key: row.key }))),
      (error: unknown) => error instanceof UniqueViolation && error.table === items.name,
    );
    const other = item();
    await store.transaction(async (tx) => {
      await assert.rejects(tx.insert(items, row), UniqueViolation);
      await tx.insert(items, other);
    });
    assert.deepEqual(await store.transaction((tx) => tx.get(items, { id: other.id })), other);
    // An update onto an existing unique key too.
    await assert.rejects(store.transaction((tx) => tx.update(items, { id: other.id }, { key: row.key })), UniqueViolation);
  });

  const listing = itemsTable(tableName('listing'));
  await store.migrate([listing]);
  const base = Date.parse('2030-01-01T00:00:00.000Z');
  await store.transaction(async (tx) => {
    for (let i = 0; i < 10; i++) {
      await tx.insert(listing, item({ key: `k${i}`, count: i, flag: i % 2 === 0, title: i % 3 === 0 ? null : `t${i}`, createdAt: new Date(base + i * 1000) }));
    }
  });
  const counts = (rows: Item[]): number[] => rows.map((row) => row.count);

  await t.test('get and find: equality, null, ranges, orderBy, limit', async () => {
    await store.transaction(async (tx) => {
      assert.deepEqual(counts(await tx.find(listing, { flag: true }, { orderBy: 'count' })), [0, 2, 4, 6, 8]);
      assert.deepEqual(counts(await tx.find(listing, { count: { gte: 3, lt: 7 } }, { orderBy: 'count' })), [3, 4, 5, 6]);
      assert.deepEqual(counts(await tx.find(listing, { flag: true, count: { lte: 4 } }, { orderBy: 'count', descending: true })), [4, 2, 0]);
      assert.deepEqual(counts(await tx.find(listing, { createdAt: { gt: new Date(base + 4500) } }, { orderBy: 'createdAt', descending: true, limit: 3 })), [9, 8, 7]);
      assert.deepEqual(counts(await tx.find(listing, { createdAt: new Date(base + 5000) })), [5]);
      assert.deepEqual(counts(await tx.find(listing, { title: null }, { orderBy: 'count' })), [0, 3, 6, 9]);
      assert.deepEqual(counts(await tx.find(listing, { title: { gte: 't5' } }, { orderBy: 'title' })), [5, 7, 8]);
      // NULLs sort last in both directions.
      assert.deepEqual(counts(await tx.find(listing, {}, { orderBy: 'title' })).slice(-4).sort(), [0, 3, 6, 9]);
      assert.deepEqual(counts(await tx.find(listing, {}, { orderBy: 'title', descending: true })), [8, 7, 5, 4, 2, 1, 9, 6, 3, 0]);
      assert.deepEqual(await tx.find(listing, {}, { limit: 0 }), []);
      assert.equal((await tx.find(listing, {})).length, 10);
      assert.equal((await tx.find(listing, { count: { gt: 7 } }, { forUpdate: true })).length, 2);
      assert.equal((await tx.get(listing, { key: 'k5' }))?.count, 5);
      assert.equal((await tx.get(listing, { key: 'k5' }, { forUpdate: true }))?.count, 5);
      assert.equal(await tx.get(listing, { key: 'missing' }), undefined);
      assert.equal((await tx.get(listing, { key: 'k5', title: undefined }))?.count, 5, 'undefined conditions are ignored');
      await assert.rejects(tx.get(listing, { flag: true }), /more than one row/);
    });
  });

  await t.test('update and increment return the rows matched', async () => {
    await store.transaction(async (tx) => {
      assert.equal(await tx.update(listing, { flag: true }, { seenAt: new Date(base) }), 5);
      assert.equal(await tx.update(listing, { flag: true }, { seenAt: new Date(base) }), 5, 'matched, even when nothing changes');
      assert.equal(await tx.update(listing, { key: 'missing' }, { title: 'x' }), 0);
      assert.equal(await tx.update(listing, { key: 'k1' }, {}), 1);
      assert.equal(await tx.increment(listing, { key: 'k1' }, { count: 10 }), 1);
      assert.equal(await tx.increment(listing, { key: 'k1' }, { count: 0 }), 1);
      assert.equal(await tx.increment(listing, { key: 'k1' }, { count: -3, big: 5 }), 1);
      assert.equal(await tx.increment(listing, { count: { gte: 100 } }, { count: 1 }), 0);
    });
    const k1 = await store.transaction((tx) => tx.get(listing, { key: 'k1' }));
    assert.equal(k1?.count, 8);
    assert.equal(k1?.big, 5, 'a NULL counts as 0');
    assert.equal((await store.transaction((tx) => tx.find(listing, { seenAt: new Date(base) }))).length, 5);
  });

  await t.test('concurrent increments of one row from 20 parallel transactions add up', async () => {
    await store.transaction((tx) => tx.insert(items, item({ key: 'counter', count: 0 })));
    const pools = await Promise.all(Array.from({ length: 4 }, open));
    await Promise.all(Array.from({ length: 20 }, (_, i) => pools[i % 4]!.transaction((tx) => tx.increment(items, { key: 'counter' }, { count: 1 }))));
    assert.equal(await count('counter'), 20);
    // Read, then write, under FOR UPDATE (SQLite: under its write lock).
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pools[i % 4]!.transaction(async (tx) => {
          const row = await tx.get(items, { key: 'counter' }, { forUpdate: true });
          await sleep(1);
          await tx.update(items, { id: row!.id }, { count: row!.count + 1 });
        }),
      ),
    );
    assert.equal(await count('counter'), 40);
  });

  await t.test('a transaction that throws leaves nothing written', async () => {
    const row = item();
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.insert(items, row);
        await tx.increment(items, { key: 'counter' }, { count: 100 });
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await store.transaction((tx) => tx.get(items, { id: row.id })), undefined);
    assert.equal(await count('counter'), 40);
  });

  await t.test('an aborted signal rolls back', async () => {
    const controller = new AbortController();
    const row = item();
    const started = Date.now();
    let leaked: Tx | undefined;
    await assert.rejects(
      store.transaction(
        async (tx) => {
          leaked = tx;
          await tx.insert(items, row);
          setTimeout(() => controller.abort(new Error('deadline passed')), 20);
          await sleep(3000);
        },
        { signal: controller.signal },
      ),
      /deadline passed/,
    );
    assert.ok(Date.now() - started < 1500, 'rejects as soon as the signal aborts');
    assert.equal(await store.transaction((tx) => tx.get(items, { id: row.id })), undefined);
    await assert.rejects(leaked!.get(items, { id: row.id }), /already finished/);

    let called = false;
    await assert.rejects(
      store.transaction(
        async () => {
          called = true;
        },
        { signal: AbortSignal.abort(new Error('too late')) },
      ),
      /too late/,
    );
    assert.equal(called, false);
  });

  if (target.kind !== 'sqlite') {
    await t.test('an abort while a statement waits for a lock drops that connection; the server rolls back', async () => {
      const [holder, waiter] = [await open(), await open()];
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holding = holder.transaction(async (tx) => {
        await tx.increment(items, { key: 'counter' }, { count: 1000 });
        locked();
        await released;
      });
      await isLocked;
      const controller = new AbortController();
      const waiting = waiter.transaction((tx) => tx.increment(items, { key: 'counter' }, { count: 1 }), { signal: controller.signal });
      await sleep(200);
      const abortedAt = Date.now();
      controller.abort(new Error('deadline passed'));
      await assert.rejects(waiting, /deadline passed/);
      assert.ok(Date.now() - abortedAt < 500);
      release();
      await holding;
      await sleep(300);
      assert.equal(await count('counter'), 1040, 'only the holder’s increment');
      await waiter.transaction((tx) => tx.increment(items, { key: 'counter' }, { count: -1000 })); // usable again
      assert.equal(await count('counter'), 40);
    });

    await t.test('a deadlock reruns the transaction function', async () => {
      await store.transaction(async (tx) => {
        await tx.insert(items, item({ key: 'dl-a' }));
        await tx.insert(items, item({ key: 'dl-b' }));
      });
      const [one, two] = [await open(), await open()];
      let arrived = 0;
      let go!: () => void;
      const both = new Promise<void>((resolve) => (go = resolve));
      let attempts = 0;
      const cross = (s: Store, first: string, second: string) =>
        s.transaction(async (tx) => {
          attempts += 1;
          await tx.increment(items, { key: first }, { count: 1 });
          if (++arrived === 2) go();
          await both;
          await tx.increment(items, { key: second }, { count: 1 });
        });
      await Promise.all([cross(one, 'dl-a', 'dl-b'), cross(two, 'dl-b', 'dl-a')]);
      assert.ok(attempts >= 3, `one of them ran again (attempts: ${attempts})`);
      assert.equal(await count('dl-a'), 2);
      assert.equal(await count('dl-b'), 2);
    });
  }

  await t.test('a closed store reports StoreUnavailable', async () => {
    const closed = await open();
    await closed.transaction((tx) => tx.get(items, { key: 'counter' }));
    await closed.close();
    await assert.rejects(closed.transaction((tx) => tx.get(items, { key: 'counter' })), isUnavailable);
  });
}
