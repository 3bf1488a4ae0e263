/**
 * `npm run smoke` end to end, as after a deploy but against `npm start` (spawned) with its local OSS
 * endpoint: the real ali-oss upload with the function's own callback template, through the emulator,
 * to the local record-upload function. Success: exit 0, the reply and the record id printed, the
 * record in the store (read directly), the object deleted afterwards. A callback URL the function
 * refuses (no function at that path: 404, so OSS answers 203 CallbackFailed): exit 1 with OSS's
 * message and what to check, the object deleted too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LocalServer, startLocalServer } from '../helpers/server.js';
import { eventually } from '../integration/jobs-helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const KEY = { accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' };
const BUCKET = 'smoke-bucket';
const tmp = mkdtempSync(join(tmpdir(), 'oss-cb-smoke-'));
const dbFile = join(tmp, 'callbacks.db');
let server: LocalServer;
let ossUrl = '';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** `npm run smoke -- <args>` with the local key pair as the OSS credentials. */
function smoke(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret };
    delete env.ALIBABA_CLOUD_SECURITY_TOKEN;
    const child = spawn('npm', ['run', '--silent', 'smoke', '--', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function records(object: string): Record<string, unknown>[] {
  const Database = createRequire(import.meta.url)('libsql');
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare('SELECT * FROM oss_uploads WHERE object = ?').all(object);
  } finally {
    db.close();
  }
}

function ossClient() {
  const OSS = createRequire(import.meta.url)('ali-oss');
  return new OSS({ endpoint: ossUrl, region: 'oss-cn-hangzhou', bucket: BUCKET, ...KEY });
}

before(async () => {
  server = await startLocalServer({ DATABASE_URL: `sqlite:${dbFile}`, OSS_ALLOWED_BUCKETS: BUCKET, OSS_EMULATOR_PORT: String(await freePort()), OSS_EMULATOR_DATA_DIR: join(tmp, 'oss') });
  ossUrl = /local OSS \(emulator\) on (http:\/\/\S+)/.exec(server.banner)?.[1] ?? '';
  assert.match(ossUrl, /^http:\/\/127\.0\.0\.1:\d+$/, server.banner);
});

after(() => server?.stop());

describe('npm run smoke against npm start and its local OSS', () => {
  it('uploads with record-upload\'s callback: exit 0, the reply and the record id printed, the record stored, the object deleted', async () => {
    const key = `smoke/${Date.now()}-ok.txt`;
    const run = await smoke(['--url', `${server.base}/record-upload`, '--bucket', BUCKET, '--endpoint', ossUrl, '--key', key]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, new RegExp(`OSS stored oss://${BUCKET}/${key} and the callback to record-upload succeeded \\(OSS request id [0-9A-F]{24}\\)`));
    const reply = JSON.parse(/^reply: (.*)$/m.exec(run.stdout)![1]!) as { id: string; duplicate: boolean };
    assert.equal(reply.duplicate, false);
    const id = /^record id: ([0-9a-f-]{36})$/m.exec(run.stdout)?.[1];
    assert.equal(id, reply.id);
    assert.match(run.stdout, new RegExp(`^deleted oss://${BUCKET}/${key}$`, 'm'));
    const rows = records(key);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.id, id);
    assert.equal(rows[0]!.bucket, BUCKET);
    assert.equal(rows[0]!.operation, 'PutObject');
    assert.deepEqual(JSON.parse(String(rows[0]!.custom)), { owner: 'smoke-test' });
    await assert.rejects(ossClient().head(key), (e: { status: number }) => e.status === 404, 'the object was deleted afterwards');
  });

  it('--endpoint http://localhost:<port> works too (path-style: <bucket>.localhost need not resolve)', async () => {
    const key = `smoke/${Date.now()}-localhost.txt`;
    const run = await smoke(['--url', `${server.base}/record-upload`, '--bucket', BUCKET, '--endpoint', ossUrl.replace('127.0.0.1', 'localhost'), '--key', key]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.equal(records(key).length, 1);
    await assert.rejects(ossClient().head(key), (e: { status: number }) => e.status === 404);
  });

  it('a callback URL the function refuses (404: no function there) → OSS 203 CallbackFailed → exit 1, a clear message, the object deleted', async () => {
    // Under record-upload's event prefix (s.yaml's default, uploads/record-upload/): its events reach it.
    const key = `uploads/record-upload/smoke/${Date.now()}-refused.txt`;
    const run = await smoke(['--url', `${server.base}/no-such-function`, '--function', 'record-upload', '--bucket', BUCKET, '--endpoint', ossUrl, '--key', key]);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, new RegExp(`OSS stored oss://${BUCKET}/${key} but the callback failed: 203 CallbackFailed "Error status : 404\\."`));
    assert.match(run.stdout, /the function answered with that status: look up the error code in its log line/);
    assert.match(run.stdout, new RegExp(`^deleted oss://${BUCKET}/${key}$`, 'm'));
    // The callback recorded nothing; the local OSS's events (as an FC OSS trigger) record the upload
    // anyway, then mark it deleted.
    const [row] = await eventually(async () => (records(key)[0]?.deleted_at ? records(key) : undefined), 10_000, 'the OSS events recording then deleting the upload');
    assert.equal(row!.oss_created_from, 'event');
    await assert.rejects(ossClient().head(key), (e: { status: number }) => e.status === 404);
  });

  it('a bucket the local OSS does not serve → exit 3, the upload failed, nothing recorded', async () => {
    const run = await smoke(['--url', `${server.base}/record-upload`, '--bucket', 'not-served', '--endpoint', ossUrl]);
    assert.equal(run.code, 3, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /the upload to oss:\/\/not-served\/\S+ failed: NoSuchBucket \(404\)/);
  });
});
