/**
 * End to end: `npm run simulate` (scripts/simulate.ts) as a developer runs it, against the local
 * server (`npm start`'s script, spawned as test/e2e/local-server.test.ts does) for every function,
 * and in its one-command `--serve` mode with a key pair of its own.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadFunctions } from '../../scripts/functions.js';
import { startLocalServer } from '../helpers/server.js';

const root = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'oss-cb-sim-'));
const PNG = 'test/fixtures/simulator/pixel-3x2.png';
let server: ChildProcess;
let base = '';

function serverEnv(dbFile: string): Record<string, string> {
  // FC_REGION: functions that build OSS URLs need the region, which FC sets in production.
  // OSS_VERIFY_OBJECTS=off: these runs declare objects (--size, every function's template) that no OSS
  // holds. simulate --oss (the file stored in the local OSS first, verification on) is covered by
  // test/e2e/local-oss.test.ts; the object check by test/integration/trust.test.ts.
  return { DATABASE_URL: `sqlite:${dbFile}`, FC_REGION: process.env.FC_REGION ?? 'cn-hangzhou', OSS_VERIFY_OBJECTS: 'off' };
}

before(async () => {
  const started = await startLocalServer(serverEnv(join(tmp, 'server.db')));
  server = started.child;
  base = started.base;
});

after(() => {
  server?.kill('SIGTERM');
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

function simulate(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    json = undefined;
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, json };
}

/** `--var name=sample` for every custom variable a function's template names. */
function customVars(template: string): string[] {
  return [...template.matchAll(/\$\{x:([^}]+)\}/g)].flatMap((m) => ['--var', `${m[1]}=sample-${m[1]}`]);
}

/** Every OSS callback function (tasks have no callback). */
const callbackFunctions = await loadFunctions();

describe('npm run simulate against the local server', () => {
  for (const { name, job } of callbackFunctions) {
    for (const json of [false, true]) {
      it(`${name}: a ${json ? 'JSON' : 'form'} callback for an uploaded PNG → 200, passed through to the uploader`, () => {
        const run = simulate([
          '--function', name,
          ...(json ? ['--json'] : []),
          ...customVars(json ? job.template.json : job.template.form),
          '--to', base,
          '--file', PNG,
          '--key', `e2e/${name}/中文 ${json ? 'json' : 'form'}.png`,
          '--output', 'json',
        ]);
        assert.equal(run.status, 0, run.stdout + run.stderr);
        assert.equal(run.json.outcome, 'ok');
        assert.equal(run.json.uploader.status, 200);
        assert.equal(typeof JSON.parse(run.json.uploader.body), 'object');
        assert.deepEqual(run.json.object.image, { width: 3, height: 2, format: 'png' });
        assert.equal(run.json.attempts.length, 1);
      });
    }
  }

  it('record-upload: the same upload (bucket, key, ETag) twice is recorded once; the request id is no key', () => {
    const args = ['--function', 'record-upload', '--to', base, '--key', 'e2e/dup.png', '--file', PNG, '--req-id', 'E2E0SIM0DUPLICATE0000001', '--output', 'json'];
    const first = simulate(args);
    const second = simulate(args);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const a = JSON.parse(first.json.uploader.body);
    const b = JSON.parse(second.json.uploader.body);
    assert.equal(a.duplicate, false);
    assert.deepEqual(b, { id: a.id, duplicate: true });
    // Other bytes under the same key with the same request id: another upload, recorded.
    const other = simulate(['--function', 'record-upload', '--to', base, '--key', 'e2e/dup.png', '--size', '12', '--req-id', 'E2E0SIM0DUPLICATE0000001', '--output', 'json']);
    assert.equal(JSON.parse(other.json.uploader.body).duplicate, false);
  });

  it('prints a readable report: the request, the reply, what the uploader gets', () => {
    const run = simulate(['--function', 'record-upload', '--to', base, '--file', PNG, '--var', 'owner=alice']);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /→ POST http:\/\/127\.0\.0\.1:\d+\/record-upload {3}\(Host: 127\.0\.0\.1\)/);
    assert.match(run.stdout, /x:owner=alice/);
    assert.match(run.stdout, /← 200 in \d+ ms: \{"id":/);
    assert.match(run.stdout, /The uploader gets:\nHTTP\/1\.1 200 OK\n/);
    assert.match(run.stdout, /etag: "[0-9A-F]{32}"/);
  });

  it('a callback the server refuses → 203 CallbackFailed with OSS’s message, exit 1', () => {
    const callback = JSON.stringify({ callbackUrl: `${base}/no-such-function`, callbackBody: 'bucket=${bucket}' });
    const run = simulate(['--callback', callback, '--size', '3']);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /HTTP\/1\.1 203 Non-Authoritative Information/);
    assert.match(run.stdout, /<Message>Error status : 404\.<\/Message>/);
  });

  it('a key the functions do not trust → the function answers 403 → 203', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const keyFile = join(tmp, 'untrusted.pem');
    writeFileSync(keyFile, privateKey);
    const run = simulate(['--function', 'record-upload', '--to', base, '--size', '3', '--private-key', keyFile, '--keys-file', join(tmp, 'untrusted.json'), '--output', 'json']);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.json.uploader.body, /<Message>Error status : 403\.<\/Message>/);
    assert.equal(JSON.parse(run.json.attempts[0].result.body).error.code, 'PublicKeyUrlForbidden');
  });

  it('refused parameters → 400 InvalidArgument, nothing sent, exit 2', () => {
    const run = simulate(['--callback', Buffer.from('{"callbackUrl":"x","callbackBody":"a=$b}"}').toString('base64'), '--size', '1', '--output', 'json']);
    assert.equal(run.status, 2);
    assert.equal(run.json.uploader.status, 400);
    assert.match(run.json.uploader.body, /Left brace must be adjacent to dollar sign\./);
    assert.deepEqual(run.json.attempts, []);
  });
});

describe('npm run simulate --serve: one command', () => {
  it('starts the local server trusting its own key pair, sends, prints, stops', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const keyFile = join(tmp, 'own.pem');
    writeFileSync(keyFile, privateKey);
    const keysFile = join(tmp, 'own-keys.json');
    const run = simulate(
      ['--serve', '--function', 'record-upload', '--file', 'test/fixtures/simulator/pixel-9x6-lossy.webp', '--private-key', keyFile, '--keys-file', keysFile, '--output', 'json'],
      { DATABASE_URL: `sqlite:${join(tmp, 'serve.db')}`, OSS_ALLOWED_BUCKETS: '' },
    );
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(run.json.outcome, 'ok');
    assert.equal(JSON.parse(run.json.uploader.body).duplicate, false);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(keysFile, 'utf8'))), ['http://127.0.0.1/oss-callback-simulator-key.pem']);
    // The callbackUrl it prints is the one it used: the started server's port, not 9000.
    const url = new URL(run.json.attempts[0].url);
    assert.equal(url.pathname, '/record-upload');
    assert.notEqual(url.port, '9000', run.json.attempts[0].url);
  });

  it('--help says how, and that localhost is allowed unlike OSS', () => {
    const run = simulate(['--help']);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /--serve/);
    assert.match(run.stdout, /Private address is forbidden to callback\./);
    assert.match(run.stdout, /loopback/);
  });
});
