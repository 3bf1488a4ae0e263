import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as v from 'valibot';
import { job as recordUpload } from '../../../functions/record-upload/index.js';
import { deadlineFor, handleCallback } from '../../../shared/core/pipeline.js';
import type { CallbackResponse } from '../../../shared/core/http.js';
import { createKeyResolver } from '../../../shared/protocol/index.js';
import { CallbackError, defineJob, oss } from '../../../shared/index.js';
import { closeStores } from '../../../shared/store/index.js';
import { body, DEV_TRUSTED_KEYS, FORM, JSON_TYPE, signedRequest, testRuntime, uploadValues } from '../../helpers/callbacks.js';

after(() => closeStores());

function json(response: CallbackResponse): any {
  assert.equal(response.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(Number(response.headers['content-length']), response.body.length);
  assert.ok(response.body.length > 0);
  return JSON.parse(response.body.toString('utf8'));
}

function expectError(response: CallbackResponse, code: string, status: number, message?: RegExp): void {
  const reply = json(response);
  assert.equal(reply.error?.code, code, `expected ${code}, got ${response.body}`);
  assert.equal(response.status, status);
  assert.equal(typeof reply.error.requestId, 'string');
  if (message) assert.match(reply.error.message, message);
}

/** A runtime whose store must never be touched: bad input never writes. */
function noStoreRuntime(config = {}) {
  return testRuntime(config, {
    storeFor: async () => {
      throw new Error('the store must not be opened for a rejected callback');
    },
  });
}

const formBody = (overrides = {}) => body(recordUpload.template.form, uploadValues(overrides));

describe('pipeline: success and duplicates', () => {
  it('records a form callback, and the same upload again as a duplicate with the same id', async () => {
    const runtime = testRuntime();
    const payload = formBody({ 'x:owner': 'alice' });
    const first = await handleCallback(recordUpload, signedRequest(payload), runtime);
    assert.equal(first.status, 200, first.body.toString());
    const reply = json(first);
    assert.equal(reply.duplicate, false);
    assert.match(reply.id, /^[0-9a-f-]{36}$/);
    const again = json(await handleCallback(recordUpload, signedRequest(payload), runtime));
    assert.deepEqual(again, { id: reply.id, duplicate: true });
  });

  it('records a JSON callback (typed variables, bare size)', async () => {
    const runtime = testRuntime();
    const payload = body(recordUpload.template.json, uploadValues(), 'json');
    const response = await handleCallback(recordUpload, signedRequest(payload, { contentType: JSON_TYPE }), runtime);
    assert.equal(response.status, 200, response.body.toString());
    assert.equal(json(response).duplicate, false);
  });

  it('verifies the official OSS documentation vector with the pinned key, without network', async () => {
    const bucketOnly = defineJob({
      name: 'bucket-only',
      payload: v.object({ bucket: oss.bucket }),
      async handle({ payload }) {
        return { bucket: payload.bucket };
      },
    });
    const runtime = testRuntime(
      { allowedBuckets: new Set(['yonghu-test']) },
      {
        keys: createKeyResolver({
          fetchPem: async () => {
            throw new Error('no network');
          },
        }),
      },
    );
    const request = signedRequest('bucket=yonghu-test', { path: '/index.php', query: 'id=1&index=2' });
    request.headers = {
      ...request.headers,
      authorization: 'kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA==',
      'x-oss-pub-key-url': 'aHR0cDovL2dvc3NwdWJsaWMuYWxpY2RuLmNvbS9jYWxsYmFja19wdWJfa2V5X3YxLnBlbQ==',
    };
    const response = await handleCallback(bucketOnly, request, runtime);
    assert.equal(response.status, 200, response.body.toString());
    assert.deepEqual(json(response), { bucket: 'yonghu-test' });

    const altered = { ...request, body: Buffer.from('bucket=examplebucket') };
    expectError(await handleCallback(bucketOnly, altered, runtime), 'SignatureInvalid', 401);
  });

  it('maps the path the function sees to the one OSS signed (OSS_CALLBACK_PATH_MAP)', async () => {
    const runtime = testRuntime({ pathMap: [{ seen: '/', public: '/api/' }] });
    const request = signedRequest(formBody(), { path: '/api/record-upload' });
    const seen = { ...request, rawPath: '/record-upload' };
    assert.equal((await handleCallback(recordUpload, seen, runtime)).status, 200);
    expectError(await handleCallback(recordUpload, seen, testRuntime()), 'SignatureInvalid', 401, /proxy|path/i);
  });
});

describe('pipeline: every rejection is a JSON error with a stable code, and writes nothing', () => {
  const cases: [string, () => Promise<CallbackResponse>, string, number, RegExp?][] = [
    ['GET', () => handleCallback(recordUpload, signedRequest(formBody(), { method: 'GET' }), noStoreRuntime()), 'MethodNotAllowed', 405],
    [
      'no authorization header',
      () => handleCallback(recordUpload, signedRequest(formBody(), { headers: { authorization: undefined } }), noStoreRuntime()),
      'SignatureMissing',
      401,
      /authorization/i,
    ],
    [
      'no key URL header',
      () => handleCallback(recordUpload, signedRequest(formBody(), { headers: { 'x-oss-pub-key-url': undefined } }), noStoreRuntime()),
      'SignatureMissing',
      401,
      /x-oss-pub-key-url/,
    ],
    [
      'a body changed after signing',
      () => {
        const request = signedRequest(formBody());
        return handleCallback(recordUpload, { ...request, body: Buffer.from(formBody({ size: 1 })) }, noStoreRuntime());
      },
      'SignatureInvalid',
      401,
    ],
    [
      'a key URL on another host',
      () => handleCallback(recordUpload, signedRequest(formBody(), { keyUrl: 'https://evil.example.com/callback_pub_key_v1.pem' }), noStoreRuntime()),
      'PublicKeyUrlForbidden',
      403,
      /gosspublic\.alicdn\.com/,
    ],
    [
      'an unknown OSS key that cannot be fetched',
      () => handleCallback(recordUpload, signedRequest(formBody(), { keyUrl: 'https://gosspublic.alicdn.com/callback_pub_key_v9.pem' }), noStoreRuntime()),
      'PublicKeyUnavailable',
      502,
    ],
    [
      'a text/plain body',
      () => handleCallback(recordUpload, signedRequest(formBody(), { contentType: 'text/plain' }), noStoreRuntime()),
      'UnsupportedContentType',
      415,
    ],
    [
      'a body over the limit',
      () => handleCallback(recordUpload, signedRequest('bucket=b&x=' + 'a'.repeat(70_000)), noStoreRuntime()),
      'BodyTooLarge',
      413,
    ],
    [
      'a form-shaped body sent as JSON',
      () => handleCallback(recordUpload, signedRequest(formBody(), { contentType: JSON_TYPE }), noStoreRuntime()),
      'MalformedBody',
      400,
      /form/,
    ],
    [
      'a body without size',
      () => handleCallback(recordUpload, signedRequest('bucket=examplebucket&object=a.txt'), noStoreRuntime()),
      'InvalidPayload',
      422,
      /size/,
    ],
    [
      'a body without bucket',
      () => handleCallback(recordUpload, signedRequest('object=a.txt&size=1'), noStoreRuntime()),
      'InvalidPayload',
      422,
      /bucket=\$\{bucket\}/,
    ],
    [
      'a bucket outside the allowlist',
      () => handleCallback(recordUpload, signedRequest(formBody()), noStoreRuntime({ allowedBuckets: new Set(['mine']) })),
      'BucketNotAllowed',
      403,
      /OSS_ALLOWED_BUCKETS/,
    ],
    [
      'no allowlist configured',
      () => handleCallback(recordUpload, signedRequest(formBody()), noStoreRuntime({ allowedBuckets: undefined })),
      'BucketNotAllowed',
      403,
      /set OSS_ALLOWED_BUCKETS/,
    ],
  ];
  for (const [label, run, code, status, message] of cases) {
    it(`${label} → ${code}`, async () => expectError(await run(), code, status, message));
  }

  it('an unsigned x-oss-bucket header is never trusted', async () => {
    const runtime = noStoreRuntime({ allowedBuckets: new Set(['mine']) });
    const request = signedRequest(formBody({ bucket: 'theirs' }), { headers: { 'x-oss-bucket': 'mine' } });
    expectError(await handleCallback(recordUpload, request, runtime), 'BucketNotAllowed', 403);
  });

  it('an unreachable store → StoreUnavailable', async () => {
    // A path below a regular file can never be created.
    const file = join(mkdtempSync(join(tmpdir(), 'oss-cb-')), 'not-a-dir');
    writeFileSync(file, '');
    const runtime = testRuntime({ databaseUrl: `sqlite:${file}/x.db` });
    expectError(await handleCallback(recordUpload, signedRequest(formBody()), runtime), 'StoreUnavailable', 503);
  });

  it('a job that hangs → DeadlineExceeded within the budget, and its signal is aborted', async () => {
    let aborted = false;
    const hangs = defineJob({
      name: 'hangs',
      payload: v.object({ bucket: oss.bucket }),
      async handle({ signal }) {
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        aborted = true;
        return {};
      },
    });
    const runtime = testRuntime({ deadlineMs: 300 }, { storeFor: async () => ({}) as never });
    const started = Date.now();
    const response = await handleCallback(hangs, signedRequest('bucket=examplebucket'), runtime);
    const elapsed = Date.now() - started;
    expectError(response, 'DeadlineExceeded', 504);
    assert.ok(elapsed >= 280 && elapsed < 1500, `answered after ${elapsed} ms`);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(aborted, true);
  });

  it('a DATABASE_URL the store cannot use → 500 ConfigurationError naming it, without the password', async () => {
    const job = defineJob({ name: 'configured', payload: v.object({ bucket: oss.bucket }), async handle() {
      return { ok: true };
    } });
    for (const [url, problem] of [
      ['mongodb://app:hunter2@db.internal/uploads', /^DATABASE_URL \(mongodb:\/\/app@db.internal\/uploads\): Unsupported database URL scheme "mongodb:"/],
      ['postgres://app:hunter2@db.internal/uploads?pool_max=abc', /^DATABASE_URL \(postgres:\/\/app@db.internal\/uploads\): pool_max \(DATABASE_POOL_MAX\) must be an integer >= 1, got "abc"/],
    ] as const) {
      const runtime = testRuntime({ databaseUrl: url });
      const response = await handleCallback(job, signedRequest('bucket=examplebucket'), runtime);
      expectError(response, 'ConfigurationError', 500, problem);
      assert.doesNotMatch(response.body.toString(), /hunter2/);
      assert.doesNotMatch(JSON.stringify(runtime.lines), /hunter2/);
    }
  });

  it('a job that throws unexpectedly → Internal, and the stack goes to the log only', async () => {
    const broken = defineJob({
      name: 'broken',
      payload: v.object({ bucket: oss.bucket }),
      async handle() {
        throw new TypeError('boom: secret internals');
      },
    });
    const runtime = testRuntime({}, { storeFor: async () => ({}) as never });
    const response = await handleCallback(broken, signedRequest('bucket=examplebucket'), runtime);
    expectError(response, 'Internal', 500);
    assert.doesNotMatch(response.body.toString(), /secret internals/);
    assert.match(String(runtime.lines[0]?.error), /secret internals/);
  });

  it('a job may refuse with its own code', async () => {
    const refuses = defineJob({
      name: 'refuses',
      payload: v.object({ bucket: oss.bucket }),
      async handle() {
        throw new CallbackError('QuotaExceeded', 'owner alice is over quota', { status: 403 });
      },
    });
    const runtime = testRuntime({}, { storeFor: async () => ({}) as never });
    expectError(await handleCallback(refuses, signedRequest('bucket=examplebucket'), runtime), 'QuotaExceeded', 403, /alice/);
  });
});

describe('pipeline: logs', () => {
  it('writes one JSON-able line per callback, without the signature', async () => {
    const runtime = testRuntime();
    const request = signedRequest(formBody({ object: 'logs/a.txt' }), { requestId: 'req-log-1' });
    await handleCallback(recordUpload, request, runtime);
    await handleCallback(recordUpload, { ...request, method: 'PUT' }, runtime);
    assert.equal(runtime.lines.length, 2);
    const [ok, refused] = runtime.lines;
    assert.deepEqual(
      { fn: ok?.function, id: ok?.requestId, bucket: ok?.bucket, object: ok?.object, outcome: ok?.outcome, status: ok?.status },
      { fn: 'record-upload', id: 'req-log-1', bucket: 'examplebucket', object: 'logs/a.txt', outcome: 'OK', status: 200 },
    );
    assert.equal(typeof ok?.durationMs, 'number');
    assert.equal(refused?.outcome, 'MethodNotAllowed');
    const text = JSON.stringify(runtime.lines);
    assert.ok(!text.includes(request.headers.authorization!), 'the signature never reaches the log');
  });
});

describe('deadlineFor', () => {
  it('counts from the platform receive time when it is recent', () => {
    assert.equal(deadlineFor(10_000, 4000, 11_000), 14_000);
  });
  it('counts from now for a stale or future receive time, or none', () => {
    assert.equal(deadlineFor(1_000, 4000, 100_000), 104_000);
    assert.equal(deadlineFor(200_000, 4000, 100_000), 104_000);
    assert.equal(deadlineFor(undefined, 4000, 100_000), 104_000);
  });
});
