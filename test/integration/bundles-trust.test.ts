/**
 * The development key (test/fixtures/keys) and "any bucket" are trusted only by `npm start` and
 * `npm run invoke` (scripts/local-env.ts): no deployable bundle may carry them. Builds every function
 * with the build's own esbuild options into a temporary folder, then checks
 *  - what went in: no module from scripts/, test/ or shared/testing/;
 *  - what came out: not the development public key, its URL or file, the local FC key pair, nor a
 *    default of `*` for OSS_ALLOWED_BUCKETS;
 *  - what it does: each callback function's bundle, loaded in a child process with an EMPTY
 *    environment (and again with only OSS_ALLOWED_BUCKETS set), refuses a callback signed with the
 *    development key, whatever key URL it names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, type Metafile } from 'esbuild';
import { functionBuildOptions } from '../../scripts/build.js';
import { functionNames, loadAnyFunction } from '../../scripts/functions.js';
import { LOCAL_FC_DEV_KEY } from '../../scripts/local-env.js';
import type { Fc3HttpEvent } from '../../shared/runtime/fc3.js';
import { fc3Event } from '../../shared/testing/platforms.js';
import { DEV_KEY_URL, DEV_KEYS_FILE, DEV_TRUSTED_KEYS, signedRequest, uploadValues } from '../helpers/callbacks.js';
import { callbackBody } from './jobs-helpers.js';

const FC3_BASE = JSON.parse(readFileSync(new URL('../fixtures/fc3/form-plain.json', import.meta.url), 'utf8')) as Fc3HttpEvent;
const DEV_PEM_BODY = DEV_TRUSTED_KEYS[DEV_KEY_URL]!.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');

let folder = '';
const built = new Map<string, { code: string; inputs: string[] }>();

before(async () => {
  folder = mkdtempSync(join(tmpdir(), 'bundles-trust-'));
  for (const name of functionNames()) {
    const outfile = join(folder, name, 'index.js');
    const result = await build({ ...functionBuildOptions(name), outfile, logLevel: 'error' });
    const inputs = Object.keys((result.metafile as Metafile).inputs);
    const code = readdirSync(join(folder, name))
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(join(folder, name, file), 'utf8'))
      .join('\n');
    built.set(name, { code, inputs });
  }
});
after(() => rmSync(folder, { recursive: true, force: true }));

describe('no function bundle trusts the development key or any bucket', () => {
  it('builds every function', () => {
    assert.deepEqual([...built.keys()].sort(), functionNames().sort());
    assert.ok(built.size >= 4);
  });

  it('bundles nothing from scripts/, test/ or shared/testing/', () => {
    for (const [name, { inputs }] of built) {
      const local = inputs.filter((path) => /^(scripts|test|shared\/testing)\//.test(path));
      assert.deepEqual(local, [], `${name} bundles ${local.join(', ')}`);
    }
  });

  it('embeds neither the development key (PEM, URL, file) nor the local FC key pair nor a "*" bucket default', () => {
    const pemLines = DEV_TRUSTED_KEYS[DEV_KEY_URL]!.split('\n').filter((line) => line && !line.startsWith('-----'));
    for (const [name, { code }] of built) {
      assert.ok(code.length > 10_000, `${name}: a real bundle`);
      assert.ok(!code.replace(/\\n|\s/g, '').includes(DEV_PEM_BODY), `${name} embeds the development public key`);
      for (const line of pemLines) assert.ok(!code.includes(line), `${name} embeds a line of the development public key`);
      for (const text of ['oss-callback-dev-key', 'public-keys.json', 'fixtures/keys', DEV_KEYS_FILE, LOCAL_FC_DEV_KEY.accessKeyId, LOCAL_FC_DEV_KEY.accessKeySecret]) {
        assert.ok(!code.includes(text), `${name} embeds ${JSON.stringify(text)}`);
      }
      assert.doesNotMatch(code, /OSS_ALLOWED_BUCKETS\)?\s*(\?\?|\|\|)?=\s*["'`]\*["'`]/, `${name} defaults OSS_ALLOWED_BUCKETS to "*"`);
      assert.doesNotMatch(code, /OSS_ALLOWED_BUCKETS[^;]{0,40}(\?\?|\|\|)\s*["'`]\*["'`]/, `${name} defaults OSS_ALLOWED_BUCKETS to "*"`);
    }
  });

  it('each callback bundle, with an empty environment, refuses callbacks signed with the development key', async () => {
    let checked = 0;
    for (const name of built.keys()) {
      const fn = await loadAnyFunction(name);
      if (fn.kind !== 'callback') continue;
      checked++;
      const text = callbackBody(fn.job, uploadValues());
      const events = [DEV_KEY_URL, 'https://gosspublic.alicdn.com/callback_pub_key_v1.pem'].map((keyUrl) => fc3Event(FC3_BASE, signedRequest(text, { path: `/${name}`, keyUrl })));
      const envs: Record<string, string>[] = [{}, { OSS_ALLOWED_BUCKETS: 'examplebucket' }];
      for (const env of envs) {
        const replies = runBundle(join(folder, name, 'index.js'), events, env);
        const codes = replies.map((reply) => `${reply.status} ${JSON.parse(reply.body).error?.code}`);
        for (const code of codes) assert.doesNotMatch(code, /^2/, `${name} with ${JSON.stringify(env)}: ${codes.join(', ')}`);
        if ('OSS_ALLOWED_BUCKETS' in env) {
          // The bucket is allowed: what refuses is the key. Its URL is not OSS's; under OSS's URL it is not OSS's key.
          assert.deepEqual(codes, ['403 PublicKeyUrlForbidden', '401 SignatureInvalid'], name);
        }
      }
    }
    assert.ok(checked >= 3, `callback functions checked: ${checked}`);
  });
});

/** Runs the bundle's FC 3.0 handler in a child process with only `env` (no PATH, nothing inherited). */
function runBundle(bundle: string, events: Fc3HttpEvent[], env: Record<string, string>): { status: number; body: string }[] {
  const child = `
    const { handler } = require(${JSON.stringify(bundle)});
    let input = '';
    process.stdin.on('data', (d) => (input += d)).on('end', async () => {
      const out = [];
      for (const event of JSON.parse(input)) {
        const r = await handler(Buffer.from(JSON.stringify(event)), { requestId: 'bundle-test' });
        out.push({ status: r.statusCode, body: r.body });
      }
      process.stdout.write('\\nRESULT ' + JSON.stringify(out) + '\\n', () => process.exit(0));
    });`;
  const result = spawnSync(process.execPath, ['-e', child], { input: JSON.stringify(events), env, encoding: 'utf8', timeout: 30_000 });
  const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `the bundle did not answer: ${result.stderr}${result.stdout}`);
  return JSON.parse(line.slice('RESULT '.length)) as { status: number; body: string }[];
}
