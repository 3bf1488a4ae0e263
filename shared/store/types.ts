/**
 * The datastore adapter layer: the one small interface every job writes through.
 *
 * Jobs declare their tables with `defineTable` (in their own folder) and use a handful of
 * operations inside `store.transaction(...)`. Each backend (SQLite, PostgreSQL, MySQL, ...) is one
 * file that implements `Store`; nothing outside `shared/store` knows which SQL dialect is in use.
 */

export type ColumnType =
  /** Short text that may be part of a key or index (VARCHAR(maxLength) on MySQL; default 191). */
  | 'string'
  /** Long text, never indexed (TEXT). */
  | 'text'
  /** 32-bit signed integer. */
  | 'int'
  /** 64-bit signed integer, surfaced as a JS number (must be a safe integer). */
  | 'bigint'
  | 'bool'
  /** Any JSON value, stored as JSON/JSONB/TEXT; read back parsed. */
  | 'json'
  /** A JS Date with millisecond precision (timestamptz / DATETIME(3) / ISO-8601 text). */
  | 'timestamp';

export interface ColumnDef {
  type: ColumnType;
  /** Column may hold null (surfaced as `null`). Default false. */
  nullable?: boolean;
  /** For 'string': the maximum length in characters (default 191). */
  maxLength?: number;
}

type ColumnValue<C extends ColumnDef> = C['type'] extends 'string' | 'text'
  ? string
  : C['type'] extends 'int' | 'bigint'
    ? number
    : C['type'] extends 'bool'
      ? boolean
      : C['type'] extends 'timestamp'
        ? Date
        : C['type'] extends 'json'
          ? unknown
          : never;

export type RowOf<Cols extends Record<string, ColumnDef>> = {
  -readonly [K in keyof Cols]: Cols[K]['nullable'] extends true ? ColumnValue<Cols[K]> | null : ColumnValue<Cols[K]>;
};

export interface Table<R = Record<string, unknown>> {
  /** SQL table name (snake_case, prefixed by the job, e.g. `record_upload_uploads`). */
  readonly name: string;
  /** Field name (camelCase in rows) → column definition. Column names are the snake_case of the field. */
  readonly columns: { readonly [K in keyof R]: ColumnDef };
  readonly primaryKey: readonly (keyof R & string)[];
  /** Unique constraints; the first one is the default conflict target of `insertOnce`. */
  readonly unique: readonly (readonly (keyof R & string)[])[];
  readonly indexes: readonly (readonly (keyof R & string)[])[];
  /** Later schema changes, applied in order after the table was created (see `defineTable`). */
  readonly migrations: readonly Migration<keyof R & string>[];
  /** Phantom field that carries the row type. */
  readonly __row?: R;
}

/**
 * One dialect-neutral schema change. `addColumn` names a field of the table's `columns` (which must be
 * nullable, so existing rows stay valid); `addIndex` creates a (unique) index on existing fields.
 */
export type MigrationStep<F extends string = string> =
  | { readonly addColumn: F }
  | { readonly addIndex: readonly F[]; readonly unique?: boolean };

/**
 * A named list of steps, recorded as `<table>@<name>` once applied. Never edit an applied migration
 * (its checksum is checked); append a new one instead.
 */
export interface Migration<F extends string = string> {
  readonly name: string;
  readonly up: readonly MigrationStep<F>[];
}

/** Equality on each named field (`null` matches NULL), or a range on comparable fields. */
export type Where<R> = {
  [K in keyof R]?: R[K] | { lt?: R[K]; lte?: R[K]; gt?: R[K]; gte?: R[K] };
};

export interface FindOptions<R> {
  orderBy?: keyof R & string;
  descending?: boolean;
  limit?: number;
  /** Lock the returned rows until the transaction ends (SELECT ... FOR UPDATE where supported). */
  forUpdate?: boolean;
}

/** The operations a job may perform inside a transaction. */
export interface Tx {
  /**
   * Inserts `row` unless a row with the same values in the conflict key exists (default: the
   * table's first unique constraint, or its primary key when it has none). Returns the stored row (the existing one when it was a
   * duplicate). Safe under concurrency: of N concurrent calls with the same key exactly one inserts.
   */
  insertOnce<R>(table: Table<R>, row: R, conflictKey?: readonly (keyof R & string)[]): Promise<{ row: R; duplicate: boolean }>;
  /** Plain insert; throws a `UniqueViolation` if a unique key already exists. */
  insert<R>(table: Table<R>, row: R): Promise<void>;
  /** The single row matching `where`, or undefined. */
  get<R>(table: Table<R>, where: Where<R>, options?: { forUpdate?: boolean }): Promise<R | undefined>;
  find<R>(table: Table<R>, where: Where<R>, options?: FindOptions<R>): Promise<R[]>;
  /** Updates the rows matching `where`; returns how many matched. */
  update<R>(table: Table<R>, where: Where<R>, patch: Partial<R>): Promise<number>;
  /** Adds the given deltas to numeric columns of the rows matching `where` (atomic). Returns rows matched. */
  increment<R>(table: Table<R>, where: Where<R>, deltas: Partial<Record<keyof R & string, number>>): Promise<number>;
}

export interface TransactionOptions {
  /** When aborted, the transaction is rolled back (and the connection discarded if a query hangs). */
  signal?: AbortSignal;
}

export interface InsertOnceOptions<R> {
  /** The conflict key (default: the table's first unique constraint, else its primary key). */
  conflictKey?: readonly (keyof R & string)[];
  /** As for `transaction`: when aborted, nothing is committed (and the reply is the abort reason). */
  signal?: AbortSignal;
  /**
   * When `signal` aborts, in `performance.now()` milliseconds (monotonic; a job has it as
   * `context.deadline`). With it, PostgreSQL commits in one round trip: BEGIN, the INSERT, a guard
   * that fails once the server's clock has passed this moment (less a margin), and COMMIT, in one
   * write; the guard keeps "nothing commits after the deadline" (see postgres.ts). Without it, or
   * when the connection has no recent clock sample, two round trips as before.
   */
  deadline?: number;
}

export interface Store {
  /** 'sqlite' | 'postgres' | 'mysql' | ... */
  readonly kind: string;
  /** Where it points, for logs and the startup banner; never includes a password. */
  readonly label: string;
  /** Creates or upgrades the given tables. Idempotent and safe when many instances start at once. */
  migrate(tables: readonly Table<any>[]): Promise<void>;
  /**
   * Runs `fn` in a transaction and commits when it resolves. Retries `fn` on serialization failures
   * and deadlocks. Failures to reach the store surface as `CallbackError('StoreUnavailable')`.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * `Tx.insertOnce` as a transaction of its own, with the same guarantees (committed when it
   * resolves; of concurrent calls with one key exactly one inserts; nothing committed when the signal
   * aborts first), in as few round trips as the backend allows. PostgreSQL with `deadline`: one
   * (BEGIN, the INSERT, a deadline guard and COMMIT in one write; a duplicate reads the existing row
   * in a second). Otherwise the INSERT starts the transaction (PostgreSQL: BEGIN and the INSERT go out
   * in one write; MySQL: the session runs with autocommit off), then COMMIT: two round trips.
   */
  insertOnce<R>(table: Table<R>, row: R, options?: InsertOnceOptions<R>): Promise<{ row: R; duplicate: boolean }>;
  close(): Promise<void>;
}
