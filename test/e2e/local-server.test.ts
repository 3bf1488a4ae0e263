/**
 * End to end: start the local server (`npm start`'s script) on a temporary embedded store, send
 * signed callbacks over HTTP, check the replies and the records in the database file.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import { body, JSON_TYPE, signedRequest, uploadValues } from '../helpers/callbacks.js';
import { type LocalServer, startLocalServer } from '../helpers/server.js';

const dbFile = join(mkdtempSync(join(tmpdir(), 'oss-cb-e2e-')), 'callbacks.db');
let server: LocalServer;
let base = '';
let banner = '';

before(async () => {
  // About the local server (routing, bodies, hosts, replies), not the object check: its callbacks name
  // made-up objects. npm start with verification on against its local OSS: test/e2e/local-oss.test.ts.
  server = await startLocalServer({ DATABASE_URL: `sqlite:${dbFile}`, OSS_VERIFY_OBJECTS: 'off' });
  ({ base, banner } = server);
});

after(() => server?.stop());

async function post(path: string, payload: string, contentType = 'application/x-www-form-urlencoded', query: string | null = null) {
  const request = signedRequest(payload, { path, query, contentType });
  const response = await fetch(`${base}${path}${query === null ? '' : `?${query}`}`, {
    method: 'POST',
    headers: request.headers as Record<string, string>,
    body: request.body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: JSON.parse(text) };
}

function records(): Record<string, unknown>[] {
  const Database = createRequire(import.meta.url)('libsql');
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare('SELECT * FROM oss_uploads ORDER BY received_at').all();
  } finally {
    db.close();
  }
}

describe('local server', () => {
  it('says where it listens, which datastore it uses, and that it allows any bucket', () => {
    assert.match(banner, /listening on http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(banner.includes(`sqlite:${dbFile}`), banner);
    assert.match(banner, /POST http:\/\/\S+\/record-upload/);
    assert.match(banner, /ANY bucket/);
  });

  it('answers GET /healthz', async () => {
    const response = await fetch(`${base}/healthz`);
    assert.equal(response.status, 200);
    const health = (await response.json()) as any;
    assert.equal(health.status, 'ok');
    assert.ok(health.functions.includes('record-upload'), JSON.stringify(health.functions));
    assert.equal(health.checks.store.status, 'ok', JSON.stringify(health));
    assert.equal(health.checks.store.store, `sqlite:${dbFile}`);
  });

  it('records a signed form callback with an explicit Content-Length, then a duplicate', async () => {
    const payload = body(recordUpload.template.form, uploadValues({ object: 'e2e/中文 +name.txt', 'x:owner': 'bob' }) as never);
    const withCustom = `${payload}&x:owner=bob`;
    const first = await post('/record-upload', withCustom);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('content-length'), String(Buffer.byteLength(first.text)));
    assert.equal(first.json.duplicate, false);
    const second = await post('/record-upload', withCustom);
    assert.deepEqual(second.json, { id: first.json.id, duplicate: true });

    const rows = records().filter((row) => row.id === first.json.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.object, 'e2e/中文 +name.txt');
    assert.equal(rows[0]!.bucket, 'examplebucket');
    assert.equal(Number(rows[0]!.size), 102400);
    assert.equal(rows[0]!.crc64, '16286938719946281562');
    assert.deepEqual(JSON.parse(String(rows[0]!.custom)), { owner: 'bob' });
  });

  it('records a JSON callback sent to a path below the function, with a query', async () => {
    const payload = body(recordUpload.template.json, uploadValues({ object: 'e2e/json.bin' }), 'json');
    const reply = await post('/record-upload/tenant-a', payload, JSON_TYPE, 'source=mobile&v=2');
    assert.equal(reply.status, 200, reply.text);
    assert.equal(records().filter((row) => row.object === 'e2e/json.bin').length, 1);
  });

  it('refuses a forged callback with a JSON error and records nothing', async () => {
    const before = records().length;
    const payload = body(recordUpload.template.form, uploadValues({ object: 'e2e/forged.txt' }));
    const request = signedRequest(payload, { path: '/record-upload' });
    const response = await fetch(`${base}/record-upload`, {
      method: 'POST',
      headers: request.headers as Record<string, string>,
      body: payload.replace('forged', 'forget'),
    });
    const reply = (await response.json()) as any;
    assert.equal(response.status, 401);
    assert.equal(reply.error.code, 'SignatureInvalid');
    assert.equal(records().length, before);
  });

  it('answers unknown paths and wrong methods with JSON errors', async () => {
    const missing = await fetch(`${base}/nope`, { method: 'POST', body: 'x' });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as any).error.code, 'NotFound');
    const get = await fetch(`${base}/record-upload`);
    assert.equal(get.status, 405);
    assert.equal(((await get.json()) as any).error.code, 'MethodNotAllowed');
  });

  it('answers only requests addressed to a loopback name (DNS rebinding), callbacks and FC API alike', async () => {
    assert.match(banner, /answering Host: localhost, 127\.0\.0\.1, \[::1\]/);
    assert.doesNotMatch(banner, /WARNING: HOST=/, 'HOST is loopback: no warning');
    const port = new URL(base).port;
    const ask = (host: string, path: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { host, 'content-type': 'application/json' }, setHost: false, agent: false }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end('{}');
      });
    const rebound = await ask(`attacker.example:${port}`, '/record-upload');
    assert.equal(rebound.status, 421);
    assert.equal(rebound.body.error.code, 'HostNotAllowed');
    const fc = await ask(`attacker.example:${port}`, '/2023-03-30/functions/record-upload/invocations');
    assert.deepEqual([fc.status, fc.body.Code], [421, 'HostNotAllowed']);
    const local = await ask(`127.0.0.1:${port}`, '/record-upload');
    assert.notEqual(local.status, 421, 'a loopback Host reaches the function');
  });

  it('refuses an oversized body before reading it', async () => {
    const response = await fetch(`${base}/record-upload`, { method: 'POST', body: 'a'.repeat(200_000) });
    assert.equal(response.status, 413);
    assert.equal(((await response.json()) as any).error.code, 'BodyTooLarge');
  });
});
