/**
 * usage-quota: exact stored bytes per owner. The owner is bound per USAGE_QUOTA_OWNER_FROM (an upload
 * token, the object key, or — local runs — x:owner: shared/core/owner.ts); the size is OSS's (HeadObject),
 * never the body's. An upload adds its size;
 * the same upload delivered again adds nothing; overwriting an object adjusts by the difference
 * (and moves the bytes if another owner had it). Each upload locks its object row, then the owner
 * rows in name order, so concurrent callbacks never lose an update and never deadlock.
 *
 * The quota is the owner's `quota_bytes` (a row in usage_quota_owners, set by the application) or
 * USAGE_QUOTA_DEFAULT_BYTES. An upload that takes the owner over it is refused with QuotaExceeded
 * (403) — but the object is already stored, so it is counted and recorded with over_quota = true,
 * for the application to delete. An upload that does not increase usage is never refused.
 *
 * Reply: 200 {"id","owner","sizeBytes","deltaBytes","usedBytes","quotaBytes","duplicate"}
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { CallbackError, createHandler, defineJob, defineTable, env, envConfig, newId, oss } from '../../shared/index.js';
import type { Store } from '../../shared/index.js';

export const config = envConfig({
  /** Per owner, unless their usage_quota_owners row has quota_bytes. Default 1 GiB. */
  USAGE_QUOTA_DEFAULT_BYTES: env.integer({ default: 1024 ** 3, min: 0 }),
});

export const owners = defineTable(
  'usage_quota_owners',
  {
    owner: { type: 'string', maxLength: 128 },
    usedBytes: { type: 'bigint' },
    objectCount: { type: 'bigint' },
    /** Set by the application for this owner; null = USAGE_QUOTA_DEFAULT_BYTES. */
    quotaBytes: { type: 'bigint', nullable: true },
    updatedAt: { type: 'timestamp' },
  },
  { primaryKey: ['owner'] },
);

/** What each stored object counts for now, keyed by SHA-256(bucket + "/" + object) (keys are up to 1023 bytes). */
export const objects = defineTable(
  'usage_quota_objects',
  {
    objectHash: { type: 'string', maxLength: 64 },
    bucket: { type: 'string', maxLength: 63 },
    object: { type: 'text' },
    owner: { type: 'string', maxLength: 128 },
    size: { type: 'bigint' },
    etag: { type: 'string', maxLength: 128 },
    updatedAt: { type: 'timestamp' },
  },
  { primaryKey: ['objectHash'], indexes: [['owner']] },
);

/** One row per upload (the idempotency record), with what it did. */
export const uploads = defineTable(
  'usage_quota_uploads',
  {
    id: { type: 'string', maxLength: 36 },
    idempotencyKey: { type: 'string', maxLength: 160 },
    objectHash: { type: 'string', maxLength: 64 },
    owner: { type: 'string', maxLength: 128 },
    size: { type: 'bigint' },
    deltaBytes: { type: 'bigint' },
    usedBytes: { type: 'bigint' },
    quotaBytes: { type: 'bigint' },
    overQuota: { type: 'bool' },
    receivedAt: { type: 'timestamp' },
  },
  { primaryKey: ['id'], unique: [['idempotencyKey']], indexes: [['owner', 'receivedAt']] },
);

/** Sets (or clears, with null) an owner's own quota. */
export async function setQuota(store: Store, owner: string, quotaBytes: number | null): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.insertOnce(owners, { owner, usedBytes: 0, objectCount: 0, quotaBytes, updatedAt: new Date() });
    await tx.update(owners, { owner }, { quotaBytes, updatedAt: new Date() });
  });
}

export const job = defineJob({
  name: 'usage-quota',
  description: 'Per-owner storage accounting with quotas: exact, idempotent, safe under concurrency.',
  payload: v.object({ bucket: oss.bucket, object: oss.object, etag: oss.etag, size: oss.size, reqId: oss.reqId }),
  // x:owner is read only with USAGE_QUOTA_OWNER_FROM=x:owner (the template lists it for that case).
  custom: v.object({ owner: v.optional(v.string()) }),
  tables: [owners, objects, uploads],
  owner: true,

  async handle({ object: o, owner: bound, callback, store, signal, log }) {
    const owner = bound!.id;
    const p = { bucket: o.bucket, object: o.key, etag: o.etag, size: o.size };
    const idempotencyKey = callback.idempotencyKey;
    const objectHash = createHash('sha256').update(`${p.bucket}/${p.object}`).digest('hex');
    const now = new Date();
    const { upload, duplicate } = await store.transaction(async (tx) => {
      const seen = await tx.get(uploads, { idempotencyKey });
      if (seen) return { upload: seen, duplicate: true };
      // 1. Lock the object (created empty if new): uploads of one object run one at a time.
      const created = await tx.insertOnce(objects, { objectHash, bucket: p.bucket, object: p.object, owner, size: 0, etag: p.etag, updatedAt: now });
      const previous = (await tx.get(objects, { objectHash }, { forUpdate: true }))!;
      // A duplicate delivered at the same time waited for that lock: look again (READ COMMITTED sees it).
      const again = await tx.get(uploads, { idempotencyKey });
      if (again) return { upload: again, duplicate: true };
      // 2. Lock the owners involved, in name order.
      const moved = !created.duplicate ? null : previous.owner === owner ? null : previous.owner;
      const locked = new Map<string, { usedBytes: number; objectCount: number; quotaBytes: number | null }>();
      for (const name of [...new Set([owner, moved ?? owner])].sort()) {
        await tx.insertOnce(owners, { owner: name, usedBytes: 0, objectCount: 0, quotaBytes: null, updatedAt: now });
        locked.set(name, (await tx.get(owners, { owner: name }, { forUpdate: true }))!);
      }
      // 3. What this upload changes: an overwrite by the same owner counts the difference.
      const sameOwnerOverwrite = created.duplicate && moved === null;
      const delta = sameOwnerOverwrite ? p.size - previous.size : p.size;
      if (moved !== null) {
        const before = locked.get(moved)!;
        await tx.update(owners, { owner: moved }, { usedBytes: before.usedBytes - previous.size, objectCount: before.objectCount - 1, updatedAt: now });
      }
      const mine = locked.get(owner)!;
      const usedBytes = mine.usedBytes + delta;
      const quotaBytes = mine.quotaBytes ?? config().USAGE_QUOTA_DEFAULT_BYTES;
      await tx.update(owners, { owner }, { usedBytes, objectCount: mine.objectCount + (sameOwnerOverwrite ? 0 : 1), updatedAt: now });
      await tx.update(objects, { objectHash }, { owner, size: p.size, etag: p.etag, updatedAt: now });
      const row = { id: newId(), idempotencyKey, objectHash, owner, size: p.size, deltaBytes: delta, usedBytes, quotaBytes, overQuota: delta > 0 && usedBytes > quotaBytes, receivedAt: callback.receivedAt };
      await tx.insert(uploads, row);
      return { upload: row, duplicate: false };
    }, { signal });

    log({ uploadId: upload.id, owner, deltaBytes: upload.deltaBytes, usedBytes: upload.usedBytes, overQuota: upload.overQuota, duplicate });
    const reply = { id: upload.id, owner, sizeBytes: upload.size, deltaBytes: upload.deltaBytes, usedBytes: upload.usedBytes, quotaBytes: upload.quotaBytes, duplicate };
    if (upload.overQuota) {
      throw new CallbackError('QuotaExceeded', `owner ${JSON.stringify(owner)} now stores ${upload.usedBytes} bytes, over the quota of ${upload.quotaBytes}: the object is stored and counted; delete it or raise the quota`, { status: 403, details: reply });
    }
    return reply;
  },
});

export const handler = createHandler(job);
