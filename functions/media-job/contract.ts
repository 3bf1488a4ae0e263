/**
 * The media job contract, shared by media-job (creates and hands off jobs), media-dispatch (hands off
 * jobs again) and your worker (functions/media-worker-example shows one).
 *
 * THE JOB EVENT (version 1). The worker function is invoked asynchronously with this JSON event:
 *
 *   {"type":"media-job","version":1,"jobId":"0193…","dispatch":1,
 *    "bucket":"examplebucket","object":"videos/a.mp4","owner":"alice","size":10485760,"mimeType":"video/mp4",
 *    "etag":"5EB6…","preset":"video-default","table":"media_jobs","createdAt":"2026-11-20T08:00:00.000Z"}
 *
 * - `dispatch` counts hand-offs of this job (1 = the first); the same job may arrive more than once
 *   (a re-dispatch, FC's own async retries), so a worker must CLAIM before working.
 * - Unknown fields may be added within version 1; a breaking change gets version 2.
 *
 * STATUS, reported by the worker in the `media_jobs` table (columns are the snake_case of the fields
 * below) through this project's datastore layer (`claimJob` / `finishJob`), or with equivalent SQL:
 *
 *   queued ──claim──▶ running ──finish──▶ succeeded | failed
 *
 * - claim: in one transaction, lock the row (`SELECT … FOR UPDATE`); give up if it is succeeded or
 *   failed (already done), or running with `lease_until` in the future (another run has it);
 *   otherwise set status = running, run_id = a new id, attempts + 1, started_at = now,
 *   lease_until = now + the time the work may take.
 * - finish: set status = succeeded (with `result`, JSON) or failed (with `error`, text) and
 *   finished_at, WHERE id = the job AND run_id = your run id AND status = running. No row updated
 *   means another run took the job over after your lease expired: drop your result.
 * - A job left queued (hand-off failed, event lost) or running past its lease (worker died) is
 *   handed off again by media-dispatch after MEDIA_REDISPATCH_AFTER_S, at most MEDIA_MAX_DISPATCHES
 *   times; then it is marked failed.
 */
import * as v from 'valibot';
import { OBJECT_COLUMNS, VERSION_COLUMNS, versionMigration } from '../../shared/core/object-state.js';
import { env, envConfig, newId, type PlatformContext } from '../../shared/index.js';
import { defineTable, type Store } from '../../shared/index.js';
import { HandoffError, invokeAsync, type HandoffTarget } from '../../shared/handoff/index.js';

export const JOB_EVENT_TYPE = 'media-job';

export const mediaJobs = defineTable(
  'media_jobs',
  {
    // OBJECT_COLUMNS, in the order the deployed table has them.
    id: OBJECT_COLUMNS.id,
    idempotencyKey: OBJECT_COLUMNS.idempotencyKey,
    bucket: OBJECT_COLUMNS.bucket,
    object: OBJECT_COLUMNS.object,
    /** Whose upload (MEDIA_JOB_OWNER_FROM); null for jobs created before owner binding. */
    owner: { type: 'string', maxLength: 128, nullable: true },
    size: OBJECT_COLUMNS.size,
    mimeType: { type: 'string', maxLength: 255, nullable: true },
    etag: OBJECT_COLUMNS.etag,
    preset: { type: 'string', maxLength: 64 },
    status: { type: 'string', maxLength: 16 }, // queued | running | succeeded | failed | cancelled (object deleted while queued)
    dispatchCount: { type: 'int' },
    lastDispatchAt: { type: 'timestamp', nullable: true },
    /** When media-dispatch may hand the job off again if it is still queued (or its lease expired). */
    nextDispatchAt: { type: 'timestamp' },
    dispatchRequestId: { type: 'string', maxLength: 128, nullable: true },
    dispatchError: { type: 'text', nullable: true },
    attempts: { type: 'int' },
    runId: { type: 'string', maxLength: 36, nullable: true },
    leaseUntil: { type: 'timestamp', nullable: true },
    startedAt: { type: 'timestamp', nullable: true },
    finishedAt: { type: 'timestamp', nullable: true },
    result: { type: 'json', nullable: true },
    error: { type: 'text', nullable: true },
    createdAt: { type: 'timestamp' },
    updatedAt: { type: 'timestamp' },
    ...VERSION_COLUMNS,
  },
  {
    primaryKey: ['id'],
    unique: [['idempotencyKey']],
    indexes: [['status', 'nextDispatchAt']],
    migrations: [{ name: 'add-owner', up: [{ addColumn: 'owner' }] }, versionMigration()],
  },
);

export type MediaJob = NonNullable<(typeof mediaJobs)['__row']>;

/** The job event (see the top of this file). */
export const mediaJobEvent = v.looseObject({
  type: v.literal(JOB_EVENT_TYPE),
  version: v.literal(1),
  jobId: v.pipe(v.string(), v.nonEmpty()),
  dispatch: v.number(),
  bucket: v.string(),
  object: v.string(),
  owner: v.optional(v.nullable(v.string())),
  size: v.number(),
  mimeType: v.nullable(v.string()),
  etag: v.string(),
  preset: v.string(),
  table: v.string(),
  createdAt: v.string(),
});
export type MediaJobEvent = v.InferOutput<typeof mediaJobEvent>;

export function jobEvent(job: MediaJob): MediaJobEvent {
  return {
    type: JOB_EVENT_TYPE,
    version: 1,
    jobId: job.id,
    dispatch: job.dispatchCount,
    bucket: job.bucket,
    object: job.object,
    owner: job.owner,
    size: job.size,
    mimeType: job.mimeType,
    etag: job.etag,
    preset: job.preset,
    table: mediaJobs.name,
    createdAt: job.createdAt.toISOString(),
  };
}

/** Where and how jobs are handed off; read by media-job and media-dispatch. */
export const handoffConfig = envConfig({
  /** The worker function's name: yours (the default is the shipped example). */
  MEDIA_WORKER_FUNCTION: env.string({ default: 'media-worker-example', pattern: /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/, expected: 'a function name' }),
  /** Set when the worker is an FC 2.0 function in this service: hand-offs then use the 2016-08-15 API (@alicloud/fc2). */
  MEDIA_WORKER_SERVICE: env.optional({ pattern: /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/, expected: 'a service name' }),
  MEDIA_WORKER_QUALIFIER: env.optional({ pattern: /^[A-Za-z0-9_-]{1,128}$/, expected: 'a version or alias' }),
  /** auto: fc2 when MEDIA_WORKER_SERVICE is set, else fc3. */
  MEDIA_FC_API: env.oneOf(['auto', 'fc2', 'fc3'], { default: 'auto' }),
  /** Default https://<account>.<region>.fc.aliyuncs.com (`npm start` points it at itself). */
  MEDIA_FC_ENDPOINT: env.optional({ pattern: /^https?:\/\/[^\s/]+\/?$/, expected: 'an http(s)://host[:port] URL' }),
  MEDIA_HANDOFF_TIMEOUT_MS: env.integer({ default: 1500, min: 100, max: 3000 }),
  MEDIA_REDISPATCH_AFTER_S: env.integer({ default: 300, min: 10, max: 86_400 }),
  MEDIA_MAX_DISPATCHES: env.integer({ default: 5, min: 1, max: 100 }),
});

export function handoffTarget(c = handoffConfig()): HandoffTarget {
  const api = c.MEDIA_FC_API === 'auto' ? (c.MEDIA_WORKER_SERVICE ? 'fc2' : 'fc3') : c.MEDIA_FC_API;
  if (api === 'fc2' && !c.MEDIA_WORKER_SERVICE) {
    throw new HandoffError('HandoffNotConfigured', 'MEDIA_FC_API=fc2 needs MEDIA_WORKER_SERVICE (the FC 2.0 API addresses a function by service and name)');
  }
  return {
    api,
    functionName: c.MEDIA_WORKER_FUNCTION,
    ...(c.MEDIA_WORKER_SERVICE ? { serviceName: c.MEDIA_WORKER_SERVICE } : {}),
    ...(c.MEDIA_WORKER_QUALIFIER ? { qualifier: c.MEDIA_WORKER_QUALIFIER } : {}),
    ...(c.MEDIA_FC_ENDPOINT ? { endpoint: c.MEDIA_FC_ENDPOINT.replace(/\/$/, '') } : {}),
    timeoutMs: c.MEDIA_HANDOFF_TIMEOUT_MS,
  };
}

/**
 * Hands `job` (already committed, its dispatchCount already counting this hand-off) to the worker,
 * then records the outcome. Never throws for a failed hand-off: the job stays queued for media-dispatch.
 */
export async function dispatchJob(
  store: Store,
  job: MediaJob,
  platform: PlatformContext | undefined,
  signal?: AbortSignal,
): Promise<{ dispatched: boolean; api?: string; requestId?: string; error?: string }> {
  let outcome: { dispatched: boolean; api?: string; requestId?: string; error?: string };
  try {
    const result = await invokeAsync(handoffTarget(), jobEvent(job), platform, signal ? { signal } : {});
    outcome = { dispatched: true, api: result.api, ...(result.requestId ? { requestId: result.requestId } : {}) };
  } catch (error) {
    outcome = { dispatched: false, error: error instanceof Error ? error.message : String(error) };
  }
  try {
    await store.transaction((tx) =>
      tx.update(mediaJobs, { id: job.id }, { dispatchRequestId: outcome.requestId ?? null, dispatchError: outcome.error ?? null, updatedAt: new Date() }),
    );
  } catch {
    // Only bookkeeping: the job itself is committed, and a later dispatch overwrites these fields.
  }
  return outcome;
}

type Claim = { claimed: true; job: MediaJob; runId: string } | { claimed: false; reason: 'unknown' | 'finished' | 'running'; job?: MediaJob };

/** Claims a job for one run (see "claim" above); `leaseMs` is how long the work may take. */
export async function claimJob(store: Store, jobId: string, leaseMs: number, now = new Date()): Promise<Claim> {
  return store.transaction(async (tx) => {
    const job = await tx.get(mediaJobs, { id: jobId }, { forUpdate: true });
    if (!job) return { claimed: false, reason: 'unknown' };
    if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') return { claimed: false, reason: 'finished', job };
    if (job.status === 'running' && job.leaseUntil && job.leaseUntil > now) return { claimed: false, reason: 'running', job };
    const runId = newId();
    const patch = { status: 'running', runId, attempts: job.attempts + 1, startedAt: now, leaseUntil: new Date(now.getTime() + leaseMs), updatedAt: now };
    await tx.update(mediaJobs, { id: jobId }, patch);
    return { claimed: true, job: { ...job, ...patch }, runId };
  });
}

/** Records the end of a claimed run; false when the run had lost its lease to another. */
export async function finishJob(
  store: Store,
  claim: { job: MediaJob; runId: string },
  outcome: { status: 'succeeded'; result: unknown } | { status: 'failed'; error: string },
): Promise<boolean> {
  const now = new Date();
  const patch =
    outcome.status === 'succeeded'
      ? { status: 'succeeded', result: outcome.result ?? null, error: null, finishedAt: now, leaseUntil: null, updatedAt: now }
      : { status: 'failed', error: outcome.error, finishedAt: now, leaseUntil: null, updatedAt: now };
  const updated = await store.transaction((tx) => tx.update(mediaJobs, { id: claim.job.id, runId: claim.runId, status: 'running' }, patch));
  return updated === 1;
}
