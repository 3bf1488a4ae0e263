/**
 * End to end, as the "done" reads: `npm start` (scripts/serve.ts, spawned) runs the local OSS
 * endpoint too, and unchanged ali-oss upload code pointed at it with the local key pair uploads with
 * a callback to the local record-upload function, which records the upload. Object verification is
 * on out of the box (OSS_ENDPOINT defaults to the emulator): each callback's object is checked with a
 * V4-signed HEAD to the emulator, and a forged callback naming an object it does not have is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import { body, signedRequest, uploadValues } from '../helpers/callbacks.js';
import { type LocalServer, startLocalServer } from '../helpers/server.js';

const tmp = mkdtempSync(join(tmpdir(), 'oss-cb-local-oss-'));
const dbFile = join(tmp, 'callbacks.db');
let server: LocalServer;
let ossUrl = '';
/** The server's callback log lines (stdout, JSON). */
const logLines: Record<string, unknown>[] = [];

/** A free loopback port for the emulator (the server itself takes PORT=0). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

before(async () => {
  // No OSS_VERIFY_OBJECTS and no OSS_ENDPOINT: what `npm start` does by default.
  server = await startLocalServer({ DATABASE_URL: `sqlite:${dbFile}`, OSS_EMULATOR_PORT: String(await freePort()), OSS_EMULATOR_DATA_DIR: join(tmp, 'oss'), OSS_CALLBACK_LOG: 'stdout', OSS_VERIFY_OBJECTS: undefined, OSS_ENDPOINT: undefined });
  let pending = '';
  server.child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  ossUrl = /local OSS \(emulator\) on (http:\/\/\S+)/.exec(server.banner)?.[1] ?? '';
});

after(() => server?.stop());

describe('npm start: the local OSS endpoint', () => {
  it('prints its address, the local key pair and an ali-oss snippet', () => {
    assert.match(ossUrl, /^http:\/\/127\.0\.0\.1:\d+$/, server.banner);
    assert.match(server.banner, /key pair: local-dev-access-key-id \/ local-dev-access-key-secret/);
    assert.match(server.banner, /new OSS\(\{ endpoint: 'http:\/\/127\.0\.0\.1:\d+'/);
    // Events go through s.yaml's trigger filters (default: each job's own prefix), unique: no notice.
    for (const job of ['record-upload', 'image-upload', 'usage-quota', 'media-job']) assert.match(server.banner, new RegExp(`uploads/${job}/\\*  → ${job}\n`));
    assert.doesNotMatch(server.banner, /a deploy would refuse/);
  });

  it('ali-oss put with the record-upload callback: the function records it and its JSON is the upload response', async () => {
    const OSS = createRequire(import.meta.url)('ali-oss');
    const client = new OSS({ endpoint: ossUrl, region: 'oss-cn-hangzhou', bucket: 'examplebucket', accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' });
    const result = await client.put('e2e/local-oss.txt', Buffer.from('uploaded through the local OSS'), {
      callback: { url: `${server.base}/record-upload`, body: recordUpload.template.form },
    });
    assert.equal(result.res.status, 200);
    assert.equal(result.data.duplicate, false);
    assert.match(result.data.id, /^[0-9a-f-]{36}$/);
    const Database = createRequire(import.meta.url)('libsql');
    const db = new Database(dbFile, { readonly: true });
    try {
      const row = db.prepare('SELECT * FROM oss_uploads WHERE object = ?').get('e2e/local-oss.txt');
      assert.equal(row.oss_request_id, result.res.headers['x-oss-request-id']);
      assert.equal(Number(row.size), 30);
      assert.equal(row.operation, 'PutObject');
      // Recorded with OSS's facts: the ETag the emulator stored, checked by a HEAD to it.
      assert.equal(String(row.etag).toUpperCase(), String(result.res.headers.etag).replace(/"/g, '').toUpperCase());
    } finally {
      db.close();
    }
    const line = logLines.find((l) => l.function === 'record-upload' && 'objectCheck' in l && JSON.stringify(l).includes('e2e/local-oss.txt'));
    assert.ok(line, JSON.stringify(logLines));
    assert.equal(line.objectCheck, 'head', JSON.stringify(line));
    assert.equal(typeof line.headMs, 'number', JSON.stringify(line));
  });

  it('keys with spaces, +, %, ?, # and non-ASCII: the HEAD finds the object the callback names', async () => {
    const OSS = createRequire(import.meta.url)('ali-oss');
    const client = new OSS({ endpoint: ossUrl, region: 'oss-cn-hangzhou', bucket: 'examplebucket', accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' });
    for (const key of ['e2e/odd name+plus/100%/q?x=1#frag/猫.txt', 'e2e/a%2Fb %20.txt']) {
      const result = await client.put(key, Buffer.from(key), { callback: { url: `${server.base}/record-upload`, body: recordUpload.template.form } });
      assert.equal(result.res.status, 200, key);
      assert.equal(result.data.duplicate, false, key);
    }
  });

  it('a forged callback (signed with the development key) naming an object the emulator does not have: 409 ObjectNotFound, nothing recorded', async () => {
    const payload = body(recordUpload.template.form, uploadValues({ object: 'e2e/never-uploaded.txt' }));
    const request = signedRequest(payload, { path: '/record-upload' });
    const response = await fetch(`${server.base}/record-upload`, { method: 'POST', headers: request.headers as Record<string, string>, body: request.body });
    const reply = ((await response.json()) as { error: { code: string; message: string } }).error;
    assert.equal(response.status, 409, JSON.stringify(reply));
    assert.equal(reply.code, 'ObjectNotFound');
    assert.match(reply.message, /e2e\/never-uploaded\.txt/);
    const Database = createRequire(import.meta.url)('libsql');
    const db = new Database(dbFile, { readonly: true });
    try {
      assert.equal(db.prepare('SELECT * FROM oss_uploads WHERE object = ?').get('e2e/never-uploaded.txt'), undefined);
    } finally {
      db.close();
    }
  });

  it('npm run simulate --oss stores the file in the local OSS first: the object check finds it; without --oss the made-up object is ObjectNotFound', () => {
    const simulate = (...args: string[]) => {
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', '--function', 'record-upload', '--url', `${server.base}/record-upload`, '--file', 'test/fixtures/simulator/pixel-3x2.png', '--output', 'json', ...args], {
        cwd: new URL('../../', import.meta.url).pathname,
        encoding: 'utf8',
        env: { ...process.env, OSS_VERIFY_OBJECTS: undefined },
      });
      return { status: run.status, json: JSON.parse(run.stdout || '{}') as { outcome: string; uploader: { status: number; body: string } }, stderr: run.stderr };
    };
    const stored = simulate('--key', 'e2e/simulated 1.png', '--oss', ossUrl);
    assert.equal(stored.status, 0, stored.stderr + JSON.stringify(stored.json));
    assert.equal(stored.json.outcome, 'ok');
    assert.equal(JSON.parse(stored.json.uploader.body).duplicate, false);
    const madeUp = simulate('--key', 'e2e/simulated-never-stored.png');
    assert.equal(madeUp.status, 1, madeUp.stderr + JSON.stringify(madeUp.json));
    assert.equal(madeUp.json.outcome, 'callback-failed');
    assert.match(JSON.stringify(madeUp.json), /ObjectNotFound/);
  });

  it('GET /healthz checks OSS (the emulator) with a signed HEAD: 200', async () => {
    const response = await fetch(`${server.base}/healthz`);
    const health = (await response.json()) as { status: string; checks: Record<string, { status: string; bucket?: string; endpoint?: string }> };
    assert.equal(response.status, 200, JSON.stringify(health));
    assert.equal(health.checks.oss?.status, 'ok', JSON.stringify(health));
    assert.equal(health.checks.oss?.endpoint, ossUrl);
    assert.equal(health.checks.store?.status, 'ok');
  });
});
