/**
 * The join and ordering rule for one object key, in one place: every job that keeps a record per
 * upload (record-upload, usage-quota's ledger, image-upload, media-job) applies callbacks and OSS events
 * through `applyObjectChange`, so that per (bucket, key) its records converge to what the bucket holds,
 * whatever order callbacks, events and their redeliveries arrive in.
 *
 * A VERSION is one upload: bucket + key + ETag (`objectIdempotencyKey`). A callback and the event of the
 * same upload are JOINED on that: one row. The event's `responseElements.requestId` and the callback's
 * `${reqId}` are very likely the same id but OSS does not document it: it is stored (`eventRequestId`
 * beside the callback's) and logged as a confirmation (`requestIdMatches`), never used as the join key.
 *
 * Each version row keeps facts, merged so that any arrival order gives the same result:
 *  - `ossCreatedAt`: the latest ObjectCreated `eventTime` seen for this ETag (OSS's clock; events are
 *    authoritative), or the callback's arrival time while no event has been seen (`ossCreatedFrom`);
 *  - `ossRemovedAt`: the latest ObjectRemoved `eventTime` that named this ETag (a delete without an ETag
 *    is kept as a version with the ETag '' that applies to every version of the key).
 * From the facts of all versions of a key, `deletedAt` (what jobs and users read) is derived:
 *  - a version is LIVE when it was created, no removal of it (or of the whole key) is at or after its
 *    creation, and no other version was created after it;
 *  - `eventTime` decides between a create and a delete of the same key (real events carry no usable
 *    sequencer): a delete older than the version's create does not remove it; a create after a delete
 *    revives the key with the new ETag (and an identical re-upload, same ETag, revives that version);
 *  - a delete names the ETag it removed: it never removes another version;
 *  - a tie (same second: OSS event times have second precision) between a create and a delete of one
 *    ETag is a removal; between two creates, the greater ETag wins (arbitrary but order independent;
 *    `npm run reconcile` settles such a key against the bucket).
 * Redelivered events change no fact (the maxima are already there): they count once, and the jobs'
 * side effects, which follow LIVE/NOT LIVE transitions only, happen once.
 *
 * Concurrency: changes to one key are serialized by a lock row per key (`<job>_object_keys`), taken
 * before the versions are read.
 */
import { createHash } from 'node:crypto';
import { defineTable } from '../store/table.js';
import type { ColumnDef, Migration, Table, Tx } from '../store/types.js';
import { objectIdempotencyKey } from './object.js';

/** SHA-256 hex of `bucket/key`: keys are up to 1023 bytes, too long to index. */
export function objectHash(bucket: string, key: string): string {
  return createHash('sha256').update(`${bucket}/${key}`).digest('hex');
}

/**
 * The columns every job's per-upload table starts with: its id, the version's idempotency key
 * (`objectIdempotencyKey`: bucket + key + ETag), the object, its ETag and size. record-upload and the
 * usage-quota ledger spread them first, in this order; image-upload and media-job name them one by
 * one, where their deployed tables have them (the column order is part of a table's recorded schema).
 */
export const OBJECT_COLUMNS = {
  id: { type: 'string', maxLength: 36 },
  idempotencyKey: { type: 'string', maxLength: 160 },
  bucket: { type: 'string', maxLength: 63 },
  object: { type: 'text' },
  etag: { type: 'string', maxLength: 128 },
  size: { type: 'bigint' },
} as const satisfies Record<string, ColumnDef>;

/** The columns a job's per-upload table adds to follow the rule (all nullable: added by a migration). */
export const VERSION_COLUMNS = {
  objectHash: { type: 'string', maxLength: 64, nullable: true },
  /** When OSS created this version (the event's eventTime; the callback's arrival until an event is seen). */
  ossCreatedAt: { type: 'timestamp', nullable: true },
  /** 'event' | 'callback': where ossCreatedAt came from. */
  ossCreatedFrom: { type: 'string', maxLength: 16, nullable: true },
  /** The latest ObjectRemoved eventTime that named this ETag. */
  ossRemovedAt: { type: 'timestamp', nullable: true },
  /** When the object left the bucket (deleted or overwritten); null while the bucket holds it. */
  deletedAt: { type: 'timestamp', nullable: true },
  /** The OSS event's responseElements.requestId (the callback's reqId is kept beside it). */
  eventRequestId: { type: 'string', maxLength: 64, nullable: true },
  /** When the upload's callback arrived; null while only its events have been seen. */
  callbackAt: { type: 'timestamp', nullable: true },
} as const satisfies Record<string, ColumnDef>;

type VersionField = keyof typeof VERSION_COLUMNS;

/** The named migration that adds VERSION_COLUMNS to an existing table (e.g. `oss_uploads@events`). */
export function versionMigration(name = 'events', options: { hasObjectHash?: boolean } = {}): Migration<VersionField> {
  const fields = (Object.keys(VERSION_COLUMNS) as VersionField[]).filter((f) => !(options.hasObjectHash && f === 'objectHash'));
  return { name, up: [...fields.map((addColumn) => ({ addColumn })), ...(options.hasObjectHash ? [] : [{ addIndex: ['objectHash'] as VersionField[] }])] };
}

/** The ObjectChange an OSS event stands for. */
export function changeOfEvent(e: { kind: 'created' | 'removed'; bucket: string; key: string; etag?: string; eventTime: Date; requestId?: string }): ObjectChange {
  return e.kind === 'created'
    ? { kind: 'created', bucket: e.bucket, key: e.key, etag: e.etag!, at: e.eventTime, from: 'event', ...(e.requestId ? { requestId: e.requestId } : {}) }
    : { kind: 'removed', bucket: e.bucket, key: e.key, ...(e.etag ? { etag: e.etag } : {}), at: e.eventTime, ...(e.requestId ? { requestId: e.requestId } : {}) };
}

/** What a versioned row holds (besides the job's own fields). */
export interface VersionRow {
  idempotencyKey: string;
  etag: string;
  objectHash: string | null;
  ossCreatedAt: Date | null;
  ossCreatedFrom: string | null;
  ossRemovedAt: Date | null;
  deletedAt: Date | null;
  eventRequestId: string | null;
  callbackAt: Date | null;
}

/** The version fields of a row a callback inserts (its arrival time stands until the upload's event comes). */
export function callbackVersion(bucket: string, key: string, receivedAt: Date): Omit<VersionRow, 'idempotencyKey' | 'etag'> {
  return { objectHash: objectHash(bucket, key), ossCreatedAt: receivedAt, ossCreatedFrom: 'callback', ossRemovedAt: null, deletedAt: null, eventRequestId: null, callbackAt: receivedAt };
}

/** One fact arriving for a key. */
export type ObjectChange =
  | { kind: 'created'; bucket: string; key: string; etag: string; at: Date; from: 'event' | 'callback'; requestId?: string }
  | { kind: 'removed'; bucket: string; key: string; etag?: string; at: Date; requestId?: string };

interface Facts {
  etag: string;
  createdAt: Date | null;
  createdFrom: string | null;
  removedAt: Date | null;
}

const later = (a: Date | null, b: Date | null): Date | null => (a === null ? b : b === null ? a : a.getTime() >= b.getTime() ? a : b);

/** The facts after one change (pure; merging is commutative and idempotent). */
export function mergeFacts(facts: Facts, change: ObjectChange): Facts {
  if (change.kind === 'removed') return { ...facts, removedAt: later(facts.removedAt, change.at) };
  if (change.from === 'callback') {
    return facts.createdAt === null ? { ...facts, createdAt: change.at, createdFrom: 'callback' } : facts;
  }
  const createdAt = facts.createdFrom === 'event' ? later(facts.createdAt, change.at) : change.at;
  return { ...facts, createdAt, createdFrom: 'event' };
}

/** `deletedAt` of each version (by ETag) derived from the facts of all versions of one key: null = live. */
export function deriveDeletedAt(versions: readonly Facts[]): Map<string, Date | null> {
  const keyRemoved = versions.find((v) => v.etag === '')?.removedAt ?? null;
  const result = new Map<string, Date | null>();
  for (const v of versions) {
    if (v.etag === '') continue;
    if (v.createdAt === null) {
      result.set(v.etag, v.removedAt ?? keyRemoved ?? new Date(0));
      continue;
    }
    const created = v.createdAt.getTime();
    const removals = [v.removedAt, keyRemoved].filter((at): at is Date => at !== null && at.getTime() >= created);
    const newer = versions.filter(
      (o) => o.etag !== '' && o.etag !== v.etag && o.createdAt !== null && (o.createdAt.getTime() > created || (o.createdAt.getTime() === created && o.etag > v.etag)),
    );
    const ends = [...removals, ...newer.map((o) => o.createdAt!)].sort((a, b) => a.getTime() - b.getTime());
    result.set(v.etag, ends[0] ?? null);
  }
  return result;
}

export interface Transition<R> {
  row: R;
  wasLive: boolean;
  isLive: boolean;
}

export interface ApplyOptions<R extends VersionRow> {
  /** The job's per-upload table (with VERSION_COLUMNS). */
  table: Table<R>;
  /** The job's lock table (`objectKeysTable`). */
  keys: Table<ObjectKeyRow>;
  change: ObjectChange;
  /** A new row for a version first seen here (an event, a removal of an unknown ETag), or undefined: none is kept. */
  newRow(etag: string, base: VersionRow): R | undefined;
  now?: Date;
}

export interface Applied<R> {
  /** The row of the version the change names (undefined: a removal of an unknown ETag the job keeps no row for). */
  row: R | undefined;
  /** True when the change added that row. */
  inserted: boolean;
  /** Every version whose liveness changed (LIVE → deleted or back). */
  transitions: Transition<R>[];
  /** Every version of the key, as written (`deletedAt` null: the bucket holds it). */
  rows: R[];
}

export type ObjectKeyRow = NonNullable<ReturnType<typeof objectKeysTable>['__row']>;

/** The per-key lock table of a job: `<prefix>_object_keys`. */
export function objectKeysTable(prefix: string) {
  return defineTable(
    `${prefix}_object_keys`,
    { objectHash: { type: 'string', maxLength: 64 }, bucket: OBJECT_COLUMNS.bucket, object: OBJECT_COLUMNS.object, updatedAt: { type: 'timestamp' } },
    { primaryKey: ['objectHash'] },
  );
}

/** Locks the key (its row in `keys`, created if new) until the transaction ends. */
export async function lockObjectKey(tx: Tx, keys: Table<ObjectKeyRow>, bucket: string, key: string, now = new Date()): Promise<string> {
  const hash = objectHash(bucket, key);
  await tx.insertOnce(keys, { objectHash: hash, bucket, object: key, updatedAt: now });
  await tx.get(keys, { objectHash: hash }, { forUpdate: true });
  return hash;
}

/**
 * Applies one callback or event to the versions of its key, inside `tx`: locks the key, adds the
 * version's row when new (`newRow`), merges the facts, re-derives every version's `deletedAt`, writes
 * the rows that changed, and returns the LIVE transitions for the job's side effects.
 */
export async function applyObjectChange<R extends VersionRow>(tx: Tx, options: ApplyOptions<R>): Promise<Applied<R>> {
  const { table, change } = options;
  const now = options.now ?? new Date();
  const hash = await lockObjectKey(tx, options.keys, change.bucket, change.key, now);
  const etag = change.etag ?? '';
  const idempotencyKey = objectIdempotencyKey({ bucket: change.bucket, key: change.key, etag });
  const anyTable = table as Table<any>;

  let inserted = false;
  let target = (await tx.get(anyTable, { idempotencyKey })) as R | undefined;
  if (!target) {
    const base: VersionRow = { idempotencyKey, etag, objectHash: hash, ossCreatedAt: null, ossCreatedFrom: null, ossRemovedAt: null, deletedAt: null, eventRequestId: null, callbackAt: null };
    const row = options.newRow(etag, base);
    if (row) {
      const result = await tx.insertOnce(anyTable, row as R, ['idempotencyKey']);
      target = result.row as R;
      inserted = !result.duplicate;
    }
  }
  // Every version of the key (rows written before the `events` migration have no hash: the target is added).
  const rows = (await tx.find(anyTable, { objectHash: hash })) as R[];
  if (target && !rows.some((r) => r.idempotencyKey === target!.idempotencyKey)) rows.push(target);
  const facts = (r: R): Facts => ({
    etag: r.etag,
    // A row recorded before the rule existed counts as created when it was recorded.
    createdAt: r.ossCreatedAt ?? (r.objectHash === null ? legacyTime(r) : null),
    createdFrom: r.ossCreatedFrom,
    removedAt: r.ossRemovedAt,
  });
  const before = deriveDeletedAt(rows.map(facts));
  // A callback comes while OSS completes its upload: it is newer than any version only a callback recorded.
  const applied =
    change.kind === 'created' && change.from === 'callback'
      ? { ...change, at: new Date(Math.max(change.at.getTime(), ...rows.filter((r) => r.etag !== etag && r.ossCreatedFrom === 'callback' && r.ossCreatedAt).map((r) => r.ossCreatedAt!.getTime() + 1))) }
      : change;
  const merged = rows.map((r) => (r.idempotencyKey === idempotencyKey ? mergeFacts(facts(r), applied) : facts(r)));
  // A key-wide removal (no ETag) the job keeps no row for still applies to the versions it has.
  const after = deriveDeletedAt(target ? merged : [...merged, mergeFacts({ etag, createdAt: null, createdFrom: null, removedAt: null }, applied)]);

  const transitions: Transition<R>[] = [];
  for (const [i, r] of rows.entries()) {
    const f = merged[i]!;
    const deletedAt = after.get(r.etag) ?? null;
    const patch: Partial<VersionRow> = {};
    if (r.objectHash !== hash) patch.objectHash = hash;
    if (!sameTime(r.ossCreatedAt, f.createdAt)) patch.ossCreatedAt = f.createdAt;
    if (r.ossCreatedFrom !== f.createdFrom) patch.ossCreatedFrom = f.createdFrom;
    if (!sameTime(r.ossRemovedAt, f.removedAt)) patch.ossRemovedAt = f.removedAt;
    if (!sameTime(r.deletedAt, deletedAt) && r.etag !== '') patch.deletedAt = deletedAt;
    if (r.idempotencyKey === idempotencyKey && change.kind === 'created' && change.from === 'event' && change.requestId && r.eventRequestId !== change.requestId) {
      patch.eventRequestId = change.requestId;
    }
    if (Object.keys(patch).length > 0) {
      await tx.update(anyTable, { idempotencyKey: r.idempotencyKey }, patch as Partial<R>);
      Object.assign(r, patch);
    }
    if (r.etag === '') continue;
    const wasLive = before.has(r.etag) ? before.get(r.etag) === null && !(inserted && r.idempotencyKey === idempotencyKey) : false;
    const isLive = deletedAt === null;
    if (wasLive !== isLive) transitions.push({ row: r, wasLive, isLive });
  }
  return { row: target, inserted, transitions, rows: rows.filter((r) => r.etag !== '') };
}

function legacyTime(row: VersionRow): Date | null {
  const r = row as unknown as Record<string, unknown>;
  const at = r.receivedAt ?? r.createdAt;
  return at instanceof Date ? at : null;
}

const sameTime = (a: Date | null, b: Date | null): boolean => (a === null || b === null ? a === b : a.getTime() === b.getTime());
