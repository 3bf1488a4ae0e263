/**
 * The PostgreSQL store must work behind a connection pooler (PgBouncer, which the ApsaraDB RDS for
 * PostgreSQL connection pool is built on; PolarDB's proxy): those refuse a connection whose startup
 * message carries parameters they do not know ("unsupported startup parameter: statement_timeout").
 * The store's server-side timeouts are `SET LOCAL` in each transaction instead. No server needed: a
 * fake one records the startup message.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { openStore } from '../../../shared/store/index.js';
import { isUnavailable, itemsTable } from './contract.js';

/** Parameters that PgBouncer accepts in a startup message without any configuration. */
const POOLER_SAFE = new Set(['user', 'database', 'application_name', 'client_encoding', 'DateStyle', 'TimeZone', 'standard_conforming_strings']);

test('PostgreSQL: the startup message carries only parameters a connection pooler accepts', async (t) => {
  let received!: (parameters: Map<string, string>) => void;
  const startup = new Promise<Map<string, string>>((resolve) => (received = resolve));
  const server = createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 8 || buffer.length < buffer.readInt32BE(0)) return;
      // Int32 length, Int32 protocol 3.0, then name\0value\0 pairs ending with \0.
      const fields = buffer.subarray(8, buffer.readInt32BE(0) - 1).toString('utf8').split('\0');
      const parameters = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) parameters.set(fields[i]!, fields[i + 1]!);
      received(parameters);
      socket.destroy(); // the connection fails: the store reports StoreUnavailable
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const store = await openStore(`postgres://postgres@127.0.0.1:${(server.address() as AddressInfo).port}/test?query_timeout_ms=3000`);
  t.after(() => store.close());
  await assert.rejects(store.transaction((tx) => tx.get(itemsTable('st_startup'), { key: 'x' })), isUnavailable);
  const parameters = await startup;
  assert.equal(parameters.get('user'), 'postgres');
  assert.equal(parameters.get('application_name'), 'oss-callback');
  const refused = [...parameters.keys()].filter((name) => !POOLER_SAFE.has(name));
  assert.deepEqual(refused, [], `a pooler would refuse the connection for: ${refused.join(', ')}`);
});
