/**
 * functions/upload-policy/jobs.json: the callback templates of every callback function, so that the
 * upload-policy bundle knows them without bundling the jobs. Written by
 * `npm run template -- --upload-jobs` and by `npm run build`; test/unit/jobs/upload-jobs.test.ts
 * fails when the committed file is stale.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTIONS_DIR, loadFunctions } from './functions.js';

export const UPLOAD_JOBS_FILE = join(FUNCTIONS_DIR, 'upload-policy', 'jobs.json');

export async function uploadJobsManifest(): Promise<string> {
  const templates = Object.fromEntries((await loadFunctions()).map((fn) => [fn.name, fn.job.template.form]));
  return `${JSON.stringify({ generatedBy: 'npm run template -- --upload-jobs', templates }, null, 2)}\n`;
}

export async function writeUploadJobs(): Promise<string> {
  writeFileSync(UPLOAD_JOBS_FILE, await uploadJobsManifest());
  return UPLOAD_JOBS_FILE;
}
