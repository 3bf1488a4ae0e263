/**
 * usage-quota's ledger: one row per upload (bucket + key + ETag) with what it charges whom, kept by the
 * rule of shared/core/object-state.ts. A version the bucket holds (deletedAt null) whose owner is known
 * charges that owner its size; any other charges nothing. After every callback or event the charges of
 * the key's versions are set to that, and the owners' totals move by exactly the difference, so:
 *  - a delete (or an overwrite) gives back exactly the bytes charged to that owner for that object;
 *  - a callback and the event of the same upload, duplicates and reorders charge once;
 *  - an object seen only through an event is charged to the owner from USAGE_QUOTA_OWNER_KEY_PATTERN,
 *    or recorded with owner null (unknown, charging nobody) until its callback names one.
 * Objects counted before the ledger existed (usage_quota_objects only) are brought in on first touch.
 */
import { applyObjectChange, callbackVersion, lockObjectKey, type ObjectChange, OBJECT_COLUMNS, objectKeysTable, VERSION_COLUMNS } from '../../shared/core/object-state.js';
import { defineTable, newId, objectIdempotencyKey, type Tx } from '../../shared/index.js';
import { objects, owners } from './tables.js';

export const ledger = defineTable(
  'usage_quota_ledger',
  {
    ...OBJECT_COLUMNS,
    /** Whose upload; null = unknown (an event without a key pattern match, no callback yet). */
    owner: { type: 'string', maxLength: 128, nullable: true },
    /** Who is charged now, and how much (0 when the version is gone or its owner unknown). */
    chargedOwner: { type: 'string', maxLength: 128, nullable: true },
    chargedBytes: { type: 'bigint' },
    ...VERSION_COLUMNS,
    updatedAt: { type: 'timestamp' },
  },
  { primaryKey: ['id'], unique: [['idempotencyKey']], indexes: [['objectHash'], ['chargedOwner']] },
);

export const ledgerKeys = objectKeysTable('usage_quota');

export interface Charged {
  /** The owner's usedBytes change per owner in this transaction. */
  deltas: Map<string, number>;
  /** The owners' rows after it. */
  totals: Map<string, { usedBytes: number; objectCount: number; quotaBytes: number | null }>;
}

/**
 * Applies a callback (owner bound by the callback) or an event (owner from the key pattern, or
 * undefined) to the ledger and the owners' totals, inside `tx`.
 */
export async function applyToLedger(tx: Tx, change: ObjectChange, size: number | undefined, owner: string | undefined, now = new Date()): Promise<Charged> {
  const hash = await lockObjectKey(tx, ledgerKeys, change.bucket, change.key, now);
  await adoptLegacy(tx, hash, now);
  const { row, rows } = await applyObjectChange(tx, {
    table: ledger,
    keys: ledgerKeys,
    change,
    now,
    newRow: (etag, base) => ({ ...base, id: newId(), bucket: change.bucket, object: change.key, etag, size: size ?? 0, owner: owner ?? null, chargedOwner: null, chargedBytes: 0, updatedAt: now }),
  });
  // A callback's owner (its configured binding) decides; an event's only fills an unknown one.
  if (row && owner !== undefined && change.kind === 'created' && row.owner !== owner && (change.from === 'callback' || row.owner === null)) {
    await tx.update(ledger, { idempotencyKey: row.idempotencyKey }, { owner, updatedAt: now });
    for (const r of [row, ...rows]) if (r.idempotencyKey === row.idempotencyKey) r.owner = owner;
  }
  // What each version should charge, against what it does.
  const moves = rows
    .map((r) => ({ r, owner: r.deletedAt === null ? r.owner : null, bytes: r.deletedAt === null && r.owner !== null ? r.size : 0 }))
    .filter((m) => m.owner !== m.r.chargedOwner || m.bytes !== m.r.chargedBytes);
  const names = [...new Set(moves.flatMap((m) => [m.owner, m.r.chargedOwner]).filter((n): n is string => n !== null)), ...(owner ? [owner] : [])];
  const totals: Charged['totals'] = new Map();
  for (const name of [...new Set(names)].sort()) {
    await tx.insertOnce(owners, { owner: name, usedBytes: 0, objectCount: 0, quotaBytes: null, updatedAt: now });
    const locked = (await tx.get(owners, { owner: name }, { forUpdate: true }))!;
    totals.set(name, { usedBytes: locked.usedBytes, objectCount: locked.objectCount, quotaBytes: locked.quotaBytes });
  }
  const deltas = new Map<string, number>();
  const add = (name: string | null, bytes: number, count: number) => {
    if (name === null || (bytes === 0 && count === 0)) return;
    const t = totals.get(name)!;
    t.usedBytes += bytes;
    t.objectCount += count;
    deltas.set(name, (deltas.get(name) ?? 0) + bytes);
  };
  for (const m of moves) {
    add(m.r.chargedOwner, -m.r.chargedBytes, m.r.chargedOwner !== null ? -1 : 0);
    add(m.owner, m.bytes, m.owner !== null ? 1 : 0);
    await tx.update(ledger, { idempotencyKey: m.r.idempotencyKey }, { chargedOwner: m.owner, chargedBytes: m.bytes, updatedAt: now });
  }
  for (const name of deltas.keys()) {
    const t = totals.get(name)!;
    await tx.update(owners, { owner: name }, { usedBytes: t.usedBytes, objectCount: t.objectCount, updatedAt: now });
  }
  // usage_quota_objects: what the key counts for now (size 0 once nothing of it is charged).
  const live = rows.find((r) => r.deletedAt === null && r.owner !== null);
  const current = { owner: live?.owner ?? '', size: live?.size ?? 0, etag: live?.etag ?? '', updatedAt: now };
  const created = await tx.insertOnce(objects, { objectHash: hash, bucket: change.bucket, object: change.key, ...current });
  if (created.duplicate) await tx.update(objects, { objectHash: hash }, current);
  return { deltas, totals };
}

/** An object counted before the ledger (a usage_quota_objects row, no ledger row): one charged version. */
async function adoptLegacy(tx: Tx, hash: string, now: Date): Promise<void> {
  const counted = await tx.get(objects, { objectHash: hash });
  if (!counted || counted.size === 0 || counted.owner === '') return;
  if ((await tx.find(ledger, { objectHash: hash }, { limit: 1 })).length > 0) return;
  await tx.insertOnce(ledger, {
    id: newId(),
    idempotencyKey: objectIdempotencyKey({ bucket: counted.bucket, key: counted.object, etag: counted.etag }),
    bucket: counted.bucket,
    object: counted.object,
    etag: counted.etag,
    size: counted.size,
    owner: counted.owner,
    chargedOwner: counted.owner,
    chargedBytes: counted.size,
    ...callbackVersion(counted.bucket, counted.object, counted.updatedAt),
    updatedAt: now,
  });
}
