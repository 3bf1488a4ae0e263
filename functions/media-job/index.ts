/**
 * media-job: starts long media processing (transcoding, scanning, thumbnails) without making OSS
 * wait. For an upload whose MIME type has a preset (MEDIA_PRESETS), it commits a job (status
 * "queued", the upload, the preset) and THEN hands it to the worker function by FC asynchronous
 * invocation (shared/handoff: @alicloud/fc2 for an FC 2.0 worker, the FC 3.0 API otherwise),
 * replying at once. The same upload delivered twice gets the same job (and no second hand-off).
 * Bucket, key, size, ETag and MIME type are OSS's (HeadObject), so a forged callback never starts a
 * worker; the owner is bound per MEDIA_JOB_OWNER_FROM (shared/core/owner.ts) and sent in the job event.
 *
 * A failed hand-off is not an error for the uploader: the upload is fine and the job is committed,
 * so the reply is still 200, with "dispatched": false; media-dispatch (timer) hands it off again.
 * The worker contract (event, status reporting): ./contract.ts.
 *
 * On an OSS event (./lifecycle.ts): creates the job of an upload whose callback was lost; cancels the
 * queued job of a deleted or overwritten object.
 *
 * Reply: 200 {"id","status":"queued","preset","duplicate","dispatched"}; for other uploads
 *        200 {"id":null,"skipped":"<why>"}.
 */
import * as v from 'valibot';
import { createHandler, defineJob, env, envConfig, oss } from '../../shared/index.js';
import { callbackVersion } from '../../shared/core/object-state.js';
import { dispatchJob, mediaJobs } from './contract.js';
import { mediaKeys, onMediaEvent, queuedJob } from './lifecycle.js';

export { mediaJobs } from './contract.js';

/** `video/*=video-default;audio/*=audio-default`: MIME pattern → preset, first match wins. */
export function parsePresets(raw: string): { pattern: string; preset: string }[] {
  return raw
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [pattern = '', preset = '', extra] = part.split('=').map((s) => s.trim().toLowerCase());
      if (extra !== undefined || !/^[a-z0-9.+-]+\/(\*|[a-z0-9.+-]+)$/.test(pattern) || !/^[a-z0-9._-]{1,64}$/.test(preset)) {
        throw new Error(`${JSON.stringify(part)} is not <type/subtype or type/*>=<preset name>`);
      }
      return { pattern, preset };
    });
}

export function presetFor(mimeType: string | undefined, presets: readonly { pattern: string; preset: string }[]): string | undefined {
  const type = (mimeType ?? '').split(';')[0]!.trim().toLowerCase();
  return presets.find(({ pattern }) => pattern === type || (pattern.endsWith('/*') && type.startsWith(pattern.slice(0, -1))))?.preset;
}

export const config = envConfig({
  MEDIA_PRESETS: env.custom((raw) => {
    try {
      return parsePresets(raw ?? 'video/*=video-default;audio/*=audio-default');
    } catch (error) {
      return env.invalid((error as Error).message);
    }
  }),
});

export const job = defineJob({
  name: 'media-job',
  description: 'Media jobs: commit a job for video/audio uploads, hand it to a worker asynchronously.',
  payload: v.object({ bucket: oss.bucket, object: oss.object, etag: oss.etag, size: oss.size, mimeType: oss.mimeType, reqId: oss.reqId }),
  custom: v.object({ owner: v.optional(v.string()) }),
  tables: [mediaJobs, mediaKeys],
  owner: true,

  async handle({ object: o, owner, callback, store, signal, log }) {
    const preset = presetFor(o.contentType, config().MEDIA_PRESETS);
    if (!preset) {
      log({ skipped: true });
      return { id: null, skipped: `${JSON.stringify(o.contentType ?? '')} has no preset in MEDIA_PRESETS: no job` };
    }
    const now = new Date();
    // 1. Commit the job first: whatever happens to the hand-off, it is never lost.
    const version = callbackVersion(o.bucket, o.key, callback.receivedAt);
    const job = queuedJob({ idempotencyKey: callback.idempotencyKey, bucket: o.bucket, object: o.key, owner: owner!.id, size: o.size, mimeType: o.contentType ?? null, etag: o.etag, preset }, version, now);
    const { row, duplicate } = await store.transaction((tx) => tx.insertOnce(mediaJobs, job), { signal });
    if (duplicate && row.callbackAt === null) {
      // Its OSS event created (and handed off) the job first: this is its callback, not a duplicate.
      const claimed = await store.transaction((tx) => tx.update(mediaJobs, { id: row.id, callbackAt: null }, { callbackAt: callback.receivedAt, owner: owner!.id, updatedAt: now }), { signal });
      if (claimed === 1) {
        log({ jobId: row.id, duplicate: false, createdByEvent: true });
        return { id: row.id, status: row.status, preset: row.preset, duplicate: false, dispatched: false };
      }
    }
    if (duplicate) {
      log({ jobId: row.id, duplicate });
      return { id: row.id, status: row.status, preset: row.preset, duplicate, dispatched: false };
    }
    // 2. Hand it off (asynchronous invocation: FC answers 202 at once).
    const handoff = await dispatchJob(store, row, callback.platform, signal);
    log({ jobId: row.id, duplicate, dispatched: handoff.dispatched, handoffApi: handoff.api, fcRequestId: handoff.requestId, handoffError: handoff.error });
    return { id: row.id, status: 'queued', preset, duplicate, dispatched: handoff.dispatched };
  },

  /** An event: creates the job of an upload whose callback was lost; cancels queued jobs of deleted objects (./lifecycle.ts). */
  onEvent: (context) => onMediaEvent(context, (mimeType) => presetFor(mimeType, config().MEDIA_PRESETS)),
});

export const handler = createHandler(job);
