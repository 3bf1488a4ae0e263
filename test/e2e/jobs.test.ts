/**
 * End to end, per store: the local server (`npm start`'s script) on a database of its own; signed
 * callbacks over HTTP to image-upload, usage-quota and media-job; the media chain runs inside the
 * server: job committed → asynchronous invocation through the real @alicloud/fc2 client (or the FC 3.0
 * API client) to the server's own FC invoke API → the example worker ran → status updated. The test
 * reads the results from the same database, and drives media-dispatch through the FC invoke API.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import FC from '@alicloud/fc2';
import { images } from '../../functions/image-upload/index.js';
import { mediaJobs } from '../../functions/media-job/contract.js';
import { job as mediaJob } from '../../functions/media-job/index.js';
import { job as imageUpload } from '../../functions/image-upload/index.js';
import { owners, objects, job as usageQuota } from '../../functions/usage-quota/index.js';
import type { Job } from '../../shared/core/job.js';
import { openStore } from '../../shared/store/index.js';
import type { Store } from '../../shared/store/types.js';
import { uploadValues } from '../helpers/callbacks.js';
import { type LocalServer, startLocalServer } from '../helpers/server.js';
import { eventually, freshDatabase, JOB_STORES, jobCallback, reqId } from '../integration/jobs-helpers.js';

const KEY = { accessKeyId: 'e2e-ak', accessKeySecret: 'e2e-secret' };

function startServer(env: Record<string, string | undefined>): Promise<LocalServer> {
  return startLocalServer({
    FC_REGION: 'cn-e2e',
    LOCAL_FC_ACCESS_KEY_ID: KEY.accessKeyId,
    LOCAL_FC_ACCESS_KEY_SECRET: KEY.accessKeySecret,
    ALIBABA_CLOUD_ACCESS_KEY_ID: undefined,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined,
    MEDIA_FC_ENDPOINT: undefined,
    // About the jobs, not the object check: the callbacks declare sizes the quota arithmetic and the
    // media chain rely on, for objects no OSS holds. The verified end-to-end path (upload to the local
    // OSS, HEAD, record) is test/e2e/local-oss.test.ts; the object check itself test/integration/trust.test.ts.
    OSS_VERIFY_OBJECTS: 'off',
    ...env,
  });
}

async function post(server: LocalServer, job: Job, values: Record<string, string | number | undefined>, json = false) {
  const request = jobCallback(job, values, { json });
  const response = await fetch(`${server.base}${request.rawPath}`, { method: 'POST', headers: request.headers as Record<string, string>, body: request.body });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text), contentLength: response.headers.get('content-length'), text };
}

const statusOf = (store: Store, id: string, wanted: string) =>
  eventually(async () => {
    const [row] = await store.transaction((tx) => tx.find(mediaJobs, { id }));
    return row?.status === wanted ? row : undefined;
  }, 10_000, `job ${id} becoming ${wanted}`);

for (const backend of JOB_STORES) {
  test(`local server, processing jobs on ${backend.name}`, async (t: TestContext) => {
    const database = await freshDatabase(t, backend);
    if (!database) return;
    const server = await startServer({ DATABASE_URL: database.url, MEDIA_WORKER_SERVICE: 'local-media', USAGE_QUOTA_DEFAULT_BYTES: '1000000' });
    const store = await openStore(database.url);
    try {
      await t.test('lists the tasks and the FC invoke API in its banner', () => {
        assert.match(server.banner, /POST http:\/\/\S+\/image-upload/);
        assert.match(server.banner, /task media-dispatch/);
        assert.match(server.banner, /task media-worker-example/);
        assert.match(server.banner, /\/2016-08-15\/services\/<any service>\/functions\/<name>\/invocations/);
        assert.doesNotMatch(server.banner, /POST http:\/\/\S+\/media-dispatch /);
      });

      await t.test('image-upload: 200 with URLs, then a refusal as a JSON error', async () => {
        const ok = await post(server, imageUpload, uploadValues({ object: 'pics/é 1.png', 'imageInfo.format': 'png', reqId: reqId(), 'x:owner': 'e2e' }));
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.contentLength, String(Buffer.byteLength(ok.text)));
        assert.equal(ok.json.variants.thumb, 'https://examplebucket.oss-cn-e2e.aliyuncs.com/pics/%C3%A9%201.png?x-oss-process=image/resize,w_320');
        const refused = await post(server, imageUpload, uploadValues({ 'imageInfo.format': 'bmp', reqId: reqId(), 'x:owner': 'e2e' }), true);
        assert.equal(refused.status, 415);
        assert.equal(refused.json.error.code, 'ImageFormatNotAllowed');
        const rows = await store.transaction((tx) => tx.find(images, { owner: 'e2e' }, { orderBy: 'receivedAt' }));
        assert.deepEqual(rows.map((r) => r.status).sort(), ['accepted', 'rejected']);
      });

      await t.test('usage-quota: 30 callbacks for one owner at once over HTTP, totals exact', async () => {
        const owner = `e2e-${reqId().slice(0, 8)}`;
        const sizes = Array.from({ length: 30 }, (_, i) => 1000 + i);
        const replies = await Promise.all(sizes.map((size, i) => post(server, usageQuota, uploadValues({ object: `q/${i % 20}.bin`, size, reqId: reqId(), 'x:owner': owner }))));
        for (const reply of replies) assert.equal(reply.status, 200, reply.text);
        const [row] = await store.transaction((tx) => tx.find(owners, { owner }));
        const stored = await store.transaction((tx) => tx.find(objects, { owner }));
        assert.equal(stored.length, 20);
        assert.equal(row?.usedBytes, stored.reduce((sum, o) => sum + o.size, 0));
        const over = await post(server, usageQuota, uploadValues({ object: 'q/big.bin', size: 2_000_000, reqId: reqId(), 'x:owner': owner }));
        assert.equal(over.status, 403);
        assert.equal(over.json.error.code, 'QuotaExceeded');
      });

      await t.test('media-job: callback → job committed → async invocation through @alicloud/fc2 → worker → succeeded', async () => {
        const values = uploadValues({ object: 'videos/e2e.mp4', mimeType: 'video/mp4', size: 4096, reqId: reqId(), 'x:owner': 'mia' });
        const reply = await post(server, mediaJob, values);
        assert.equal(reply.status, 200, reply.text);
        assert.equal(reply.json.dispatched, true);
        const done = await statusOf(store, reply.json.id, 'succeeded');
        assert.equal(done.attempts, 1);
        assert.match(String(done.dispatchRequestId), /^1-/);
        assert.equal((done.result as { inputBytes: number }).inputBytes, 4096);
        const again = await post(server, mediaJob, values, true);
        assert.deepEqual([again.json.id, again.json.duplicate], [reply.json.id, true]);
      });

      await t.test('media-dispatch through the FC invoke API: a job left queued is handed off and done', async () => {
        const id = reply(await post(server, mediaJob, uploadValues({ object: 'audio/late.mp3', mimeType: 'audio/mpeg', reqId: reqId(), 'x:owner': 'mia' })));
        await statusOf(store, id, 'succeeded');
        // Put it back to queued and due, as if its hand-off had been lost.
        await store.transaction((tx) => tx.update(mediaJobs, { id }, { status: 'queued', nextDispatchAt: new Date(Date.now() - 1000) }));
        const fc = new FC('1', { accessKeyID: KEY.accessKeyId, accessKeySecret: KEY.accessKeySecret, region: 'cn-e2e', endpoint: server.base });
        const result = await fc.invokeFunction('any', 'media-dispatch', JSON.stringify({ triggerTime: new Date().toISOString(), triggerName: 'e2e' }));
        assert.deepEqual(result.data, { checked: 1, dispatched: 1, failedHandoffs: 0, exhausted: 0 });
        const done = await statusOf(store, id, 'succeeded');
        assert.equal(done.dispatchCount, 2);
        const wrong = new FC('1', { accessKeyID: KEY.accessKeyId, accessKeySecret: 'wrong', region: 'cn-e2e', endpoint: server.base });
        await assert.rejects(wrong.invokeFunction('any', 'media-dispatch', '{}'), /FCSignatureNotMatchError|failed with 403/);
      });
    } finally {
      server.stop();
      await store.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await database.drop();
    }
  });
}

test('local server, media hand-off through the FC 3.0 API (no MEDIA_WORKER_SERVICE)', async (t) => {
  const database = (await freshDatabase(t, JOB_STORES[0]!))!;
  const server = await startServer({ DATABASE_URL: database.url });
  const store = await openStore(database.url);
  try {
    const reply = await post(server, mediaJob, uploadValues({ object: 'videos/fc3.mp4', mimeType: 'video/mp4', reqId: reqId(), 'x:owner': 'mia' }));
    assert.equal(reply.json.dispatched, true, reply.text);
    await statusOf(store, reply.json.id, 'succeeded');
  } finally {
    server.stop();
    await store.close();
    await database.drop();
  }
});

function reply(response: { json: { id: string } }): string {
  return response.json.id;
}
