/**
 * The SQL that all backends share: one `Dialect` object per backend says how its SQL differs
 * (quoting, placeholders, column types, value encoding, DDL details, conflict handling), and `SqlTx`
 * implements the `Tx` operations on top of a backend's `run(query)`.
 *
 * Values only ever travel as bound parameters; identifiers only come from validated table
 * definitions (see table.ts), and are quoted anyway.
 */
import { UniqueViolation } from './errors.js';
import { columnName } from './table.js';
import type { ColumnDef, FindOptions, Table, Tx, Where } from './types.js';

export interface Query {
  sql: string;
  params: readonly unknown[];
  /** Schema change: MySQL ignores "already exists" (its DDL is not transactional). */
  ddl?: boolean;
  /** Returns at most one row by construction (e.g. a single-row INSERT … RETURNING). */
  single?: boolean;
}

export interface Result {
  rows: Record<string, unknown>[];
  /** Rows inserted, or matched by an UPDATE (not just changed). */
  count: number;
}

export type Run = (query: Query) => Promise<Result>;

export interface Dialect {
  readonly kind: 'sqlite' | 'postgres' | 'mysql';
  quote(identifier: string): string;
  /** The placeholder of the `n`th (1-based) parameter. */
  placeholder(n: number): string;
  columnType(def: ColumnDef): string;
  /** A validated, non-null JS value → the driver's parameter. */
  encode(def: ColumnDef, value: unknown): unknown;
  /** A non-null value from the driver → the JS value. */
  decode(def: ColumnDef, value: unknown): unknown;
  /** LIMIT as a parameter (MySQL's prepared statements reject a floating-point LIMIT). */
  limit(n: number): unknown;
  /** `ON CONFLICT ... DO NOTHING RETURNING` (PostgreSQL, SQLite) or `ON DUPLICATE KEY UPDATE` (MySQL). */
  readonly conflicts: 'on-conflict' | 'on-duplicate-key';
  /** Row locks exist (SQLite locks the whole database with BEGIN IMMEDIATE instead). */
  readonly forUpdate: boolean;
  /** `IF NOT EXISTS` on CREATE INDEX / ADD COLUMN; without it the backend ignores "already exists". */
  readonly indexIfNotExists: boolean;
  readonly columnIfNotExists: boolean;
  /** Indexes declared inside CREATE TABLE (MySQL) rather than by CREATE INDEX. */
  readonly inlineIndexes: boolean;
  readonly tableSuffix: string;
}

// ---------------------------------------------------------------------------------------------
// Dialects

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
const doubleQuote = (id: string): string => `"${id.replace(/"/g, '""')}"`;

function decodeCommon(def: ColumnDef, value: unknown): unknown {
  switch (def.type) {
    case 'int':
    case 'bigint':
      return Number(value); // pg returns int8 as a string; libsql/mysql2 as a number
    case 'bool':
      return value === true || value === 1 || value === '1';
    case 'json':
      return JSON.parse(value as string);
    case 'timestamp':
      return value instanceof Date ? value : new Date(value as string);
    default:
      return value;
  }
}

export const sqliteDialect: Dialect = {
  kind: 'sqlite',
  quote: doubleQuote,
  placeholder: () => '?',
  columnType: (def) => (['int', 'bigint', 'bool'].includes(def.type) ? 'INTEGER' : 'TEXT'),
  encode(def, value) {
    if (def.type === 'bool') return value ? 1 : 0;
    if (def.type === 'json') return JSON.stringify(value);
    if (def.type === 'timestamp') return (value as Date).toISOString(); // sorts as text
    return value;
  },
  decode: decodeCommon,
  limit: (n) => n,
  conflicts: 'on-conflict',
  forUpdate: false,
  indexIfNotExists: true,
  columnIfNotExists: false, // SQLite's DDL is transactional: a migration is applied whole or not at all
  inlineIndexes: false,
  tableSuffix: ' STRICT',
};

export const postgresDialect: Dialect = {
  kind: 'postgres',
  quote: doubleQuote,
  placeholder: (n) => `$${n}`,
  columnType(def) {
    const types = { string: `varchar(${def.maxLength ?? 191})`, text: 'text', int: 'integer', bigint: 'bigint', bool: 'boolean', json: 'jsonb', timestamp: 'timestamptz(3)' };
    return types[def.type];
  },
  encode(def, value) {
    if (def.type === 'json') return JSON.stringify(value); // pg would turn arrays into PG arrays
    if (def.type === 'timestamp') return (value as Date).toISOString();
    return value;
  },
  decode: (def, value) => (def.type === 'json' ? value : decodeCommon(def, value)), // pg parses jsonb itself
  limit: (n) => n,
  conflicts: 'on-conflict',
  forUpdate: true,
  indexIfNotExists: true,
  columnIfNotExists: true,
  inlineIndexes: false,
  tableSuffix: '',
};

/** The MySQL type of a 'string' column (see mysqlDialect.columnType). */
export function mysqlStringType(def: ColumnDef): string {
  return `VARBINARY(${(def.maxLength ?? 191) * 4})`;
}

export const mysqlDialect: Dialect = {
  kind: 'mysql',
  quote: (id) => `\`${id.replace(/`/g, '``')}\``,
  placeholder: () => '?',
  // Strings that are compared (keys, owners) are VARBINARY: byte-exact on every MySQL and MariaDB.
  // A VARCHAR compares by its collation, and utf8mb4_bin is PAD SPACE on MySQL 8 and MariaDB alike
  // ('bob' = 'bob '); the NO PAD binary collations are named differently on each
  // (utf8mb4_0900_bin, utf8mb4_nopad_bin) and missing on MySQL 5.7. 4 bytes per character, as
  // utf8mb4 reserves, so index sizes are as before; maxLength is still checked in characters.
  columnType(def) {
    const types = { string: mysqlStringType(def), text: 'MEDIUMTEXT', int: 'INT', bigint: 'BIGINT', bool: 'BOOLEAN', json: 'JSON', timestamp: 'DATETIME(3)' };
    return types[def.type];
  },
  encode(def, value) {
    if (def.type === 'json') return JSON.stringify(value);
    if (def.type === 'timestamp') {
      // DATETIME holds UTC by convention: no session time zone is involved in either direction.
      const d = value as Date;
      return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
    }
    return value;
  },
  decode(def, value) {
    if (def.type === 'timestamp' && typeof value === 'string') return new Date(`${value.replace(' ', 'T')}Z`);
    if (def.type === 'string' && Buffer.isBuffer(value)) return value.toString('utf8'); // VARBINARY
    return decodeCommon(def, value);
  },
  limit: (n) => String(n),
  conflicts: 'on-duplicate-key',
  forUpdate: true,
  indexIfNotExists: false, // MySQL 8 has neither
  columnIfNotExists: false,
  inlineIndexes: true,
  // Binary collation: equality and uniqueness are case- and accent-sensitive, as on the other backends.
  tableSuffix: ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
};

// ---------------------------------------------------------------------------------------------
// Values

type AnyTable = Table<any>;

function columnDef(table: AnyTable, field: string): ColumnDef {
  if (!Object.hasOwn(table.columns, field)) throw new TypeError(`${table.name} has no field "${field}"`);
  return (table.columns as Record<string, ColumnDef>)[field]!;
}

/** Checks a JS value against its column (a wrong value is a bug in the job) and encodes it. */
function encodeValue(d: Dialect, table: AnyTable, field: string, value: unknown, filter = false): unknown {
  const def = columnDef(table, field);
  if (value === null || value === undefined) {
    if (def.nullable) return null;
    throw new TypeError(`${table.name}.${field} must not be null`);
  }
  const bad = (expected: string): never => {
    throw new TypeError(`${table.name}.${field} must be ${expected}, got ${typeof value === 'object' ? Object.prototype.toString.call(value) : JSON.stringify(value)}`);
  };
  switch (def.type) {
    case 'string':
    case 'text':
      if (typeof value !== 'string') bad('a string');
      if (def.type === 'string' && !filter) {
        const max = def.maxLength ?? 191;
        if ((value as string).length > max && [...(value as string)].length > max) {
          throw new RangeError(`${table.name}.${field} is longer than its maxLength ${max}`);
        }
      }
      break;
    case 'int':
      if (!Number.isInteger(value) || (value as number) < -(2 ** 31) || (value as number) >= 2 ** 31) bad('a 32-bit integer');
      break;
    case 'bigint':
      if (!Number.isSafeInteger(value)) bad('a safe integer');
      break;
    case 'bool':
      if (typeof value !== 'boolean') bad('a boolean');
      break;
    case 'timestamp':
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) bad('a valid Date');
      break;
    case 'json':
      if (JSON.stringify(value) === undefined) bad('JSON-serializable');
      break;
  }
  return d.encode(def, value);
}

const columnCache = new WeakMap<AnyTable, string[]>();

function fieldsOf(table: AnyTable): string[] {
  let fields = columnCache.get(table);
  if (fields === undefined) columnCache.set(table, (fields = Object.keys(table.columns)));
  return fields;
}

export function decodeRow(d: Dialect, table: AnyTable, raw: Record<string, unknown>): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const field of fieldsOf(table)) {
    const value = raw[columnName(field)];
    row[field] = value === null || value === undefined ? null : d.decode(columnDef(table, field), value);
  }
  return row;
}

// ---------------------------------------------------------------------------------------------
// Statements

/** Collects bound parameters and hands out their placeholders. */
class Params {
  readonly values: unknown[] = [];
  constructor(private readonly d: Dialect) {}
  add(value: unknown): string {
    this.values.push(value);
    return this.d.placeholder(this.values.length);
  }
}

const col = (d: Dialect, field: string): string => d.quote(columnName(field));
const selectList = (d: Dialect, table: AnyTable): string => fieldsOf(table).map((f) => col(d, f)).join(', ');
const RANGE = { lt: '<', lte: '<=', gt: '>', gte: '>=' } as const;

function whereSql(d: Dialect, table: AnyTable, where: Record<string, unknown>, p: Params): string {
  const terms: string[] = [];
  for (const [field, condition] of Object.entries(where)) {
    if (condition === undefined) continue;
    const def = columnDef(table, field);
    if (def.type === 'json') throw new TypeError(`${table.name}.${field}: cannot filter on a json column`);
    const column = col(d, field);
    if (condition === null) {
      terms.push(`${column} IS NULL`);
    } else if (typeof condition === 'object' && !(condition instanceof Date)) {
      const entries = Object.entries(condition).filter(([, v]) => v !== undefined);
      if (entries.length === 0) throw new TypeError(`${table.name}.${field}: empty range`);
      for (const [op, bound] of entries) {
        const sqlOp = RANGE[op as keyof typeof RANGE];
        if (sqlOp === undefined) throw new TypeError(`${table.name}.${field}: unknown range operator "${op}"`);
        terms.push(`${column} ${sqlOp} ${p.add(encodeValue(d, table, field, bound, true))}`);
      }
    } else {
      terms.push(`${column} = ${p.add(encodeValue(d, table, field, condition, true))}`);
    }
  }
  return terms.length === 0 ? '' : ` WHERE ${terms.join(' AND ')}`;
}

function selectSql(d: Dialect, table: AnyTable, where: Record<string, unknown>, options: FindOptions<any> = {}): Query {
  const p = new Params(d);
  let sql = `SELECT ${selectList(d, table)} FROM ${d.quote(table.name)}${whereSql(d, table, where, p)}`;
  if (options.orderBy !== undefined) {
    const def = columnDef(table, options.orderBy);
    if (def.type === 'json') throw new TypeError(`${table.name}: cannot order by json column ${options.orderBy}`);
    const dir = options.descending ? ' DESC' : '';
    // NULLs last in both directions, on every backend; then the primary key, for a stable order.
    const keys = [def.nullable ? `${col(d, options.orderBy)} IS NULL` : '', `${col(d, options.orderBy)}${dir}`];
    for (const field of table.primaryKey) if (field !== options.orderBy) keys.push(`${col(d, field)}${dir}`);
    sql += ` ORDER BY ${keys.filter(Boolean).join(', ')}`;
  }
  if (options.limit !== undefined) {
    if (!Number.isSafeInteger(options.limit) || options.limit < 0) throw new TypeError(`limit must be a non-negative integer`);
    sql += ` LIMIT ${p.add(d.limit(options.limit))}`;
  }
  if (options.forUpdate && d.forUpdate) sql += ' FOR UPDATE';
  return { sql, params: p.values };
}

function insertSql(d: Dialect, table: AnyTable, row: Record<string, unknown>, p: Params): string {
  const fields = fieldsOf(table);
  const values = fields.map((f) => p.add(encodeValue(d, table, f, row[f])));
  return `INSERT INTO ${d.quote(table.name)} (${selectList(d, table)}) VALUES (${values.join(', ')})`;
}

function sameFields(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((f) => b.includes(f));
}

/**
 * `insertOnce`'s statement for one table, dialect and conflict key, built once: each call then only
 * checks and encodes the row's values.
 */
export interface InsertOncePlan {
  readonly key: readonly string[];
  /** The statement with this row's values; throws TypeError/RangeError for a value that does not fit its column. */
  query(row: Record<string, unknown>): Query;
  /** The stored row when the statement inserted it, undefined when a row with the key existed. */
  inserted(row: Record<string, unknown>, result: Result): Record<string, unknown> | undefined;
}

const insertOncePlans = new WeakMap<AnyTable, Map<string, InsertOncePlan>>();

export function insertOncePlan(d: Dialect, table: AnyTable, conflictKey?: readonly string[]): InsertOncePlan {
  let plans = insertOncePlans.get(table);
  if (plans === undefined) insertOncePlans.set(table, (plans = new Map()));
  const cacheKey = `${d.kind}\0${conflictKey === undefined ? '' : conflictKey.join('\0')}`;
  let plan = plans.get(cacheKey);
  if (plan === undefined) plans.set(cacheKey, (plan = buildInsertOncePlan(d, table, conflictKey)));
  return plan;
}

function buildInsertOncePlan(d: Dialect, table: AnyTable, conflictKey: readonly string[] | undefined): InsertOncePlan {
  const key: readonly string[] = conflictKey ?? table.unique[0] ?? table.primaryKey;
  if (!sameFields(key, table.primaryKey) && !table.unique.some((u) => sameFields(key, u))) {
    throw new TypeError(`${table.name}: insertOnce key (${key.join(', ')}) is neither the primary key nor a unique constraint`);
  }
  const fields = fieldsOf(table);
  const placeholders = fields.map((_, i) => d.placeholder(i + 1)).join(', ');
  let sql = `INSERT INTO ${d.quote(table.name)} (${selectList(d, table)}) VALUES (${placeholders})`;
  const returning = d.conflicts === 'on-conflict';
  if (returning) {
    sql += ` ON CONFLICT (${key.map((f) => col(d, f)).join(', ')}) DO NOTHING RETURNING ${selectList(d, table)}`;
  } else {
    // A no-op update: affectedRows is 1 when inserted, 0 when the row existed (without CLIENT_FOUND_ROWS).
    const pk = col(d, table.primaryKey[0]!);
    sql += ` ON DUPLICATE KEY UPDATE ${pk} = ${pk}`;
  }
  return {
    key,
    query(row) {
      const params = new Array<unknown>(fields.length);
      for (let i = 0; i < fields.length; i++) params[i] = encodeValue(d, table, fields[i]!, row[fields[i]!]);
      return returning ? { sql, params, single: true } : { sql, params };
    },
    inserted(row, result) {
      if (returning) {
        const raw = result.rows[0];
        return raw === undefined ? undefined : decodeRow(d, table, raw);
      }
      if (result.count !== 1) return undefined;
      const stored: Record<string, unknown> = {};
      for (const f of fields) stored[f] = row[f] ?? null;
      return stored;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Transactions

/** The `Tx` of every SQL backend: builds statements, runs them with the backend's `run`, decodes rows. */
export class SqlTx implements Tx {
  /** `isUnique` recognizes the driver's duplicate-key error, which becomes a UniqueViolation. */
  constructor(
    private readonly d: Dialect,
    private readonly runQuery: Run,
    private readonly isUnique: (error: unknown) => boolean,
  ) {}

  private async run(table: AnyTable, query: Query): Promise<Result> {
    try {
      return await this.runQuery(query);
    } catch (error) {
      if (this.isUnique(error)) throw new UniqueViolation(table.name, { cause: error });
      throw error;
    }
  }

  async insertOnce<R>(table: Table<R>, row: R, conflictKey?: readonly (keyof R & string)[]): Promise<{ row: R; duplicate: boolean }> {
    const plan = insertOncePlan(this.d, table, conflictKey);
    const query = plan.query(row as Record<string, unknown>);
    const inserted = plan.inserted(row as Record<string, unknown>, await this.run(table, query));
    return inserted ? { row: inserted as R, duplicate: false } : this.existing(table, plan, row);
  }

  /** The row an `insertOnce` conflicted with; on MySQL a locking read, which sees the latest committed row at any isolation level. */
  async existing<R>(table: Table<R>, plan: InsertOncePlan, row: R): Promise<{ row: R; duplicate: true }> {
    const values = row as Record<string, unknown>;
    const where = Object.fromEntries(plan.key.map((f) => [f, values[f]])) as Where<R>;
    const existing = await this.get(table, where, { forUpdate: this.d.kind === 'mysql' });
    if (existing === undefined) throw new UniqueViolation(table.name); // the conflict was on another unique key
    return { row: existing, duplicate: true };
  }

  async insert<R>(table: Table<R>, row: R): Promise<void> {
    const { d } = this;
    const p = new Params(d);
    let sql = insertSql(d, table, row as Record<string, unknown>, p);
    // PostgreSQL aborts the whole transaction on a unique violation; DO NOTHING keeps it usable.
    if (d.conflicts === 'on-conflict') sql += ' ON CONFLICT DO NOTHING';
    if ((await this.run(table, { sql, params: p.values })).count === 0) throw new UniqueViolation(table.name);
  }

  async get<R>(table: Table<R>, where: Where<R>, options: { forUpdate?: boolean } = {}): Promise<R | undefined> {
    const rows = await this.find(table, where, { ...options, limit: 2 });
    if (rows.length > 1) throw new Error(`${table.name}: get() matched more than one row; use find()`);
    return rows[0];
  }

  async find<R>(table: Table<R>, where: Where<R>, options?: FindOptions<R>): Promise<R[]> {
    const result = await this.run(table, selectSql(this.d, table, where as Record<string, unknown>, options));
    return result.rows.map((raw) => decodeRow(this.d, table, raw) as R);
  }

  async update<R>(table: Table<R>, where: Where<R>, patch: Partial<R>): Promise<number> {
    const { d } = this;
    const p = new Params(d);
    const sets = Object.entries(patch as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([f, v]) => `${col(d, f)} = ${p.add(encodeValue(d, table, f, v))}`);
    if (sets.length === 0) return (await this.find(table, where)).length;
    const sql = `UPDATE ${d.quote(table.name)} SET ${sets.join(', ')}${whereSql(d, table, where as Record<string, unknown>, p)}`;
    return (await this.run(table, { sql, params: p.values })).count;
  }

  async increment<R>(table: Table<R>, where: Where<R>, deltas: Partial<Record<keyof R & string, number>>): Promise<number> {
    const { d } = this;
    const p = new Params(d);
    const sets: string[] = [];
    for (const [field, delta] of Object.entries(deltas as Record<string, number | undefined>)) {
      if (delta === undefined) continue;
      const def = columnDef(table, field);
      if (def.type !== 'int' && def.type !== 'bigint') throw new TypeError(`${table.name}.${field}: increment needs an int or bigint column`);
      if (!Number.isSafeInteger(delta)) throw new TypeError(`${table.name}.${field}: the delta must be an integer`);
      const current = def.nullable ? `COALESCE(${col(d, field)}, 0)` : col(d, field);
      sets.push(`${col(d, field)} = ${current} + ${p.add(delta)}`);
    }
    if (sets.length === 0) return (await this.find(table, where)).length;
    const sql = `UPDATE ${d.quote(table.name)} SET ${sets.join(', ')}${whereSql(d, table, where as Record<string, unknown>, p)}`;
    return (await this.run(table, { sql, params: p.values })).count;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema (DDL). No values here: only identifiers and type names.

/** `<table>_<columns>_key|idx`, shortened with a hash to fit PostgreSQL's 63 characters. */
function indexName(table: string, fields: readonly string[], unique: boolean): string {
  const name = `${table}_${fields.map(columnName).join('_')}_${unique ? 'key' : 'idx'}`;
  if (name.length <= 63) return name;
  let hash = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return `${name.slice(0, 54)}_${(hash >>> 0).toString(16).padStart(8, '0')}`;
}

const columnList = (d: Dialect, fields: readonly string[]): string => fields.map((f) => col(d, f)).join(', ');

function columnSql(d: Dialect, table: AnyTable, field: string): string {
  const def = columnDef(table, field);
  return `${col(d, field)} ${d.columnType(def)}${def.nullable ? '' : ' NOT NULL'}`;
}

/** CREATE TABLE (with only the columns that later migrations do not add) and its indexes. */
export function createTableSql(d: Dialect, table: AnyTable, addedLater: ReadonlySet<string>): Query[] {
  const parts = fieldsOf(table).filter((f) => !addedLater.has(f)).map((f) => columnSql(d, table, f));
  parts.push(`PRIMARY KEY (${columnList(d, table.primaryKey)})`);
  for (const key of table.unique) parts.push(`CONSTRAINT ${d.quote(indexName(table.name, key, true))} UNIQUE (${columnList(d, key)})`);
  if (d.inlineIndexes) for (const key of table.indexes) parts.push(`INDEX ${d.quote(indexName(table.name, key, false))} (${columnList(d, key)})`);
  const statements = [`CREATE TABLE IF NOT EXISTS ${d.quote(table.name)} (\n  ${parts.join(',\n  ')}\n)${d.tableSuffix}`];
  if (!d.inlineIndexes) for (const key of table.indexes) statements.push(createIndexSql(d, table, key, false));
  return statements.map((sql) => ({ sql, params: [], ddl: true }));
}

function createIndexSql(d: Dialect, table: AnyTable, fields: readonly string[], unique: boolean): string {
  const ifNotExists = d.indexIfNotExists ? 'IF NOT EXISTS ' : '';
  return `CREATE ${unique ? 'UNIQUE ' : ''}INDEX ${ifNotExists}${d.quote(indexName(table.name, fields, unique))} ON ${d.quote(table.name)} (${columnList(d, fields)})`;
}

export function addIndexSql(d: Dialect, table: AnyTable, fields: readonly string[], unique: boolean): Query {
  return { sql: createIndexSql(d, table, fields, unique), params: [], ddl: true };
}

/** MySQL: turns a table's 'string' columns created as VARCHAR (PAD SPACE) into VARBINARY, in place. */
export function exactStringsSql(d: Dialect, table: AnyTable): Query[] {
  const strings = fieldsOf(table).filter((f) => columnDef(table, f).type === 'string');
  if (d.kind !== 'mysql' || strings.length === 0) return [];
  const modify = strings.map((f) => `MODIFY ${columnSql(d, table, f)}`).join(', ');
  return [{ sql: `ALTER TABLE ${d.quote(table.name)} ${modify}`, params: [], ddl: true }];
}

export function addColumnSql(d: Dialect, table: AnyTable, field: string): Query {
  const ifNotExists = d.columnIfNotExists ? 'IF NOT EXISTS ' : '';
  return { sql: `ALTER TABLE ${d.quote(table.name)} ADD COLUMN ${ifNotExists}${columnSql(d, table, field)}`, params: [], ddl: true };
}
