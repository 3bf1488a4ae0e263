/**
 * Development tools never ship: every function is bundled exactly as `npm run build` bundles it
 * (functionBuildOptions), into a temporary folder, and no bundle contains anything from
 * shared/testing/ (the local OSS emulator, the simulator, test signing) — neither by esbuild's
 * record of its inputs nor by the emulator's marker strings in the built code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';
import { functionBuildOptions } from '../../scripts/build.js';
import { functionNames } from '../../scripts/functions.js';

const out = mkdtempSync(join(tmpdir(), 'oss-cb-bundle-'));
after(() => rmSync(out, { recursive: true, force: true }));

/** Strings only the emulator's code has (its Server header, its log key, its module name). */
const MARKERS = ['AliyunOSS', 'ossEmulator', 'oss-emulator'];

describe('function bundles', () => {
  for (const name of functionNames()) {
    it(`${name}: no development tool (shared/testing/, the local OSS emulator) is in the bundle`, async () => {
      const outfile = join(out, name, 'index.js');
      const result = await build({ ...functionBuildOptions(name), outfile, sourcemap: false, legalComments: 'none', logLevel: 'silent' });
      const inputs = Object.keys(result.metafile.inputs);
      assert.ok(inputs.some((path) => path.startsWith(`functions/${name}/`)), `the bundle was built from functions/${name}`);
      assert.deepEqual(inputs.filter((path) => path.includes('shared/testing/') || path.includes('busboy')), []);
      const code = readFileSync(outfile, 'utf8');
      for (const marker of MARKERS) assert.equal(code.includes(marker), false, `${marker} is in dist/${name}/index.js`);
    });
  }

  it('the check can fail: a bundle of the emulator itself has the markers', async () => {
    const outfile = join(out, 'emulator.js');
    const entry = join(import.meta.dirname, '..', '..', 'shared', 'testing', 'oss-emulator', 'index.ts');
    const result = await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', metafile: true, minify: true, logLevel: 'silent' });
    assert.ok(Object.keys(result.metafile.inputs).some((path) => path.includes('shared/testing/oss-emulator/')));
    const code = readFileSync(outfile, 'utf8');
    assert.ok(MARKERS.every((marker) => code.includes(marker)));
  });
});
