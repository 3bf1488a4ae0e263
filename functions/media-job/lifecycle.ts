/**
 * media-job and OSS events (shared/core/object-state.ts decides what the bucket holds):
 *  - an upload whose callback was lost gets its job from the ObjectCreated event (MIME type from the
 *    event's objectMeta; owner from MEDIA_JOB_OWNER_KEY_PATTERN, else null), committed, then handed off;
 *  - a deleted (or overwritten) object's job still queued is cancelled (status "cancelled": media-dispatch
 *    and workers leave it); one already running or finished is left as it is (the worker finds the object
 *    gone and reports failed).
 */
import { applyObjectChange, changeOfEvent, objectKeysTable, type VersionRow } from '../../shared/core/object-state.js';
import type { ObjectEventContext } from '../../shared/index.js';
import { newId } from '../../shared/index.js';
import { dispatchJob, handoffConfig, type MediaJob, mediaJobs } from './contract.js';

/** One row per object key: serializes callbacks and events of one key. */
export const mediaKeys = objectKeysTable('media_jobs');

/** The fields of a new queued job (its hand-off is counted as the first dispatch). */
export function queuedJob(
  fields: Pick<MediaJob, 'idempotencyKey' | 'bucket' | 'object' | 'owner' | 'size' | 'mimeType' | 'etag' | 'preset'>,
  version: Omit<VersionRow, 'idempotencyKey' | 'etag'>,
  now: Date,
): MediaJob {
  return {
    ...fields,
    ...version,
    id: newId(),
    status: 'queued',
    dispatchCount: 1,
    lastDispatchAt: now,
    nextDispatchAt: new Date(now.getTime() + handoffConfig().MEDIA_REDISPATCH_AFTER_S * 1000),
    dispatchRequestId: null,
    dispatchError: null,
    attempts: 0,
    runId: null,
    leaseUntil: null,
    startedAt: null,
    finishedAt: null,
    result: null,
    error: null,
    createdAt: now,
    updatedAt: now,
  };
}

export async function onMediaEvent({ event: e, owner, store, signal, log, platform }: ObjectEventContext, presetOf: (mimeType: string | undefined) => string | undefined): Promise<void> {
  const now = new Date();
  const preset = e.kind === 'created' ? presetOf(e.mimeType) : undefined;
  const { row, inserted, rows } = await store.transaction(async (tx) => {
    const applied = await applyObjectChange(tx, {
      table: mediaJobs,
      keys: mediaKeys,
      change: changeOfEvent(e),
      now,
      newRow: (etag, base) =>
        preset === undefined
          ? undefined
          : queuedJob({ idempotencyKey: base.idempotencyKey, bucket: e.bucket, object: e.key, owner: owner?.id ?? null, size: e.size ?? 0, mimeType: e.mimeType ?? null, etag, preset }, base, now),
    });
    for (const job of applied.rows) {
      if (job.deletedAt !== null && job.status === 'queued') {
        await tx.update(mediaJobs, { id: job.id, status: 'queued' }, { status: 'cancelled', error: 'the object was deleted or overwritten before the job ran', finishedAt: now, updatedAt: now });
        job.status = 'cancelled';
      }
    }
    return applied;
  }, { signal });
  const cancelled = rows.filter((job) => job.status === 'cancelled' && job.finishedAt?.getTime() === now.getTime()).map((job) => job.id);
  if (row && inserted && row.status === 'queued') {
    const handoff = await dispatchJob(store, row, platform, signal);
    log({ jobId: row.id, created: true, dispatched: handoff.dispatched, handoffError: handoff.error, cancelled });
    return;
  }
  log({ jobId: row?.id ?? null, created: false, ...(e.kind === 'created' && preset === undefined && !row ? { skipped: `${JSON.stringify(e.mimeType ?? '')} has no preset in MEDIA_PRESETS (or the event carries no MIME type)` } : {}), cancelled });
}
