/**
 * ============================================================================================
 *  EXAMPLE WORKER — replace it with your own. It transcodes nothing: it shows the media job
 *  contract (functions/media-job/contract.ts) end to end, and is what the tests run.
 * ============================================================================================
 *
 * Invoked asynchronously by media-job / media-dispatch with the job event
 * {"type":"media-job","version":1,"jobId",…,"preset"}. It claims the job (queued → running, with a
 * lease of MEDIA_WORKER_LEASE_S), does its "work", and reports succeeded (with a JSON result) or
 * failed (with the error) through the datastore layer. A job that is already finished, or running
 * under another run's lease, is left alone (the same event may arrive twice).
 *
 * Its "work": refuses an empty file, waits MEDIA_WORKER_EXAMPLE_DELAY_MS, and returns what a real
 * worker would produce (here only a description). A real worker would fetch the object from OSS
 * (ali-oss, preinstalled in the FC runtime, with the role credentials in `platform`), process it
 * per `event.preset`, and write the outputs back.
 */
import { createTaskHandler, defineTask, env, envConfig } from '../../shared/index.js';
import { claimJob, finishJob, mediaJobEvent, mediaJobs, type MediaJobEvent } from '../media-job/contract.js';

export const config = envConfig({
  /** How long one run may hold a job (keep it at least the function's timeout). */
  MEDIA_WORKER_LEASE_S: env.integer({ default: 600, min: 1, max: 86_400 }),
  MEDIA_WORKER_EXAMPLE_DELAY_MS: env.integer({ default: 0, min: 0, max: 60_000 }),
});

async function exampleWork(event: MediaJobEvent): Promise<Record<string, unknown>> {
  if (event.size === 0) throw new Error(`${event.object} is empty: nothing to process`);
  await new Promise((resolve) => setTimeout(resolve, config().MEDIA_WORKER_EXAMPLE_DELAY_MS));
  return { preset: event.preset, input: `oss://${event.bucket}/${event.object}`, inputBytes: event.size, note: 'example worker: nothing was transcoded' };
}

export const task = defineTask({
  name: 'media-worker-example',
  description: 'EXAMPLE media worker: claims a job, "processes" it, reports succeeded/failed.',
  trigger: 'invoke',
  event: mediaJobEvent,
  tables: [mediaJobs],

  async run({ event, store, log }) {
    const claim = await claimJob(store, event.jobId, config().MEDIA_WORKER_LEASE_S * 1000);
    if (!claim.claimed) {
      log({ jobId: event.jobId, skipped: claim.reason });
      return { jobId: event.jobId, skipped: claim.reason };
    }
    let outcome: { status: 'succeeded'; result: unknown } | { status: 'failed'; error: string };
    try {
      outcome = { status: 'succeeded', result: await exampleWork(event) };
    } catch (error) {
      outcome = { status: 'failed', error: error instanceof Error ? error.message : String(error) };
    }
    const recorded = await finishJob(store, claim, outcome);
    log({ jobId: event.jobId, jobStatus: outcome.status, recorded, attempt: claim.job.attempts });
    return { jobId: event.jobId, status: recorded ? outcome.status : 'superseded' };
  },
});

export const handler = createTaskHandler(task);
