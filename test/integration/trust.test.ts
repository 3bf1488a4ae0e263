/**
 * Callbacks you can trust: the attacks of a stranger who owns another OSS account and writes their own
 * callback template (naming an allowed bucket and a victim's key), through the public contract (the
 * exported handler, FC 3.0 event and context; and the local server's listener), on SQLite, PostgreSQL
 * and MySQL. OSS's answers about real objects (there, another ETag, missing, overwritten) come from
 * the local OSS emulator, which verifies the HEAD's V4 signature, with objects uploaded by the real
 * ali-oss client; what the emulator cannot do (stall, answer 403 to everything, show the requests it
 * got) comes from a loopback stand-in (test/helpers/oss-head-server.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { CoreConfig } from '../../shared/core/config.js';
import type { CallbackRequest } from '../../shared/core/http.js';
import type { Job } from '../../shared/core/job.js';
import { objectIdempotencyKey } from '../../shared/core/object.js';
import type { OwnerConfig } from '../../shared/core/owner.js';
import { signUploadToken } from '../../shared/core/upload-token.js';
import { createHandler } from '../../shared/runtime/handler.js';
import { createNodeListener } from '../../shared/runtime/node.js';
import type { Fc3HttpEvent } from '../../shared/runtime/fc3.js';
import { closeStores } from '../../shared/store/index.js';
import { type OssEmulator, startOssEmulator } from '../../shared/testing/oss-emulator/index.js';
import { fc3Event } from '../../shared/testing/platforms.js';
import { job as imageUpload, images } from '../../functions/image-upload/index.js';
import { job as mediaJob, mediaJobs } from '../../functions/media-job/index.js';
import { job as recordUpload, uploads as records } from '../../functions/record-upload/index.js';
import { owners, job as usageQuota, uploads as quotaUploads } from '../../functions/usage-quota/index.js';
import { signedRequest, testRuntime, uploadValues, type TestRuntime } from '../helpers/callbacks.js';
import { closedPort, type OssHeadServer, startOssHeadServer, TEST_OSS_KEY } from '../helpers/oss-head-server.js';
import { callbackBody, freshDatabase, JOB_STORES, reqId } from './jobs-helpers.js';

const FC3_BASE = JSON.parse(readFileSync(new URL('../fixtures/fc3/form-plain.json', import.meta.url), 'utf8')) as Fc3HttpEvent;
const CONTEXT = { requestId: 'fc3-trust', region: 'cn-hangzhou', accountId: '1234567890123456', credentials: { ...TEST_OSS_KEY, securityToken: 'sts-token' } };
const SECRET = 'trust-test-upload-token-secret-0123456789abcdef';
const BUCKET = 'examplebucket';

const LOCAL_OWNERS: OwnerConfig = { tokenSecret: undefined, tokenGraceSeconds: 3600, defaultFrom: ['x:owner'], vars: {} };

function checked(oss: { endpoint: string }, extra: Partial<CoreConfig> = {}): Partial<CoreConfig> {
  return { objects: { verify: 'head', endpoint: oss.endpoint, pathStyle: false, headTimeoutMs: 1500 }, owner: LOCAL_OWNERS, ...extra };
}

interface Reply {
  status: number;
  body: any;
}

/** Sends a signed callback for `job` through the exported handler, as FC 3.0 delivers it. */
async function send(runtime: TestRuntime, job: Job, values: Record<string, string | number | undefined>, query: string | null = null): Promise<Reply> {
  const request: CallbackRequest = signedRequest(callbackBody(job, values), { path: `/${job.name}`, query });
  const handler = createHandler(job, () => runtime);
  const result = await handler(Buffer.from(JSON.stringify(fc3Event(FC3_BASE, request))), CONTEXT);
  return { status: result.statusCode, body: JSON.parse(Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8').toString('utf8')) };
}

function refused(reply: Reply, code: string, status: number, message?: RegExp): void {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.equal(reply.body.error.code, code);
  if (message) assert.match(reply.body.error.message, message);
}

/** Every row of the tables the four jobs write. */
async function rows(runtime: TestRuntime) {
  const store = await runtime.storeFor(recordUpload);
  await runtime.storeFor(usageQuota);
  await runtime.storeFor(imageUpload);
  await runtime.storeFor(mediaJob);
  return store.transaction(async (tx) => ({
    records: await tx.find(records, {}),
    quotaUploads: await tx.find(quotaUploads, {}),
    owners: await tx.find(owners, {}),
    images: await tx.find(images, {}),
    mediaJobs: await tx.find(mediaJobs, {}),
  }));
}

interface Uploaded {
  etag: string;
  size: number;
  crc64: string;
}

/** The local OSS emulator, with objects uploaded through ali-oss (random bytes of the given size). */
interface RealOss {
  endpoint: string;
  put(bucket: string, key: string, object: { size: number; contentType?: string }): Promise<Uploaded>;
}

let stub: OssHeadServer;
let emulator: OssEmulator;
let oss: RealOss;
before(async () => {
  stub = await startOssHeadServer();
  emulator = await startOssEmulator({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'oss-cb-trust-')), buckets: new Set([BUCKET]), credentials: TEST_OSS_KEY, region: 'cn-hangzhou' });
  const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => { put(key: string, body: Buffer, options?: object): Promise<{ res: { headers: Record<string, string> } }> };
  const client = new OSS({ endpoint: emulator.url, region: 'oss-cn-hangzhou', bucket: BUCKET, ...TEST_OSS_KEY });
  oss = {
    endpoint: emulator.url,
    async put(_bucket, key, object) {
      const put = await client.put(key, randomBytes(object.size), object.contentType ? { headers: { 'Content-Type': object.contentType } } : {});
      return { etag: put.res.headers.etag!.replace(/"/g, ''), size: object.size, crc64: put.res.headers['x-oss-hash-crc64ecma']! };
    },
  };
});
after(async () => {
  await stub.close();
  await emulator.close();
  await closeStores();
});

for (const backend of JOB_STORES) {
  test(`a stranger's callback template on ${backend.name}`, async (t: TestContext) => {
    const database = await freshDatabase(t, backend);
    if (!database) return;
    const runtime = testRuntime(checked(oss, { databaseUrl: database.url }));
    try {
      await t.test('names an allowed bucket and a key that does not exist: ObjectNotFound, nothing recorded, no quota, no job', async () => {
        const forged = uploadValues({ object: `users/bob/${reqId()}.mp4`, size: 2_000_000_000, mimeType: 'video/mp4', 'x:owner': 'bob' });
        for (const job of [recordUpload, usageQuota, imageUpload, mediaJob]) {
          refused(await send(runtime, job, forged), 'ObjectNotFound', 409, /does not exist.*forged/);
        }
        const all = await rows(runtime);
        assert.deepEqual(all, { records: [], quotaUploads: [], owners: [], images: [], mediaJobs: [] });
      });

      await t.test("names a victim's real object with another ETag: ObjectMismatch, nothing recorded", async () => {
        const key = `users/bob/${reqId()}.jpg`;
        await oss.put(BUCKET, key, { size: 4096, contentType: 'image/jpeg' });
        const forged = uploadValues({ object: key, size: 2_000_000_000, 'imageInfo.format': 'tiff', 'x:owner': 'bob' });
        for (const job of [recordUpload, usageQuota, imageUpload, mediaJob]) {
          refused(await send(runtime, job, forged), 'ObjectMismatch', 409, /forged.*stale/);
        }
        const all = await rows(runtime);
        assert.equal(all.records.length + all.quotaUploads.length + all.images.length + all.mediaJobs.length, 0);
      });

      await t.test("a lying size with the real ETag is harmless: OSS's size, ETag, type and CRC-64 are recorded and charged", async () => {
        const key = `users/carol/${reqId()}.bin`;
        const stored = await oss.put(BUCKET, key, { size: 777, contentType: 'application/pdf' });
        const values = uploadValues({ object: key, etag: stored.etag.toLowerCase(), size: 2_000_000_000, mimeType: 'image/png', crc64: '1', 'x:owner': 'carol' });
        const recorded = await send(runtime, recordUpload, values);
        assert.equal(recorded.status, 200, JSON.stringify(recorded.body));
        const charged = await send(runtime, usageQuota, values);
        assert.equal(charged.status, 200, JSON.stringify(charged.body));
        assert.equal(charged.body.sizeBytes, 777);
        assert.equal(charged.body.usedBytes, 777);
        const all = await rows(runtime);
        const record = all.records.find((r) => r.id === recorded.body.id)!;
        assert.deepEqual(
          { size: record.size, etag: record.etag, mimeType: record.mimeType, crc64: record.crc64, key: record.idempotencyKey },
          { size: 777, etag: stored.etag, mimeType: 'application/pdf', crc64: stored.crc64, key: objectIdempotencyKey({ bucket: BUCKET, key, etag: stored.etag }) },
        );
      });

      await t.test('a planted request id never hides a real upload', async () => {
        const planted = reqId();
        const key = `users/dave/${reqId()}.txt`;
        // 1. Before the victim uploads: the stranger plants callbacks with the request id the real one will carry.
        for (const job of [recordUpload, usageQuota]) {
          refused(await send(runtime, job, uploadValues({ object: key, reqId: planted, 'x:owner': 'dave' })), 'ObjectNotFound', 409);
        }
        // ...and with an object of their own that does exist (the reqId is theirs to choose).
        const decoy = `users/mallory/${reqId()}.txt`;
        const mine = await oss.put(BUCKET, decoy, { size: 10 });
        for (const job of [recordUpload, usageQuota]) {
          assert.equal((await send(runtime, job, uploadValues({ object: decoy, etag: mine.etag, reqId: planted, 'x:owner': 'mallory' }))).status, 200);
        }
        // 2. The real upload with that request id is recorded, not a duplicate.
        const real = await oss.put(BUCKET, key, { size: 300 });
        const values = uploadValues({ object: key, etag: real.etag, reqId: planted, 'x:owner': 'dave' });
        const recorded = await send(runtime, recordUpload, values);
        assert.equal(recorded.status, 200);
        assert.equal(recorded.body.duplicate, false);
        const charged = await send(runtime, usageQuota, values);
        assert.equal(charged.status, 200);
        assert.deepEqual({ duplicate: charged.body.duplicate, owner: charged.body.owner, usedBytes: charged.body.usedBytes }, { duplicate: false, owner: 'dave', usedBytes: 300 });
        // 3. Delivered again (OSS retries, or a replay): the same upload, never counted twice.
        assert.equal((await send(runtime, recordUpload, { ...values, reqId: reqId() })).body.duplicate, true);
        assert.equal((await send(runtime, usageQuota, values)).body.duplicate, true);
      });

      await t.test('an object overwritten since (stale callback): ObjectMismatch; the current one records', async () => {
        const key = `users/erin/${reqId()}.txt`;
        const first = await oss.put(BUCKET, key, { size: 5 });
        const second = await oss.put(BUCKET, key, { size: 6 });
        refused(await send(runtime, recordUpload, uploadValues({ object: key, etag: first.etag })), 'ObjectMismatch', 409);
        assert.equal((await send(runtime, recordUpload, uploadValues({ object: key, etag: second.etag }))).status, 200);
      });

      await t.test('OSS silent: a 5xx within the deadline, nothing recorded', async () => {
        const quick = testRuntime(checked(stub, { databaseUrl: database.url, deadlineMs: 800 }));
        const key = `users/frank/${reqId()}.txt`;
        const stored = stub.put(BUCKET, key, { size: 5 });
        stub.mode = 'stall';
        try {
          for (const job of [recordUpload, usageQuota]) {
            const reply = await send(quick, job, uploadValues({ object: key, etag: stored.etag, 'x:owner': 'frank' }));
            assert.ok(reply.status === 503 || reply.status === 504, JSON.stringify(reply.body));
            assert.match(reply.body.error.code, /^(OssUnavailable|DeadlineExceeded)$/);
          }
        } finally {
          stub.mode = 'serve';
        }
        const all = await rows(runtime);
        assert.equal(all.records.filter((r) => r.object === key).length, 0);
        assert.equal(all.owners.filter((r) => r.owner === 'frank').length, 0);
      });
    } finally {
      await closeStores();
      await database.drop();
    }
  });
}

describe('OSS failures and owner binding (SQLite)', () => {
  test('OSS refuses the connection: OssUnavailable 503', async () => {
    const port = await closedPort();
    const runtime = testRuntime(checked(oss, { objects: { verify: 'head', endpoint: `http://127.0.0.1:${port}`, pathStyle: false, headTimeoutMs: 1500 } }));
    const stored = stub.put(BUCKET, 'a.txt', { size: 1 });
    refused(await send(runtime, recordUpload, uploadValues({ object: 'a.txt', etag: stored.etag })), 'OssUnavailable', 503, /unreachable/);
    assert.equal((await rows(runtime)).records.length, 0);
  });

  test("OSS answers 403: OssAccessDenied, the message names oss:GetObject", async () => {
    const runtime = testRuntime(checked(stub));
    stub.mode = 'deny';
    try {
      refused(await send(runtime, recordUpload, uploadValues({ object: 'a.txt' })), 'OssAccessDenied', 502, /oss:GetObject/);
    } finally {
      stub.mode = 'serve';
    }
  });

  test('the HEAD: V4-signed with the function credentials and STS token, to the virtual host of an IP endpoint', async () => {
    const runtime = testRuntime(checked(stub));
    const key = `users/bob/${reqId()} 1+2.mp4`;
    refused(await send(runtime, recordUpload, uploadValues({ object: key })), 'ObjectNotFound', 409);
    const asked = stub.requests.filter((r) => r.key === key);
    assert.equal(asked.length, 1);
    assert.deepEqual(
      { signed: asked[0]!.signed, method: asked[0]!.method, host: asked[0]!.host, token: asked[0]!.securityToken },
      { signed: true, method: 'HEAD', host: `${BUCKET}.oss-cn-hangzhou.aliyuncs.com`, token: 'sts-token' },
    );
  });

  test('wrong credentials: OssAccessDenied, the message names the credentials', async () => {
    const runtime = testRuntime(checked(oss));
    const handler = createHandler(recordUpload, () => runtime);
    const request = signedRequest(callbackBody(recordUpload, uploadValues({ object: 'a.txt' })), { path: '/record-upload' });
    const result = await handler(Buffer.from(JSON.stringify(fc3Event(FC3_BASE, request))), { ...CONTEXT, credentials: { ...TEST_OSS_KEY, accessKeySecret: 'not-the-secret' } });
    const body = JSON.parse(result.body);
    assert.equal(body.error.code, 'OssAccessDenied');
    assert.match(body.error.message, /credentials/);
  });

  test('a body without object or etag is refused before any HEAD', async () => {
    const runtime = testRuntime(checked(stub));
    const before = stub.requests.length;
    const request = signedRequest(`bucket=${BUCKET}&object=a.txt&size=1&mimeType=&clientIp=1.2.3.4&reqId=X&operation=PutObject`, { path: '/record-upload' });
    const handler = createHandler(recordUpload, () => runtime);
    const result = await handler(Buffer.from(JSON.stringify(fc3Event(FC3_BASE, request))), CONTEXT);
    assert.equal(result.statusCode, 422);
    assert.equal(stub.requests.length, before);
  });

  test('owner from the object key: the key pattern binds the owner; x:owner is ignored; a key outside the pattern is refused', async () => {
    const runtime = testRuntime(checked(oss, { owner: { ...LOCAL_OWNERS, defaultFrom: undefined, vars: { USAGE_QUOTA_OWNER_KEY_PATTERN: '^users/([^/]+)/' } } }));
    const key = `users/gina/${reqId()}.txt`;
    const stored = await oss.put(BUCKET, key, { size: 50 });
    const reply = await send(runtime, usageQuota, uploadValues({ object: key, etag: stored.etag, 'x:owner': 'mallory' }));
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.owner, 'gina');
    const outside = await oss.put(BUCKET, 'shared/x.txt', { size: 1 });
    refused(await send(runtime, usageQuota, uploadValues({ object: 'shared/x.txt', etag: outside.etag, 'x:owner': 'gina' })), 'OwnerUnverified', 403, /USAGE_QUOTA_OWNER_KEY_PATTERN/);
    assert.deepEqual((await rows(runtime)).owners.map((o) => o.owner), ['gina']);
  });

  test('owner from an upload token: another object, another job, a forged or missing token are refused; the token owner is charged', async () => {
    const runtime = testRuntime(checked(oss, { owner: { ...LOCAL_OWNERS, defaultFrom: undefined, tokenSecret: SECRET } }));
    const key = `uploads/${reqId()}.txt`;
    const stored = await oss.put(BUCKET, key, { size: 64 });
    const values = uploadValues({ object: key, etag: stored.etag, 'x:owner': 'mallory' });
    const expiresAt = Math.floor(Date.now() / 1000) + 600;
    const token = (claims: Partial<Parameters<typeof signUploadToken>[0]>, secret = SECRET) =>
      `upload_token=${signUploadToken({ bucket: BUCKET, key, owner: 'hana', job: 'usage-quota', expiresAt, ...claims }, secret)}`;
    refused(await send(runtime, usageQuota, values), 'OwnerUnverified', 403, /upload_token/);
    refused(await send(runtime, usageQuota, values, token({ key: 'uploads/other.txt' })), 'UploadTokenInvalid', 403, /another object/);
    refused(await send(runtime, usageQuota, values, token({ job: 'image-upload' })), 'UploadTokenInvalid', 403, /image-upload/);
    refused(await send(runtime, usageQuota, values, token({}, 'another-secret-of-at-least-32-bytes-0123456789')), 'UploadTokenInvalid', 403, /UPLOAD_TOKEN_SECRET/);
    refused(await send(runtime, usageQuota, values, `${token({})}&${token({ owner: 'mallory' })}`), 'UploadTokenInvalid', 403, /exactly one/);
    assert.equal((await rows(runtime)).quotaUploads.length, 0);
    const reply = await send(runtime, usageQuota, values, `${token({})}&x=1`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.owner, 'hana');
  });

  test('x:owner is refused unless allowed; no binding configured is a configuration error', async () => {
    const runtime = testRuntime(checked(oss, { owner: { ...LOCAL_OWNERS, defaultFrom: undefined } }));
    const stored = await oss.put(BUCKET, 'users/ivan/a.jpg', { size: 10, contentType: 'image/jpeg' });
    refused(await send(runtime, imageUpload, uploadValues({ object: 'users/ivan/a.jpg', etag: stored.etag, 'x:owner': 'ivan' })), 'ConfigurationError', 500, /IMAGE_UPLOAD_OWNER_KEY_PATTERN.*IMAGE_UPLOAD_OWNER_FROM=x:owner/);
    const keyed = testRuntime(checked(oss, { owner: { ...LOCAL_OWNERS, defaultFrom: undefined, vars: { MEDIA_JOB_OWNER_FROM: 'key', MEDIA_JOB_OWNER_KEY_PATTERN: '^users/([^/]+)/' } } }));
    refused(await send(keyed, mediaJob, uploadValues({ object: 'videos/a.mp4', 'x:owner': 'ivan' })), 'OwnerUnverified', 403);
    assert.equal((await rows(keyed)).mediaJobs.length, 0);
  });

  test('through the local server listener: a forged callback is refused, the real one recorded (credentials from the environment)', async (t) => {
    const runtime = testRuntime(checked(oss));
    const saved = { id: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID, secret: process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET, token: process.env.ALIBABA_CLOUD_SECURITY_TOKEN, region: process.env.FC_REGION };
    Object.assign(process.env, { ALIBABA_CLOUD_ACCESS_KEY_ID: TEST_OSS_KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: TEST_OSS_KEY.accessKeySecret, FC_REGION: 'cn-hangzhou' });
    delete process.env.ALIBABA_CLOUD_SECURITY_TOKEN;
    const server = createServer(createNodeListener({ jobs: [recordUpload], runtime }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.close();
      for (const [name, value] of [['ALIBABA_CLOUD_ACCESS_KEY_ID', saved.id], ['ALIBABA_CLOUD_ACCESS_KEY_SECRET', saved.secret], ['ALIBABA_CLOUD_SECURITY_TOKEN', saved.token], ['FC_REGION', saved.region]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = async (values: Record<string, string | number | undefined>) => {
      const request = signedRequest(callbackBody(recordUpload, values), { path: '/record-upload' });
      const response = await fetch(`${base}/record-upload`, { method: 'POST', headers: request.headers as Record<string, string>, body: request.body });
      return { status: response.status, body: (await response.json()) as any };
    };
    refused(await post(uploadValues({ object: 'users/judy/missing.txt' })), 'ObjectNotFound', 409);
    const stored = await oss.put(BUCKET, 'users/judy/there.txt', { size: 3 });
    const ok = await post(uploadValues({ object: 'users/judy/there.txt', etag: stored.etag }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(runtime.lines.at(-1)?.objectCheck, 'head');
  });
});
