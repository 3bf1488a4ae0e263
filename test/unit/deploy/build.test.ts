/** What `npm run build` puts in a function's deployed folder: the bundle, no source map. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { build } from 'esbuild';
import { functionBuildOptions } from '../../../scripts/build.js';

const out = mkdtempSync(join(tmpdir(), 'build-'));
after(() => rmSync(out, { recursive: true, force: true }));

it('ships no source map (none is read without --enable-source-maps, which costs cold start)', async () => {
  await build({ ...functionBuildOptions('record-upload'), outfile: join(out, 'index.js'), logLevel: 'error' });
  const files = readdirSync(out);
  assert.ok(files.includes('index.js'), files.join(', '));
  assert.deepEqual(files.filter((file) => file.endsWith('.map')), []);
  assert.doesNotMatch(readFileSync(join(out, 'index.js'), 'utf8'), /sourceMappingURL/);
});
