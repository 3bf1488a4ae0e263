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
import { CallbackError, configurationError } from '../protocol/errors.js';
import { storeLabel } from './errors.js';
import type { Store, TransactionOptions, Tx } from './types.js';

export type * from './types.js';
export { defineTable, type TableOptions } from './table.js';
export { newId } from './ids.js';
export { UniqueViolation, storeLabel } from './errors.js';

export const DEFAULT_DATABASE_URL = 'sqlite:.data/callbacks.db';

const SUPPORTED = 'sqlite:<path>, sqlite::memory:, postgres://, postgresql://, mysql://';

/**
 * A new store for `url` (connections are opened on first use; outages surface from its operations).
 * A URL it cannot use (unknown scheme, unparseable, a bad setting such as `pool_max=abc`) rejects
 * with `ConfigurationError` "DATABASE_URL (<label>): <problem>", the password never included.
 */
export async function openStore(url: string): Promise<Store> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  try {
    switch (scheme) {
      case 'sqlite':
        return await (await import('./sqlite.js')).openSqlite(url);
      case 'postgres':
      case 'postgresql':
        return await (await import('./postgres.js')).openPostgres(url);
      case 'mysql':
        return await (await import('./mysql.js')).openMysql(url);
      default:
        throw new Error(`Unsupported database URL scheme ${scheme ? `"${scheme}:"` : `in "${storeLabel(url)}"`}; supported: ${SUPPORTED}`);
    }
  } catch (error) {
    // StoreUnavailable and the like pass through; a missing module is a build problem, not a setting.
    const code = (error as { code?: unknown } | null)?.code;
    if (error instanceof CallbackError || code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') throw error;
    const problem = error instanceof TypeError && /Invalid URL/.test(error.message) ? 'is not a valid URL (percent-encode @ / : in the password)' : error instanceof Error ? error.message : String(error);
    throw configurationError(redactPassword(`DATABASE_URL (${storeLabel(url)}): ${problem}`, url), error);
  }
}

/** `message` with the URL's password (as written and percent-decoded) replaced by ***. */
function redactPassword(message: string, url: string): string {
  const password = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:([^/?#]*)@/i.exec(url)?.[1];
  if (!password) return message;
  let out = message.split(password).join('***');
  try {
    const decoded = decodeURIComponent(password);
    if (decoded) out = out.split(decoded).join('***');
  } catch {
    // not percent-decodable: the raw form is already redacted
  }
  return out;
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
