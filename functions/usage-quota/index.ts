/**
 * usage-quota: exact stored bytes per owner. The owner is bound per USAGE_QUOTA_OWNER_FROM (an upload
 * token, the object key, or — local runs — x:owner: shared/core/owner.ts); the size is OSS's (HeadObject),
 * never the body's. An upload adds its size;
 * the same upload delivered again adds nothing; overwriting an object adjusts by the difference
 * (and moves the bytes if another owner had it). Each upload locks its object key, then the owner
 * rows in name order, so concurrent callbacks never lose an update and never deadlock.
 *
 * On a callback and on an OSS event alike, the ledger (./ledger.ts) decides what each upload charges:
 * a delete subtracts exactly the bytes charged for that object; a create whose callback never came
 * is charged to the owner from USAGE_QUOTA_OWNER_KEY_PATTERN, or recorded with the owner unknown.
 *
 * The quota is the owner's `quota_bytes` (a row in usage_quota_owners, set by the application) or
 * USAGE_QUOTA_DEFAULT_BYTES. An upload that takes the owner over it is refused with QuotaExceeded
 * (403) — but the object is already stored, so it is counted and recorded with over_quota = true,
 * for the application to delete. An upload that does not increase usage is never refused.
 *
 * Reply: 200 {"id","owner","sizeBytes","deltaBytes","usedBytes","quotaBytes","duplicate"}
 */
import * as v from 'valibot';
import { CallbackError, createHandler, defineJob, env, envConfig, newId, oss } from '../../shared/index.js';
import type { Store } from '../../shared/index.js';
import { changeOfEvent, objectHash } from '../../shared/core/object-state.js';
import { applyToLedger, ledger, ledgerKeys } from './ledger.js';
import { objects, owners, uploads } from './tables.js';

export const config = envConfig({
  /** Per owner, unless their usage_quota_owners row has quota_bytes. Default 1 GiB. */
  USAGE_QUOTA_DEFAULT_BYTES: env.integer({ default: 1024 ** 3, min: 0 }),
});

export { objects, owners, uploads } from './tables.js';

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
  tables: [owners, objects, uploads, ledger, ledgerKeys],
  owner: true,

  async handle({ object: o, owner: bound, callback, store, signal, log }) {
    const owner = bound!.id;
    const idempotencyKey = callback.idempotencyKey;
    const change = { kind: 'created' as const, bucket: o.bucket, key: o.key, etag: o.etag, at: callback.receivedAt, from: 'callback' as const };
    const { upload, duplicate } = await store.transaction(async (tx) => {
      const seen = await tx.get(uploads, { idempotencyKey });
      if (seen) return { upload: seen, duplicate: true };
      const { deltas, totals } = await applyToLedger(tx, change, o.size, owner);
      // A duplicate delivered at the same time waited for the key's lock: look again (READ COMMITTED sees it).
      const again = await tx.get(uploads, { idempotencyKey });
      if (again) return { upload: again, duplicate: true };
      const delta = deltas.get(owner) ?? 0;
      const mine = totals.get(owner)!;
      const quotaBytes = mine.quotaBytes ?? config().USAGE_QUOTA_DEFAULT_BYTES;
      const row = { id: newId(), idempotencyKey, objectHash: objectHash(o.bucket, o.key), owner, size: o.size, deltaBytes: delta, usedBytes: mine.usedBytes, quotaBytes, overQuota: delta > 0 && mine.usedBytes > quotaBytes, receivedAt: callback.receivedAt };
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

  /** An event: charges a create whose callback never came (owner from the key pattern, else unknown); a delete gives the bytes back. */
  async onEvent({ event: e, owner, store, signal, log }) {
    const change = changeOfEvent(e);
    const { deltas } = await store.transaction((tx) => applyToLedger(tx, change, e.size, owner?.id), { signal });
    log({ deltas: Object.fromEntries(deltas) });
  },
});

export const handler = createHandler(job);
