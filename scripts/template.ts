/**
 * `npm run template -- <function-name> [callback-url] [--json]`: prints the callback parameter an
 * uploader should send for that function: the callback JSON and its base64 (`x-oss-callback`).
 * `npm run template -- --upload-jobs` writes functions/upload-policy/jobs.json (every job's template).
 */
import { loadFunction } from './functions.js';
import { writeUploadJobs } from './upload-jobs.js';

const args = process.argv.slice(2);
if (args.includes('--upload-jobs')) {
  process.stdout.write(`wrote ${await writeUploadJobs()}\n`);
  process.exit(0);
}
const json = args.includes('--json');
const [name, url] = args.filter((a) => !a.startsWith('--'));
if (!name) {
  process.stderr.write('usage: npm run template -- <function-name> [callback-url] [--json]\n');
  process.exit(2);
}
const { job } = await loadFunction(name);
const callback = {
  callbackUrl: url ?? `https://<your-trigger-domain>/`,
  callbackBody: json ? job.template.json : job.template.form,
  callbackBodyType: json ? 'application/json' : 'application/x-www-form-urlencoded',
};
process.stdout.write(`callbackBody:\n  ${callback.callbackBody}\n\n`);
process.stdout.write(`callback JSON:\n  ${JSON.stringify(callback)}\n\n`);
process.stdout.write(`x-oss-callback (base64):\n  ${Buffer.from(JSON.stringify(callback)).toString('base64')}\n`);
