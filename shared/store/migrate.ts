/**
 * Migrations. Each table contributes `<table>@1`, which creates it (with the columns that no later
 * migration adds) and its keys and indexes, then `<table>@<name>` for each of its `migrations`, in order.
 * Applied migrations are recorded in `oss_callback_migrations` with a checksum of their dialect-neutral
 * definition; a migration whose definition changed after it was applied is refused.
 *
 * On MySQL/MariaDB every table also gets `<table>@exact-strings`, last: its 'string' columns become
 * VARBINARY (byte-exact comparison; see mysqlDialect in sql.ts). Tables created before that step
 * existed had VARCHAR utf8mb4_bin columns, which compare PAD SPACE ('bob' = 'bob '); their checksums
 * are unchanged (they are dialect-neutral) and this step converts them in place. New tables are
 * created VARBINARY already, and the step re-states the same types. Its checksum covers only the rule, so
 * columns added by later migrations (created VARBINARY) do not change it.
 *
 * `migrate()` reads the bookkeeping table once, without a lock, and stops there when nothing is pending.
 * Otherwise it takes the backend's migration lock (PostgreSQL `pg_advisory_xact_lock`, MySQL `GET_LOCK`,
 * SQLite `BEGIN IMMEDIATE`), reads again, and applies what is still pending: of many instances starting
 * at once, one applies each migration and the others find it recorded.
 */
import { createHash } from 'node:crypto';
import { addColumnSql, addIndexSql, createTableSql, exactStringsSql, SqlTx, type Dialect, type Query, type Run } from './sql.js';
import { defineTable } from './table.js';
import type { ColumnDef, Table } from './types.js';

export const migrationsTable = defineTable(
  'oss_callback_migrations',
  {
    name: { type: 'string' },
    checksum: { type: 'string', maxLength: 64 },
    appliedAt: { type: 'timestamp' },
  },
  { primaryKey: ['name'] },
);

export interface MigrationHost {
  readonly dialect: Dialect;
  /** Runs one statement outside any transaction; a missing table reads as no rows. */
  read: Run;
  /** Runs `fn` holding the migration lock (and inside one transaction where DDL is transactional). */
  locked(fn: (run: Run) => Promise<void>): Promise<void>;
}

interface Planned {
  name: string;
  checksum: string;
  statements: Query[];
}

const neutral = (def: ColumnDef) => ({ type: def.type, nullable: def.nullable === true, maxLength: def.type === 'string' ? (def.maxLength ?? 191) : null });
const checksum = (definition: unknown): string => createHash('sha256').update(JSON.stringify(definition)).digest('hex');

function plan(d: Dialect, table: Table<any>): Planned[] {
  const columns = table.columns as Record<string, ColumnDef>;
  const addedLater = new Set<string>();
  for (const migration of table.migrations) for (const step of migration.up) if ('addColumn' in step) addedLater.add(step.addColumn);
  const initial = Object.keys(columns).filter((f) => !addedLater.has(f));
  const planned: Planned[] = [
    {
      name: `${table.name}@1`,
      checksum: checksum({
        table: table.name,
        columns: initial.map((f) => [f, neutral(columns[f]!)]),
        primaryKey: table.primaryKey,
        unique: table.unique,
        indexes: table.indexes,
      }),
      statements: createTableSql(d, table, addedLater),
    },
  ];
  for (const migration of table.migrations) {
    const steps = migration.up.map((step) => ('addColumn' in step ? { addColumn: step.addColumn, column: neutral(columns[step.addColumn]!) } : { addIndex: step.addIndex, unique: step.unique === true }));
    planned.push({
      name: `${table.name}@${migration.name}`,
      checksum: checksum({ table: table.name, name: migration.name, up: steps }),
      statements: migration.up.map((step) => ('addColumn' in step ? addColumnSql(d, table, step.addColumn) : addIndexSql(d, table, step.addIndex, step.unique === true))),
    });
  }
  const exact = exactStringsSql(d, table);
  if (exact.length > 0) {
    planned.push({ name: `${table.name}@exact-strings`, checksum: checksum({ table: table.name, name: 'exact-strings', rule: 'string columns VARBINARY' }), statements: exact });
  }
  return planned;
}

async function appliedMigrations(d: Dialect, run: Run): Promise<Map<string, string>> {
  const rows = await new SqlTx(d, run, () => false).find(migrationsTable, {});
  return new Map(rows.map((row) => [row.name, row.checksum]));
}

function pendingOf(planned: readonly Planned[], applied: ReadonlyMap<string, string>): Planned[] {
  return planned.filter((migration) => {
    const recorded = applied.get(migration.name);
    if (recorded === undefined) return true;
    if (recorded !== migration.checksum) {
      throw new Error(
        `Migration "${migration.name}" was applied with a different definition (checksum ${recorded.slice(0, 12)}… in the database, ` +
          `${migration.checksum.slice(0, 12)}… in the code). Applied migrations must not change: restore the definition and add a new migration to the table instead.`,
      );
    }
    return false;
  });
}

export async function migrate(host: MigrationHost, tables: readonly Table<any>[]): Promise<void> {
  const d = host.dialect;
  const planned: Planned[] = [];
  const byName = new Map<string, string>();
  for (const migration of tables.flatMap((table) => plan(d, table))) {
    const known = byName.get(migration.name);
    if (known === undefined) planned.push(migration);
    else if (known !== migration.checksum) throw new Error(`migrate(): two different definitions of "${migration.name}"`);
    byName.set(migration.name, migration.checksum);
  }
  if (planned.length === 0 || pendingOf(planned, await appliedMigrations(d, host.read)).length === 0) return;

  await host.locked(async (run) => {
    for (const statement of createTableSql(d, migrationsTable, new Set())) await run(statement);
    const tx = new SqlTx(d, run, () => false);
    for (const migration of pendingOf(planned, await appliedMigrations(d, run))) {
      for (const statement of migration.statements) await run(statement);
      await tx.insert(migrationsTable, { name: migration.name, checksum: migration.checksum, appliedAt: new Date() });
    }
  });
}
