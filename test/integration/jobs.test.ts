/**
 * The processing jobs through the callback core (handleCallback), on every store: SQLite, and
 * PostgreSQL and MySQL where reachable (each run in a database of its own). The media hand-off goes
 * through the real @alicloud/fc2 client (and the FC 3.0 client) to an in-process local FC API whose
 * worker writes to the same store.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { config as imageConfig, images, job as imageUpload } from '../../functions/image-upload/index.js';
import { task as dispatchTask, config as dispatchConfig } from '../../functions/media-dispatch/index.js';
import { claimJob, finishJob, handoffConfig, mediaJobs, type MediaJob } from '../../functions/media-job/contract.js';
import { job as mediaJob } from '../../functions/media-job/index.js';
import { task as workerTask } from '../../functions/media-worker-example/index.js';
import { owners, objects, config as quotaConfig, setQuota, job as usageQuota, uploads } from '../../functions/usage-quota/index.js';
import type { CallbackResponse } from '../../shared/core/http.js';
import { handleCallback } from '../../shared/core/pipeline.js';
import { runTask } from '../../shared/core/task.js';
import { createFcApi } from '../../shared/runtime/fc-api.js';
import { closeStores } from '../../shared/store/index.js';
import type { Store } from '../../shared/store/types.js';
import { signedRequest, testRuntime, uploadValues, type TestRuntime } from '../helpers/callbacks.js';
import { callbackBody, eventually, freshDatabase, JOB_STORES, jobCallback, reqId } from './jobs-helpers.js';

const KEY = { accessKeyId: 'jobs-test-ak', accessKeySecret: 'jobs-test-secret' };
const PLATFORM = { region: 'cn-test', accountId: '1234567890', credentials: KEY };
const quiet = () => {};

/** The store the in-process worker writes to (the store under test). */
let currentStore: Store | undefined;
const fcApi = createFcApi({
  functions: new Map([['media-worker-example', (event: Buffer, context: unknown) => runTask(workerTask, event, context, { store: async () => currentStore!, log: quiet })]]),
  credentials: KEY,
  accountId: PLATFORM.accountId,
  region: PLATFORM.region,
});
let fcServer: Server;
let endpoint = '';
const saved = { ...process.env };

before(async () => {
  fcServer = createServer((req, res) => void fcApi.handle(req, res));
  await new Promise<void>((resolve) => fcServer.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(fcServer.address() as AddressInfo).port}`;
  setEnv({
    IMAGE_MAX_BYTES: '500000',
    IMAGE_ALLOWED_PREFIXES: 'photos/,avatars/',
    USAGE_QUOTA_DEFAULT_BYTES: '1000000',
    MEDIA_WORKER_SERVICE: 'media',
    MEDIA_FC_ENDPOINT: endpoint,
    MEDIA_DISPATCH_BATCH: '2',
    MEDIA_MAX_DISPATCHES: '3',
  });
});
after(async () => {
  fcServer.close();
  process.env = saved;
  for (const c of [imageConfig, quotaConfig, handoffConfig, dispatchConfig]) c.reset();
  await closeStores();
});

function setEnv(values: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  for (const c of [imageConfig, quotaConfig, handoffConfig, dispatchConfig]) c.reset();
}

function reply(response: CallbackResponse): any {
  return JSON.parse(response.body.toString('utf8'));
}

const read = <T>(store: Store, fn: (tx: Parameters<Parameters<Store['transaction']>[0]>[0]) => Promise<T>) => store.transaction(fn);

for (const backend of JOB_STORES) {
  test(`processing jobs on ${backend.name}`, async (t: TestContext) => {
    const database = await freshDatabase(t, backend);
    if (!database) return;
    const runtime: TestRuntime = testRuntime({ databaseUrl: database.url });
    const send = (request: Parameters<typeof handleCallback>[1], job = imageUpload) => handleCallback(job, request, runtime);
    try {
      await t.test('image-upload: records once, replies with variant URLs', async () => {
        const values = uploadValues({ object: 'photos/2026/a b+c.jpg', reqId: reqId(), 'x:owner': 'alice' });
        const first = await send(jobCallback(imageUpload, values, { platform: PLATFORM }));
        assert.equal(first.status, 200, first.body.toString());
        const body = reply(first);
        assert.equal(body.duplicate, false);
        assert.equal(body.url, 'https://examplebucket.oss-cn-test.aliyuncs.com/photos/2026/a%20b%2Bc.jpg');
        assert.deepEqual(body.variants, {
          thumb: 'https://examplebucket.oss-cn-test.aliyuncs.com/photos/2026/a%20b%2Bc.jpg?x-oss-process=image/resize,w_320',
          medium: 'https://examplebucket.oss-cn-test.aliyuncs.com/photos/2026/a%20b%2Bc.jpg?x-oss-process=image/resize,w_1024',
        });
        const again = reply(await send(jobCallback(imageUpload, values, { platform: PLATFORM, json: true })));
        assert.deepEqual({ id: again.id, duplicate: again.duplicate }, { id: body.id, duplicate: true });
        const store = await runtime.storeFor(imageUpload);
        const rows = await read(store, (tx) => tx.find(images, { id: body.id }));
        assert.equal(rows.length, 1);
        assert.deepEqual(
          { owner: rows[0]!.owner, object: rows[0]!.object, status: rows[0]!.status, width: rows[0]!.width, format: rows[0]!.format, size: rows[0]!.size },
          { owner: 'alice', object: 'photos/2026/a b+c.jpg', status: 'accepted', width: 640, format: 'jpg', size: 102400 },
        );
      });

      await t.test('image-upload: refusals get their own code and status, and are recorded once', async () => {
        const cases: [Record<string, string | number>, string, number][] = [
          [{ 'imageInfo.format': 'tiff' }, 'ImageFormatNotAllowed', 415],
          [{ mimeType: 'text/plain', 'imageInfo.format': '', 'imageInfo.width': '', 'imageInfo.height': '' }, 'ImageFormatNotAllowed', 415],
          [{ size: 600000 }, 'ImageTooLarge', 413],
          [{ 'imageInfo.width': 10000, 'imageInfo.height': 6000 }, 'ImageTooLarge', 413],
          [{ object: 'private/a.jpg' }, 'KeyPrefixNotAllowed', 403],
        ];
        const store = await runtime.storeFor(imageUpload);
        for (const [change, code, status] of cases) {
          const values = uploadValues({ object: 'photos/refused.jpg', reqId: reqId(), 'x:owner': 'mallory', ...change });
          for (const attempt of [1, 2]) {
            const response = await send(jobCallback(imageUpload, values, { platform: PLATFORM }));
            const error = reply(response).error;
            assert.equal(response.status, status, `${code} attempt ${attempt}: ${response.body}`);
            assert.equal(error.code, code);
            assert.equal(error.duplicate, attempt === 2);
            const [row] = await read(store, (tx) => tx.find(images, { id: error.id }));
            assert.equal(row?.status, 'rejected');
            assert.equal(row?.reason, code);
            assert.equal(row?.message, error.message);
          }
        }
        assert.equal((await read(store, (tx) => tx.find(images, { owner: 'mallory' }))).length, cases.length);
      });

      await t.test('usage-quota: adds, ignores duplicates, adjusts overwrites, moves bytes between owners', async () => {
        const put = async (owner: string, object: string, size: number, id = reqId()) =>
          send(jobCallback(usageQuota, uploadValues({ object, size, reqId: id, 'x:owner': owner })), usageQuota);
        const a = reqId();
        assert.equal(reply(await put('ann', 'docs/a.bin', 100, a)).usedBytes, 100);
        assert.deepEqual(pick(reply(await put('ann', 'docs/a.bin', 100, a)), 'usedBytes', 'deltaBytes', 'duplicate'), { usedBytes: 100, deltaBytes: 100, duplicate: true });
        assert.deepEqual(pick(reply(await put('ann', 'docs/a.bin', 40)), 'usedBytes', 'deltaBytes'), { usedBytes: 40, deltaBytes: -60 });
        assert.equal(reply(await put('ann', 'docs/b.bin', 10)).usedBytes, 50);
        assert.deepEqual(pick(reply(await put('ben', 'docs/a.bin', 70)), 'usedBytes', 'deltaBytes'), { usedBytes: 70, deltaBytes: 70 });
        const store = await runtime.storeFor(usageQuota);
        const rows = await read(store, (tx) => tx.find(owners, {}, { orderBy: 'owner' }));
        assert.deepEqual(
          rows.filter((r) => ['ann', 'ben'].includes(r.owner)).map((r) => pick(r, 'owner', 'usedBytes', 'objectCount')),
          [
            { owner: 'ann', usedBytes: 10, objectCount: 1 },
            { owner: 'ben', usedBytes: 70, objectCount: 1 },
          ],
        );
      });

      await t.test('usage-quota: one string, one identity: "bob", "bob ", "Bob" and NFC/NFD spellings are distinct owners; a lone surrogate is refused', async () => {
        const put = async (owner: string, object: string, size: number, json = false) =>
          send(jobCallback(usageQuota, uploadValues({ object, size, reqId: reqId(), 'x:owner': owner }), { json }), usageQuota);
        const spellings = ['bob', 'bob ', 'Bob', 'bob\u00e9', 'bobe\u0301']; // é as NFC, then NFD
        for (const [i, owner] of spellings.entries()) {
          const response = await put(owner, `ident/${i}.bin`, 10 + i, i % 2 === 1);
          assert.equal(response.status, 200, response.body.toString());
          assert.deepEqual(pick(reply(response), 'owner', 'usedBytes'), { owner, usedBytes: 10 + i }, `${JSON.stringify(owner)} is charged alone`);
        }
        const store = await runtime.storeFor(usageQuota);
        const rows = await read(store, (tx) => tx.find(owners, {}));
        assert.deepEqual(
          rows.filter((r) => spellings.includes(r.owner)).map((r) => [r.owner, r.usedBytes]).sort(),
          spellings.map((owner, i) => [owner, 10 + i]).sort(),
        );
        for (const owner of ['bob\ud800', '\udc00bob']) {
          const response = await put(owner, 'ident/lone.bin', 1, true);
          assert.equal(response.status, 400, response.body.toString());
          assert.equal(reply(response).error.code, 'MalformedBody');
          assert.match(reply(response).error.message, /unpaired surrogate/);
        }
        // A form body: an encoded lone surrogate (%ED%A0%80) is refused, not decoded to U+FFFD.
        const text = callbackBody(usageQuota, uploadValues({ object: 'ident/form.bin', size: 1, reqId: reqId(), 'x:owner': 'bobLONE' }));
        assert.match(text, /bobLONE/);
        const form = await send(signedRequest(text.replace('bobLONE', 'bob%ED%A0%80'), { path: `/${usageQuota.name}` }), usageQuota);
        assert.equal(form.status, 400, form.body.toString());
        assert.match(reply(form).error.message, /x:owner.*not UTF-8/);
      });

      await t.test('usage-quota: over quota is QuotaExceeded, yet counted and recorded; own quota rows win', async () => {
        const store = await runtime.storeFor(usageQuota);
        await setQuota(store, 'cat', 100);
        const put = (object: string, size: number, id = reqId()) => send(jobCallback(usageQuota, uploadValues({ object, size, reqId: id, 'x:owner': 'cat' })), usageQuota);
        assert.equal((await put('c/1', 60)).status, 200);
        const id = reqId();
        for (const attempt of [1, 2]) {
          const over = await put('c/2', 50, id);
          assert.equal(over.status, 403);
          const error = reply(over).error;
          assert.equal(error.code, 'QuotaExceeded');
          assert.deepEqual(pick(error, 'usedBytes', 'quotaBytes', 'duplicate'), { usedBytes: 110, quotaBytes: 100, duplicate: attempt === 2 });
          assert.match(error.message, /"cat" now stores 110 bytes, over the quota of 100/);
        }
        const [recorded] = await read(store, (tx) => tx.find(uploads, { owner: 'cat', size: 50 }));
        assert.equal(recorded?.overQuota, true);
        // Shrinking an object is never refused, even while over quota.
        assert.deepEqual(pick(reply(await put('c/2', 20)), 'usedBytes', 'deltaBytes'), { usedBytes: 80, deltaBytes: -30 });
        // Another owner gets USAGE_QUOTA_DEFAULT_BYTES (1000000 here).
        const big = await send(jobCallback(usageQuota, uploadValues({ object: 'd/1', size: 1_000_001, reqId: reqId(), 'x:owner': 'dan' })), usageQuota);
        assert.equal(reply(big).error.quotaBytes, 1_000_000);
        await setQuota(store, 'dan', null);
        const [dan] = await read(store, (tx) => tx.find(owners, { owner: 'dan' }));
        assert.deepEqual(pick(dan!, 'usedBytes', 'quotaBytes'), { usedBytes: 1_000_001, quotaBytes: null });
      });

      await t.test('usage-quota: 40 callbacks for one owner at once (new, duplicate, overwrites): totals exact', async () => {
        const owner = `busy-${reqId().slice(0, 6)}`;
        const requests: ReturnType<typeof jobCallback>[] = [];
        const fresh = Array.from({ length: 25 }, (_, i) => uploadValues({ object: `busy/${i}.bin`, size: 1000 + i * 37, reqId: reqId(), 'x:owner': owner }));
        for (const values of fresh) requests.push(jobCallback(usageQuota, values));
        for (const values of fresh.slice(0, 5)) requests.push(jobCallback(usageQuota, values)); // duplicates
        for (let i = 5; i < 10; i++) {
          for (const size of [5, 50_000]) requests.push(jobCallback(usageQuota, uploadValues({ object: `busy/${i}.bin`, size: size + i, reqId: reqId(), 'x:owner': owner })));
        }
        const responses = await Promise.all(requests.map((request) => send(request, usageQuota)));
        for (const response of responses) assert.equal(response.status, 200, response.body.toString());
        assert.equal(responses.filter((r) => reply(r).duplicate).length, 5);
        const store = await runtime.storeFor(usageQuota);
        const [row] = await read(store, (tx) => tx.find(owners, { owner }));
        const stored = await read(store, (tx) => tx.find(objects, { owner }));
        const recorded = await read(store, (tx) => tx.find(uploads, { owner }));
        assert.equal(stored.length, 25);
        assert.equal(recorded.length, 35);
        const total = stored.reduce((sum, o) => sum + o.size, 0);
        assert.equal(row?.usedBytes, total, 'the owner total is the sum of what each object now counts for');
        assert.equal(row?.objectCount, 25);
        assert.equal(recorded.reduce((sum, u) => sum + u.deltaBytes, 0), total, 'the deltas add up to the total');
      });

      await t.test('usage-quota: two owners taking over each other\'s objects at once: no deadlock, totals consistent', async () => {
        const [x, y] = [`x-${reqId().slice(0, 6)}`, `y-${reqId().slice(0, 6)}`];
        const shared = (i: number) => `shared/${x}/${i}`;
        const requests = [];
        for (let round = 0; round < 4; round++) {
          for (let i = 0; i < 5; i++) requests.push(jobCallback(usageQuota, uploadValues({ object: shared(i), size: 100 * (round + 1) + i, reqId: reqId(), 'x:owner': (round + i) % 2 ? x : y })));
        }
        for (const response of await Promise.all(requests.map((request) => send(request, usageQuota)))) assert.equal(response.status, 200, response.body.toString());
        const store = await runtime.storeFor(usageQuota);
        for (const owner of [x, y]) {
          const [row] = await read(store, (tx) => tx.find(owners, { owner }));
          const held = await read(store, (tx) => tx.find(objects, { owner }));
          assert.equal(row?.usedBytes ?? 0, held.reduce((sum, o) => sum + o.size, 0), owner);
          assert.equal(row?.objectCount ?? 0, held.length, owner);
        }
      });

      await t.test('object keys of 1023 bytes are recorded and counted (keyed by hash, never indexed as text)', async () => {
        const key = `${'猫'.repeat(340)}abc`;
        assert.equal(Buffer.byteLength(key), 1023);
        const image = await send(jobCallback(imageUpload, uploadValues({ object: `photos/${'猫'.repeat(338)}ab`, reqId: reqId(), 'x:owner': 'long' }), { platform: PLATFORM }));
        assert.equal(image.status, 200, image.body.toString());
        const quota = await send(jobCallback(usageQuota, uploadValues({ object: key, size: 5, reqId: reqId(), 'x:owner': 'long' })), usageQuota);
        assert.equal(reply(quota).usedBytes, 5);
        const store = await runtime.storeFor(usageQuota);
        const [row] = await read(store, (tx) => tx.find(objects, { owner: 'long' }));
        assert.equal(row?.object, key);
      });

      await t.test('media-job: committed, handed off through @alicloud/fc2, the worker reports succeeded', async () => {
        const store = await runtime.storeFor(mediaJob);
        currentStore = store;
        const values = uploadValues({ object: 'videos/clip 1.mp4', mimeType: 'video/mp4', size: 2048, reqId: reqId(), 'x:owner': 'mia' });
        const response = await send(jobCallback(mediaJob, values, { platform: PLATFORM }), mediaJob);
        const body = reply(response);
        assert.deepEqual(pick(body, 'status', 'preset', 'duplicate', 'dispatched'), { status: 'queued', preset: 'video-default', duplicate: false, dispatched: true });
        const done = await eventually(async () => {
          const [row] = await read(store, (tx) => tx.find(mediaJobs, { id: body.id }));
          return row?.status === 'succeeded' ? row : undefined;
        }, 5000, 'the worker finishing');
        assert.deepEqual(pick(done, 'dispatchCount', 'attempts', 'dispatchError'), { dispatchCount: 1, attempts: 1, dispatchError: null });
        assert.match(String(done.dispatchRequestId), /^1-/);
        assert.deepEqual(done.result, { preset: 'video-default', input: 'oss://examplebucket/videos/clip 1.mp4', inputBytes: 2048, note: 'example worker: nothing was transcoded' });
        const again = reply(await send(jobCallback(mediaJob, values, { platform: PLATFORM, json: true }), mediaJob));
        assert.deepEqual(pick(again, 'id', 'status', 'duplicate', 'dispatched'), { id: body.id, status: 'succeeded', duplicate: true, dispatched: false });
        assert.equal((await read(store, (tx) => tx.find(mediaJobs, { object: 'videos/clip 1.mp4' } as never))).length, 1);
      });

      await t.test('media-job: the FC 3.0 API hand-off, and an empty file the worker fails', async () => {
        setEnv({ MEDIA_FC_API: 'fc3' });
        try {
          const store = await runtime.storeFor(mediaJob);
          const body = reply(await send(jobCallback(mediaJob, uploadValues({ object: 'audio/empty.mp3', mimeType: 'audio/mpeg', size: 0, reqId: reqId(), 'x:owner': 'mia' }), { platform: PLATFORM }), mediaJob));
          assert.equal(body.dispatched, true);
          const row = await eventually(async () => {
            const [r] = await read(store, (tx) => tx.find(mediaJobs, { id: body.id }));
            return r?.status === 'failed' ? r : undefined;
          });
          assert.match(String(row.error), /audio\/empty\.mp3 is empty/);
        } finally {
          setEnv({ MEDIA_FC_API: undefined });
        }
      });

      await t.test('media-job: a failed hand-off still answers 200 with the job id; media-dispatch hands it off later', async () => {
        const store = await runtime.storeFor(mediaJob);
        setEnv({ MEDIA_FC_ENDPOINT: 'http://127.0.0.1:1' }); // nothing listens there
        const values = uploadValues({ object: 'videos/later.mov', mimeType: 'video/quicktime', reqId: reqId(), 'x:owner': 'mia' });
        const response = await send(jobCallback(mediaJob, values, { platform: PLATFORM }), mediaJob);
        assert.equal(response.status, 200);
        const body = reply(response);
        assert.deepEqual(pick(body, 'status', 'dispatched'), { status: 'queued', dispatched: false });
        const [queued] = await read(store, (tx) => tx.find(mediaJobs, { id: body.id }));
        assert.equal(queued?.status, 'queued');
        assert.match(String(queued?.dispatchError), /ECONNREFUSED/);
        assert.equal(reply(await send(jobCallback(mediaJob, values, { platform: PLATFORM }), mediaJob)).id, body.id, 'the same upload again: the same job');

        // Not due yet: the timer leaves it alone.
        setEnv({ MEDIA_FC_ENDPOINT: endpoint });
        const timer = (now = new Date()) => runTask(dispatchTask, Buffer.from(JSON.stringify({ triggerTime: now.toISOString(), triggerName: 't' })), PLATFORM, { store: async () => store, log: quiet });
        assert.deepEqual(await timer(), { checked: 0, dispatched: 0, failedHandoffs: 0, exhausted: 0 });
        await makeDue(store, body.id);
        assert.deepEqual(await timer(), { checked: 1, dispatched: 1, failedHandoffs: 0, exhausted: 0 });
        const done = await eventually(async () => {
          const [r] = await read(store, (tx) => tx.find(mediaJobs, { id: body.id }));
          return r?.status === 'succeeded' ? r : undefined;
        });
        assert.deepEqual(pick(done, 'dispatchCount', 'dispatchError'), { dispatchCount: 2, dispatchError: null });
      });

      await t.test('media-dispatch: bounded per run; gives up after MEDIA_MAX_DISPATCHES; re-dispatches expired leases', async () => {
        const store = await runtime.storeFor(mediaJob);
        setEnv({ MEDIA_FC_ENDPOINT: 'http://127.0.0.1:1' });
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push(reply(await send(jobCallback(mediaJob, uploadValues({ object: `videos/b${i}.mp4`, mimeType: 'video/mp4', reqId: reqId(), 'x:owner': 'mia' }), { platform: PLATFORM }), mediaJob)).id);
        for (const id of ids) await makeDue(store, id);
        const timer = () => runTask(dispatchTask, Buffer.from('{}'), PLATFORM, { store: async () => store, log: quiet });
        assert.deepEqual(await timer(), { checked: 2, dispatched: 0, failedHandoffs: 2, exhausted: 0 }, 'MEDIA_DISPATCH_BATCH=2');
        let exhausted = 0;
        for (let run = 0; run < 5; run++) {
          for (const id of ids) await makeDue(store, id);
          exhausted += Number((await timer()).exhausted);
        }
        assert.equal(exhausted, 3, 'each job gives up after its third hand-off');
        const [gaveUp] = await read(store, (tx) => tx.find(mediaJobs, { id: ids[0]! }));
        assert.equal(gaveUp?.status, 'failed');
        assert.match(String(gaveUp?.error), /not finished after 3 hand-offs \(MEDIA_MAX_DISPATCHES=3\); last hand-off error: .*ECONNREFUSED/);
        setEnv({ MEDIA_FC_ENDPOINT: endpoint });

        // A worker that died: running, lease expired → handed off again and taken over.
        const id = reply(await send(jobCallback(mediaJob, uploadValues({ object: 'videos/dead.mp4', mimeType: 'video/mp4', reqId: reqId(), 'x:owner': 'mia' }), { platform: { ...PLATFORM, credentials: undefined } }), mediaJob)).id;
        const claim = await claimJob(store, id, 1);
        assert.equal(claim.claimed, true);
        await new Promise((resolve) => setTimeout(resolve, 10));
        await makeDue(store, id);
        assert.equal((await timer()).dispatched, 1);
        const done = await eventually(async () => {
          const [r] = await read(store, (tx) => tx.find(mediaJobs, { id }));
          return r?.status === 'succeeded' ? r : undefined;
        });
        assert.equal(done.attempts, 2);
        assert.equal(await finishJob(store, claim as { job: MediaJob; runId: string }, { status: 'failed', error: 'late' }), false, 'the dead run lost its lease');
      });

      await t.test('worker claims: a finished job or a live lease is left alone', async () => {
        const store = await runtime.storeFor(mediaJob);
        setEnv({ MEDIA_FC_ENDPOINT: 'http://127.0.0.1:1' });
        const id = reply(await send(jobCallback(mediaJob, uploadValues({ object: 'videos/claim.mp4', mimeType: 'video/mp4', reqId: reqId(), 'x:owner': 'mia' }), { platform: PLATFORM }), mediaJob)).id;
        setEnv({ MEDIA_FC_ENDPOINT: endpoint });
        const first = await claimJob(store, id, 60_000);
        assert.equal(first.claimed, true);
        assert.deepEqual(pick(await claimJob(store, id, 60_000), 'claimed', 'reason'), { claimed: false, reason: 'running' });
        assert.equal(await finishJob(store, first as { job: MediaJob; runId: string }, { status: 'succeeded', result: { ok: 1 } }), true);
        assert.deepEqual(pick(await claimJob(store, id, 60_000), 'claimed', 'reason'), { claimed: false, reason: 'finished' });
        assert.deepEqual(await claimJob(store, 'no-such-job', 1), { claimed: false, reason: 'unknown' });
        const skipped = reply(await send(jobCallback(mediaJob, uploadValues({ mimeType: 'image/png', reqId: reqId(), 'x:owner': 'mia' }), { platform: PLATFORM }), mediaJob));
        assert.deepEqual(skipped, { id: null, skipped: '"image/png" has no preset in MEDIA_PRESETS: no job' });
      });
    } finally {
      currentStore = undefined;
      await fcApi.idle();
      await closeStores();
      await database.drop();
    }
  });
}

/** Moves a job's next hand-off time into the past. */
async function makeDue(store: Store, id: string): Promise<void> {
  await store.transaction((tx) => tx.update(mediaJobs, { id }, { nextDispatchAt: new Date(Date.now() - 1000) }));
}

function pick<T extends object>(value: T, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, (value as Record<string, unknown>)[key]]));
}
