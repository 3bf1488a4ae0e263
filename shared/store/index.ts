/**
 * The datastore entry point. `openStore(url)` picks the backend by the URL's scheme and loads only that
 * backend's module (and driver), when first called: importing this module costs nothing.
 *
 *   sqlite:<path> | sqlite::memory:     embedded (libsql), the default: sqlite:.data/callbacks.db
 *   postgres://user:pass@host:5432/db   PostgreSQL (also postgresql://)
 *   mysql://user:pass@host:3306/db      MySQL / MariaDB
 *
 * Connection settings (pool size, timeouts, keepalive) are URL parameters or DATABASE_* environment
 * variables: see the top of postgres.ts, mysql.ts and sqlite.ts.
 */
import { storeLabel } from './errors.js';
import type { Store, TransactionOptions, Tx } from './types.js';

export type * from './types.js';
export { defineTable, type TableOptions } from './table.js';
export { newId } from './ids.js';
export { UniqueViolation, storeLabel } from './errors.js';

export const DEFAULT_DATABASE_URL = 'sqlite:.data/callbacks.db';

const SUPPORTED = 'sqlite:<path>, sqlite::memory:, postgres://, postgresql://, mysql://';

/** A new store for `url` (connections are opened on first use; outages surface from its operations). */
export async function openStore(url: string): Promise<Store> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite':
      return (await import('./sqlite.js')).openSqlite(url);
    case 'postgres':
    case 'postgresql':
      return (await import('./postgres.js')).openPostgres(url);
    case 'mysql':
      return (await import('./mysql.js')).openMysql(url);
    default:
      throw new Error(`Unsupported database URL scheme ${scheme ? `"${scheme}:"` : `in "${storeLabel(url)}"`}; supported: ${SUPPORTED}`);
  }
}

const stores = new Map<string, Promise<Store>>();

/**
 * The one store of this process for `url`, opened on first use and reused across invocations.
 * Close it with `closeStores()` (its own `close()` also forgets it).
 */
export function getStore(url: string): Promise<Store> {
  let store = stores.get(url);
  if (store === undefined) {
    store = openStore(url).then((opened) => shared(url, opened));
    store.catch(() => stores.delete(url)); // a failure must not stick
    stores.set(url, store);
  }
  return store;
}

function shared(url: string, store: Store): Store {
  return {
    kind: store.kind,
    label: store.label,
    migrate: (tables) => store.migrate(tables),
    transaction: <T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions) => store.transaction(fn, options),
    insertOnce: (table, row, options) => store.insertOnce(table, row, options),
    close: () => {
      stores.delete(url);
      return store.close();
    },
  };
}

/** Closes every store `getStore` opened (tests, shutdown). */
export async function closeStores(): Promise<void> {
  const open = [...stores.values()];
  stores.clear();
  await Promise.allSettled(open.map(async (store) => (await store).close()));
}
