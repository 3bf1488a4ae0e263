/**
 * media-dispatch: the safety net of media-job, run by a timer trigger (every minute in s.yaml). It
 * hands off again every job that is still queued MEDIA_REDISPATCH_AFTER_S after its last hand-off
 * (the hand-off failed, or the event was lost), and every job whose worker let its lease expire
 * (the worker died), at most MEDIA_DISPATCH_BATCH jobs per run, oldest first. A job already handed
 * off MEDIA_MAX_DISPATCHES times is marked failed instead. Each job is re-checked under a row lock
 * before its hand-off, so overlapping runs never hand off one job twice.
 *
 * Not an OSS callback: an FC timer trigger invokes it with {"triggerTime","triggerName","payload"}.
 * Result: {"checked","dispatched","failedHandoffs","exhausted"}.
 */
import * as v from 'valibot';
import { createTaskHandler, defineTask, env, envConfig } from '../../shared/index.js';
import { dispatchJob, handoffConfig, mediaJobs, type MediaJob } from '../media-job/contract.js';

export const config = envConfig({
  MEDIA_DISPATCH_BATCH: env.integer({ default: 50, min: 1, max: 1000 }),
});

export const task = defineTask({
  name: 'media-dispatch',
  description: 'Timer: hands off media jobs left queued, or whose worker lease expired; bounded per run.',
  trigger: 'timer',
  event: v.looseObject({ triggerTime: v.optional(v.string()), triggerName: v.optional(v.string()) }),
  tables: [mediaJobs],

  async run({ store, platform, log }) {
    const { MEDIA_DISPATCH_BATCH: batch } = config();
    const { MEDIA_REDISPATCH_AFTER_S: after, MEDIA_MAX_DISPATCHES: maxDispatches } = handoffConfig();
    const now = new Date();
    const due = { nextDispatchAt: { lte: now } };
    const candidates = await store.transaction(async (tx) => {
      const queued = await tx.find(mediaJobs, { status: 'queued', ...due }, { orderBy: 'nextDispatchAt', limit: batch });
      const stale = queued.length >= batch ? [] : await tx.find(mediaJobs, { status: 'running', leaseUntil: { lte: now }, ...due }, { orderBy: 'nextDispatchAt', limit: batch - queued.length });
      return [...queued, ...stale];
    });
    let dispatched = 0;
    let failedHandoffs = 0;
    let exhausted = 0;
    for (const candidate of candidates) {
      // Re-check under the row lock, and count the hand-off before making it.
      const job = await store.transaction(async (tx): Promise<MediaJob | 'exhausted' | undefined> => {
        const row = await tx.get(mediaJobs, { id: candidate.id }, { forUpdate: true });
        const stillDue = row && row.nextDispatchAt <= now && (row.status === 'queued' || (row.status === 'running' && row.leaseUntil !== null && row.leaseUntil <= now));
        if (!row || !stillDue) return undefined;
        if (row.dispatchCount >= maxDispatches) {
          const error = `not finished after ${row.dispatchCount} hand-offs (MEDIA_MAX_DISPATCHES=${maxDispatches}); last hand-off error: ${row.dispatchError ?? 'none'}`;
          await tx.update(mediaJobs, { id: row.id }, { status: 'failed', error, finishedAt: now, leaseUntil: null, updatedAt: now });
          return 'exhausted';
        }
        const patch = { dispatchCount: row.dispatchCount + 1, lastDispatchAt: now, nextDispatchAt: new Date(now.getTime() + after * 1000), updatedAt: now };
        await tx.update(mediaJobs, { id: row.id }, patch);
        return { ...row, ...patch };
      });
      if (job === 'exhausted') exhausted += 1;
      else if (job) {
        const handoff = await dispatchJob(store, job, platform);
        if (handoff.dispatched) dispatched += 1;
        else failedHandoffs += 1;
      }
    }
    const result = { checked: candidates.length, dispatched, failedHandoffs, exhausted };
    log(result);
    return result;
  },
});

export const handler = createTaskHandler(task);
