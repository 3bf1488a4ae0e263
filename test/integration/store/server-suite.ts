/**
 * The tests of a client/server backend (PostgreSQL, MySQL): the contract, plus failure handling:
 * unreachable server, wrong database, connections that died while the instance was frozen.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { openStore } from '../../../shared/store/index.js';
import { dropTables, requireServer, startProxy, uniqueSuffix, withParams, type TestServer } from '../../helpers/stores.js';
import { isUnavailable, item, itemsTable, storeContract } from './contract.js';

export interface ServerSuite {
  kind: 'postgres' | 'mysql';
  server: TestServer;
  /** The URL of an unreachable server, with a password that must never show. */
  unreachableUrl: string;
  /** `url` pointing to another database. */
  withDatabase(url: string, database: string): string;
  /** Opens a store on the test server whose pooled connections `kill()` can kill while "frozen". */
  killable(): Promise<{ url: string; kill(): Promise<void> }>;
}

export function serverSuite(suite: ServerSuite): void {
  const { server } = suite;

  test(`${server.name} store contract`, async (t) => {
    if (!(await requireServer(t, server))) return;
    await storeContract(t, { kind: suite.kind, url: server.url, dropTables: (names) => dropTables(server.url, names) });
  });

  test(`${server.name}: an unreachable server is StoreUnavailable within 3 s, without the password`, async () => {
    const store = await openStore(suite.unreachableUrl);
    assert.doesNotMatch(store.label, /s3cret/);
    const table = itemsTable('st_unreachable');
    for (const attempt of [() => store.migrate([table]), () => store.transaction((tx) => tx.get(table, { key: 'x' }))]) {
      const started = Date.now();
      await assert.rejects(attempt(), (error: Error) => {
        assert.ok(isUnavailable(error), String(error));
        assert.match(error.message, /connection refused by 127\.0\.0\.1:1\b/);
        assert.doesNotMatch(error.message, /s3cret/);
        return true;
      });
      assert.ok(Date.now() - started < 3000);
    }
    await store.close();
  });

  test(`${server.name}: a server that accepts and never answers is StoreUnavailable after the connect timeout`, async () => {
    // A loopback listener that accepts the connection and never says a word: the database's handshake never comes.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const url = suite.unreachableUrl.replace('127.0.0.1:1', `127.0.0.1:${port}`) + '?connect_timeout_ms=500';
    const store = await openStore(url);
    const started = Date.now();
    try {
      await assert.rejects(store.transaction((tx) => tx.get(itemsTable('st_nowhere'), { key: 'x' })), isUnavailable);
      assert.ok(Date.now() - started < 3000);
    } finally {
      await store.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test(`${server.name}: an unknown database is StoreUnavailable naming it`, async (t) => {
    if (!(await requireServer(t, server))) return;
    const database = `no_such_db_${uniqueSuffix()}`;
    const store = await openStore(suite.withDatabase(server.url, database));
    await assert.rejects(store.migrate([itemsTable('st_nodb')]), (error: Error) => isUnavailable(error) && error.message.includes(`database "${database}" does not exist`));
    await store.close();
  });

  test(`${server.name}: connections killed while the instance was frozen are replaced transparently`, async (t) => {
    if (!(await requireServer(t, server))) return;
    const table = itemsTable(`st_${uniqueSuffix()}_killed`);
    const { url, kill } = await suite.killable();
    const store = await openStore(url);
    t.after(async () => {
      await store.close();
      await dropTables(server.url, [table.name]);
    });
    await store.migrate([table]);
    const row = item();
    // Two transactions at once: both pooled connections are open (and then idle).
    await Promise.all([store.transaction((tx) => tx.insert(table, row)), store.transaction(async (tx) => tx.find(table, {}))]);
    for (let round = 0; round < 2; round++) {
      await kill();
      assert.deepEqual(await store.transaction((tx) => tx.get(table, { id: row.id })), row);
    }
  });

  test(`${server.name}: a connection that went silent (no reset, no answer) is replaced after the connect timeout`, async (t) => {
    if (!(await requireServer(t, server))) return;
    const table = itemsTable(`st_${uniqueSuffix()}_silent`);
    const proxy = await startProxy(server.url);
    const store = await openStore(withParams(proxy.url, { connect_timeout_ms: '500' }));
    t.after(async () => {
      await store.close();
      proxy.close();
      await dropTables(server.url, [table.name]);
    });
    await store.migrate([table]);
    const row = item();
    await Promise.all([store.transaction((tx) => tx.insert(table, row)), store.transaction(async (tx) => tx.find(table, {}))]);
    proxy.silenceExisting();
    const started = Date.now();
    assert.deepEqual(await store.transaction((tx) => tx.get(table, { id: row.id })), row);
    assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
  });
}
