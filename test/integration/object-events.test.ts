/**
 * The jobs' OSS event paths (onEvent) with their callbacks, on every store (SQLite; PostgreSQL and
 * MariaDB where reachable, required with CI=true), each in a database of its own: an upload whose
 * callback failed while the store was down is recorded by its event once the store is back; a deletion
 * lowers usage; duplicated and reordered events (event before callback, delete before an overwrite's
 * event, every event delivered 3 times) leave one record per upload and exact totals.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { images, job as imageUpload } from '../../functions/image-upload/index.js';
import { mediaJobs } from '../../functions/media-job/contract.js';
import { job as mediaJob } from '../../functions/media-job/index.js';
import { job as recordUpload, uploads as records } from '../../functions/record-upload/index.js';
import { ledger } from '../../functions/usage-quota/ledger.js';
import { owners, job as usageQuota } from '../../functions/usage-quota/index.js';
import { handleObjectEvents, type OssObjectEvent } from '../../shared/core/events.js';
import type { Job } from '../../shared/core/job.js';
import { handleCallback } from '../../shared/core/pipeline.js';
import { parseOssEvent } from '../../shared/runtime/oss-event.js';
import { closeStores } from '../../shared/store/index.js';
import type { Store, Tx } from '../../shared/store/types.js';
import { ossEventPayload, ossEventRecord, type OssEventName } from '../../shared/testing/oss-emulator/index.js';
import { testRuntime, uploadValues, type TestRuntime } from '../helpers/callbacks.js';
import { closedPort } from '../helpers/oss-head-server.js';
import { freshDatabase, JOB_STORES, jobCallback, reqId } from './jobs-helpers.js';

after(() => closeStores());

const BUCKET = 'examplebucket';
const T0 = Math.floor(Date.now() / 1000) * 1000;
const at = (seconds: number) => new Date(T0 + seconds * 1000);

/** One OSS event as the trigger delivers it, read by the runtime adapter. */
function ossEvent(eventName: OssEventName, key: string, eTag: string, size: number, time: Date, mimeType?: string): OssObjectEvent {
  const removed = eventName.startsWith('ObjectRemoved');
  const record = ossEventRecord({ eventName, bucket: BUCKET, key, size, deltaSize: removed ? -size : size, eTag, region: 'cn-test', ownerId: '1234567890', requestId: reqId(), sourceIp: '203.0.113.7', time, ...(mimeType ? { mimeType } : {}) });
  return parseOssEvent(ossEventPayload([record])).events[0]!;
}
const put = (key: string, etag: string, size: number, time: Date, mimeType?: string) => ossEvent('ObjectCreated:PutObject', key, etag, size, time, mimeType);
const del = (key: string, etag: string, size: number, time: Date) => ossEvent('ObjectRemoved:DeleteObject', key, etag, size, time);
const etag = () => reqId().padEnd(32, '0');

/** Each event delivered `times` times, FC-style: a whole invocation per delivery. */
async function deliver(job: Job, runtime: TestRuntime, events: readonly OssObjectEvent[], times = 1): Promise<void> {
  for (const event of events) for (let i = 0; i < times; i++) await handleObjectEvents(job, [event], runtime);
}
const read = <T>(store: Store, fn: (tx: Tx) => Promise<T>) => store.transaction(fn);
const body = (response: { body: Buffer }) => JSON.parse(response.body.toString('utf8'));

for (const backend of JOB_STORES) {
  test(`OSS events and callbacks on ${backend.name}`, async (t) => {
    const db = await freshDatabase(t, backend);
    if (!db) return;
    t.after(() => db.drop());
    const vars = { USAGE_QUOTA_OWNER_KEY_PATTERN: '^users/([^/]+)/', MEDIA_JOB_OWNER_KEY_PATTERN: '^users/([^/]+)/' };
    const runtime = testRuntime({ databaseUrl: db.url, owner: { tokenSecret: undefined, tokenGraceSeconds: 3600, defaultFrom: ['x:owner'], vars } });
    const storeOf = (job: Job) => runtime.storeFor(job);

    await t.test('store down while the callback fails → its event records the upload once the store is back', async () => {
      const port = await closedPort();
      // SQLite "down": its file cannot be opened (a path under a regular file).
      const downUrl = backend.server ? db.url.replace(/:\d+\//, `:${port}/`) : `sqlite:${new URL(import.meta.url).pathname}/x.db`;
      const down = testRuntime({ databaseUrl: downUrl });
      const values = uploadValues({ object: 'down/a.bin', size: 321 });
      const failed = await handleCallback(recordUpload, jobCallback(recordUpload, values), down);
      assert.equal(failed.status, 503, failed.body.toString());
      assert.equal(body(failed).error.code, 'StoreUnavailable');
      const event = put('down/a.bin', String(values.etag), 321, at(0));
      // While the store is down the event handler throws (FC retries it) …
      await assert.rejects(handleObjectEvents(recordUpload, [event], down), { name: 'ObjectEventsError', code: 'StoreUnavailable' });
      // … and once it is back the retry (3 deliveries here) records the upload once, from the event.
      await deliver(recordUpload, runtime, [event], 3);
      const rows = await read(await storeOf(recordUpload), (tx) => tx.find(records, { object: 'down/a.bin' }));
      assert.equal(rows.length, 1);
      assert.deepEqual([rows[0]!.size, rows[0]!.etag, rows[0]!.ossCreatedFrom, rows[0]!.deletedAt], [321, String(values.etag), 'event', null]);
      assert.equal(rows[0]!.ossRequestId, event.requestId);
    });

    await t.test('record-upload: event before callback, then the callback: one record; a delete marks it deleted', async () => {
      const values = uploadValues({ object: 'order/a.bin', size: 50 });
      const created = put('order/a.bin', String(values.etag), 50, at(1));
      await deliver(recordUpload, runtime, [created], 3);
      // The callback after its event: not a duplicate (it is the upload's callback), and it adds what only it knows.
      const reply = await handleCallback(recordUpload, jobCallback(recordUpload, values), runtime);
      assert.equal(reply.status, 200);
      assert.equal(body(reply).duplicate, false);
      assert.equal(body(await handleCallback(recordUpload, jobCallback(recordUpload, values), runtime)).duplicate, true);
      await deliver(recordUpload, runtime, [del('order/a.bin', String(values.etag), 50, at(2))], 3);
      const rows = await read(await storeOf(recordUpload), (tx) => tx.find(records, { object: 'order/a.bin' }));
      assert.equal(rows.length, 1);
      assert.equal(body(reply).id, rows[0]!.id);
      assert.equal(rows[0]!.deletedAt?.getTime(), at(2).getTime());
      assert.deepEqual([rows[0]!.ossRequestId, rows[0]!.eventRequestId, rows[0]!.clientIp], [values.reqId, created.requestId, values.clientIp]);
      assert.ok(rows[0]!.callbackAt instanceof Date);
    });

    await t.test('record-upload: put E1, delete, put E2 delivered in every order, each 3 times → E1 deleted, E2 live', async () => {
      const orders = [[0, 1, 2], [2, 1, 0], [1, 2, 0], [1, 0, 2], [2, 0, 1], [0, 2, 1]];
      for (const [n, order] of orders.entries()) {
        const key = `reorder/${n}.bin`;
        const [e1, e2] = [etag(), etag()];
        const events = [put(key, e1, 10, at(3)), del(key, e1, 10, at(4)), put(key, e2, 20, at(5))];
        await deliver(recordUpload, runtime, order.map((i) => events[i]!), 3);
        const rows = await read(await storeOf(recordUpload), (tx) => tx.find(records, { object: key }));
        const state = Object.fromEntries(rows.map((r) => [r.etag, r.deletedAt?.getTime() ?? null]));
        assert.deepEqual(state, { [e1]: at(4).getTime(), [e2]: null }, `order ${order.join(',')}`);
        // A delete older than the current create does not remove it; a create after a delete revives.
        await deliver(recordUpload, runtime, [del(key, e1, 10, at(4))]);
        const again = await read(await storeOf(recordUpload), (tx) => tx.find(records, { object: key, deletedAt: null }));
        assert.deepEqual(again.map((r) => r.etag), [e2]);
      }
    });

    await t.test('usage-quota: callback + its event charge once; a deletion lowers usage exactly; duplicates leave exact totals', async () => {
      const owner = `ann-${reqId().slice(0, 6)}`;
      const values = uploadValues({ object: 'docs/a.bin', size: 100, 'x:owner': owner });
      assert.equal(body(await handleCallback(usageQuota, jobCallback(usageQuota, values), runtime)).usedBytes, 100);
      await deliver(usageQuota, runtime, [put('docs/a.bin', String(values.etag), 100, at(6))], 3);
      const b = uploadValues({ object: 'docs/b.bin', size: 30, 'x:owner': owner });
      await handleCallback(usageQuota, jobCallback(usageQuota, b), runtime);
      const total = async () => (await read(await storeOf(usageQuota), (tx) => tx.get(owners, { owner })))!;
      assert.deepEqual([(await total()).usedBytes, (await total()).objectCount], [130, 2]);
      await deliver(usageQuota, runtime, [del('docs/a.bin', String(values.etag), 100, at(7))], 3);
      assert.deepEqual([(await total()).usedBytes, (await total()).objectCount], [30, 1]);
      const charged = await read(await storeOf(usageQuota), (tx) => tx.find(ledger, { chargedOwner: owner }));
      assert.deepEqual(charged.map((r) => [r.object, r.chargedBytes]), [['docs/b.bin', 30]]);
    });

    await t.test('usage-quota: a create without callback charges the key-pattern owner, else records the owner unknown', async () => {
      const bob = `bob-${reqId().slice(0, 6)}`;
      await deliver(usageQuota, runtime, [put(`users/${bob}/x.bin`, etag(), 70, at(8))], 3);
      assert.equal((await read(await storeOf(usageQuota), (tx) => tx.get(owners, { owner: bob })))?.usedBytes, 70);
      const loose = etag();
      await deliver(usageQuota, runtime, [put('loose/x.bin', loose, 5, at(8))], 2);
      const [row] = await read(await storeOf(usageQuota), (tx) => tx.find(ledger, { object: 'loose/x.bin' }));
      assert.deepEqual([row?.owner, row?.chargedOwner, row?.chargedBytes], [null, null, 0]);
      // Its callback, after the event: the callback's owner is charged, once.
      const dee = `dee-${reqId().slice(0, 6)}`;
      const late = uploadValues({ object: 'loose/x.bin', etag: loose, size: 5, 'x:owner': dee });
      for (const duplicate of [false, true]) {
        const reply = body(await handleCallback(usageQuota, jobCallback(usageQuota, late), runtime));
        assert.deepEqual([reply.usedBytes, reply.deltaBytes, reply.duplicate], [5, 5, duplicate]);
      }
      await deliver(usageQuota, runtime, [put('loose/x.bin', loose, 5, at(8))]);
      assert.equal((await read(await storeOf(usageQuota), (tx) => tx.get(owners, { owner: dee })))?.usedBytes, 5);
    });

    await t.test('usage-quota: the delete of an overwrite arrives before the overwrite\'s event, which arrives before the first upload\'s: totals exact', async () => {
      const owner = `cat-${reqId().slice(0, 6)}`;
      const key = `users/${owner}/o.bin`;
      const first = uploadValues({ object: key, size: 100, 'x:owner': owner });
      assert.equal(body(await handleCallback(usageQuota, jobCallback(usageQuota, first), runtime)).usedBytes, 100);
      const e2 = etag(); // overwritten (its callback lost), then deleted
      await deliver(usageQuota, runtime, [del(key, e2, 40, at(12)), put(key, e2, 40, at(11)), put(key, String(first.etag), 100, at(10))], 3);
      const row = await read(await storeOf(usageQuota), (tx) => tx.get(owners, { owner }));
      assert.deepEqual([row?.usedBytes, row?.objectCount], [0, 0]);
      assert.deepEqual((await read(await storeOf(usageQuota), (tx) => tx.find(ledger, { object: key }))).map((r) => r.chargedBytes), [0, 0]);
    });

    await t.test('image-upload marks deleted images; media-job creates the job of a lost callback and cancels it on delete', async () => {
      const values = uploadValues({ object: 'photos/del.jpg', 'x:owner': 'ivy' });
      const platform = { region: 'cn-test', accountId: '1234567890' };
      const reply = await handleCallback(imageUpload, jobCallback(imageUpload, values, { platform }), runtime);
      assert.equal(reply.status, 200, reply.body.toString());
      await deliver(imageUpload, runtime, [del('photos/del.jpg', String(values.etag), Number(values.size), at(13))], 3);
      const [image] = await read(await storeOf(imageUpload), (tx) => tx.find(images, { object: 'photos/del.jpg' }));
      assert.equal(image?.deletedAt?.getTime(), at(13).getTime());

      const video = etag();
      await deliver(mediaJob, runtime, [put('users/vic/v.mp4', video, 4096, at(14), 'video/mp4')], 3);
      const jobs = await read(await storeOf(mediaJob), (tx) => tx.find(mediaJobs, { object: 'users/vic/v.mp4' }));
      assert.deepEqual(jobs.map((j) => [j.status, j.owner, j.preset, j.size]), [['queued', 'vic', 'video-default', 4096]]);
      // Its callback comes after all: the same job, not a duplicate, no second hand-off; the callback's owner binding wins.
      const late = uploadValues({ object: 'users/vic/v.mp4', etag: video, size: 4096, mimeType: 'video/mp4', 'x:owner': 'victor' });
      for (const duplicate of [false, true]) {
        const reply = body(await handleCallback(mediaJob, jobCallback(mediaJob, late), runtime));
        assert.deepEqual([reply.id, reply.duplicate, reply.dispatched], [jobs[0]!.id, duplicate, false]);
      }
      assert.equal((await read(await storeOf(mediaJob), (tx) => tx.get(mediaJobs, { id: jobs[0]!.id })))?.owner, 'victor');
      await deliver(mediaJob, runtime, [del('users/vic/v.mp4', video, 4096, at(15))], 3);
      const [cancelled] = await read(await storeOf(mediaJob), (tx) => tx.find(mediaJobs, { object: 'users/vic/v.mp4' }));
      assert.equal(cancelled?.status, 'cancelled');
    });
  });
}
