/** upload-policy's knowledge of the jobs stays true: the generated templates and the jobs' own limits. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { config as imageConfig } from '../../../functions/image-upload/index.js';
import { imageLimits } from '../../../functions/upload-policy/jobs.js';
import { parseEnvConfig } from '../../../shared/core/env.js';
import { UPLOAD_JOBS_FILE, uploadJobsManifest } from '../../../scripts/upload-jobs.js';

test('functions/upload-policy/jobs.json is what `npm run template -- --upload-jobs` writes', async () => {
  assert.equal(readFileSync(UPLOAD_JOBS_FILE, 'utf8'), await uploadJobsManifest(), 'jobs.json is stale: run npm run template -- --upload-jobs');
});

test("upload-policy's image limits have image-upload's own defaults and parsing", () => {
  const own = parseEnvConfig(imageConfig.entries, {});
  const mine = parseEnvConfig(imageLimits.entries, {});
  assert.equal(mine.IMAGE_MAX_BYTES, own.IMAGE_MAX_BYTES);
  assert.deepEqual(mine.IMAGE_ALLOWED_FORMATS, own.IMAGE_ALLOWED_FORMATS);
  const set = { IMAGE_MAX_BYTES: '1234', IMAGE_ALLOWED_FORMATS: 'JPEG, png' };
  assert.deepEqual(parseEnvConfig(imageLimits.entries, set), { IMAGE_MAX_BYTES: 1234, IMAGE_ALLOWED_FORMATS: ['jpg', 'png'] });
  assert.deepEqual(parseEnvConfig(imageConfig.entries, set).IMAGE_ALLOWED_FORMATS, ['jpg', 'png']);
});
