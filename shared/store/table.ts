/**
 * `defineTable`: declares a table once, with its row type inferred from the column definitions.
 * Everything is validated here, at definition time, so a mistake fails on import of the job rather
 * than on the first request (or only on one backend).
 *
 *   export const uploads = defineTable('record_upload_uploads', {
 *     id: { type: 'string', maxLength: 36 },
 *     objectKey: { type: 'string', maxLength: 1024 },
 *     createdAt: { type: 'timestamp' },
 *     note: { type: 'text', nullable: true },
 *   }, { primaryKey: ['id'], unique: [['objectKey']], migrations: [{ name: 'add-note', up: [{ addColumn: 'note' }] }] });
 */
import type { ColumnDef, ColumnType, Migration, RowOf, Table } from './types.js';

export interface TableOptions<F extends string> {
  primaryKey: readonly F[];
  /** Unique constraints created with the table; the first is the default key of `insertOnce`. */
  unique?: readonly (readonly F[])[];
  /** Plain indexes created with the table. */
  indexes?: readonly (readonly F[])[];
  /** Later changes (columns added by them must be nullable and not be used by the keys above). */
  migrations?: readonly Migration<F>[];
}

const COLUMN_TYPES: readonly ColumnType[] = ['string', 'text', 'int', 'bigint', 'bool', 'json', 'timestamp'];
const TABLE_NAME = /^[a-z][a-z0-9_]{0,47}$/;
const FIELD_NAME = /^[a-z][a-zA-Z0-9]*$/;
const MIGRATION_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** InnoDB's limit for one index key, in bytes; utf8mb4 takes up to 4 bytes a character. */
const MAX_KEY_BYTES = 3072;

/** `objectKey` → `object_key`, `fileMD5` → `file_md5`. */
export function columnName(field: string): string {
  let name = columnNames.get(field);
  if (name === undefined) {
    name = field.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
    if (columnNames.size < 10_000) columnNames.set(field, name); // fields come from table definitions: a handful
  }
  return name;
}
/** Memo of `columnName`: it runs for every column of every statement and row. */
const columnNames = new Map<string, string>();

export function defineTable<const C extends Record<string, ColumnDef>>(
  name: string,
  columns: C,
  options: TableOptions<keyof C & string>,
): Table<RowOf<C>> {
  const fail = (message: string): never => {
    throw new Error(`defineTable('${name}'): ${message}`);
  };
  if (!TABLE_NAME.test(name)) fail('the name must be snake_case (a-z, 0-9, _), start with a letter, at most 48 characters');
  const fields = Object.keys(columns);
  if (fields.length === 0) fail('no columns');
  const seen = new Set<string>();
  for (const field of fields) {
    const def = columns[field]!;
    if (!FIELD_NAME.test(field)) fail(`field "${field}" must be camelCase (letters and digits)`);
    const column = columnName(field);
    if (column.length > 63) fail(`column "${column}" is longer than 63 characters`);
    if (seen.has(column)) fail(`two fields map to column "${column}"`);
    seen.add(column);
    if (!COLUMN_TYPES.includes(def.type)) fail(`field "${field}" has unknown type "${String(def.type)}"`);
    if (def.maxLength !== undefined) {
      if (def.type !== 'string') fail(`field "${field}": maxLength only applies to 'string' columns`);
      if (!Number.isInteger(def.maxLength) || def.maxLength < 1 || def.maxLength > 16383) {
        fail(`field "${field}": maxLength must be an integer from 1 to 16383`);
      }
    }
  }

  const migrations = options.migrations ?? [];
  const addedLater = new Set<string>();
  for (const migration of migrations) {
    for (const step of migration.up) if ('addColumn' in step) addedLater.add(step.addColumn);
  }

  const checkKey = (key: readonly string[], what: string, allowLater: ReadonlySet<string>): void => {
    if (key.length === 0) fail(`${what} has no fields`);
    if (new Set(key).size !== key.length) fail(`${what} repeats a field`);
    let bytes = 0;
    for (const field of key) {
      const def = columns[field];
      if (def === undefined) return fail(`${what} names unknown field "${field}"`);
      if (def.type === 'text' || def.type === 'json') fail(`${what} uses "${field}", a '${def.type}' column, which cannot be indexed`);
      if (addedLater.has(field) && !allowLater.has(field)) fail(`${what} uses "${field}", which a later migration adds`);
      bytes += def.type === 'string' ? (def.maxLength ?? 191) * 4 : 8;
    }
    if (bytes > MAX_KEY_BYTES) fail(`${what} is too long for a MySQL index (${bytes} > ${MAX_KEY_BYTES} bytes): lower maxLength`);
  };

  const none = new Set<string>();
  checkKey(options.primaryKey, 'primaryKey', none);
  for (const field of options.primaryKey) if (columns[field]?.nullable) fail(`primary key field "${field}" must not be nullable`);
  const unique = options.unique ?? [];
  const indexes = options.indexes ?? [];
  unique.forEach((key, i) => checkKey(key, `unique[${i}]`, none));
  indexes.forEach((key, i) => checkKey(key, `indexes[${i}]`, none));

  const names = new Set<string>();
  const added = new Set<string>();
  for (const migration of migrations) {
    const what = `migration "${migration.name}"`;
    if (!MIGRATION_NAME.test(migration.name) || migration.name === '1') {
      fail(`${what}: names are lower case (a-z, 0-9, _ . -), and "1" is the creation of the table`);
    }
    if (names.has(migration.name)) fail(`${what} is listed twice`);
    names.add(migration.name);
    if (migration.up.length === 0) fail(`${what} has no steps`);
    for (const step of migration.up) {
      if ('addColumn' in step) {
        const def = columns[step.addColumn];
        if (def === undefined) fail(`${what} adds unknown field "${step.addColumn}" (declare it in the columns)`);
        else if (!def.nullable) fail(`${what} adds "${step.addColumn}", which must be nullable (existing rows have no value)`);
        if (added.has(step.addColumn)) fail(`${what} adds "${step.addColumn}" a second time`);
        added.add(step.addColumn);
      } else if ('addIndex' in step) {
        checkKey(step.addIndex, `${what} addIndex`, added);
      } else {
        fail(`${what} has an unknown step ${JSON.stringify(step)}`);
      }
    }
  }

  return Object.freeze({
    name,
    columns: columns as unknown as Table<RowOf<C>>['columns'],
    primaryKey: options.primaryKey,
    unique,
    indexes,
    migrations,
  });
}
