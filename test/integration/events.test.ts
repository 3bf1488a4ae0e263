/**
 * handleObjectEvents on real stores (SQLite, PostgreSQL, MariaDB): a job defined here whose onEvent
 * records each created object once (bucket + key + ETag). Covers the allowlist, many records in one
 * invocation, redelivery, what is thrown (FC retries) and what is only logged.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { after, describe, it, type TestContext } from 'node:test';
import * as v from 'valibot';
import { CallbackError } from '../../shared/protocol/errors.js';
import { handleObjectEvents, type OssObjectEvent } from '../../shared/core/events.js';
import { defineJob } from '../../shared/core/job.js';
import { oss } from '../../shared/protocol/variables.js';
import { parseOssEvent } from '../../shared/runtime/oss-event.js';
import { closeStores, defineTable } from '../../shared/store/index.js';
import { testRuntime } from '../helpers/callbacks.js';
import { dropTables, MYSQL, POSTGRES, requireServer, tempSqlite, type TestServer, uniqueSuffix } from '../helpers/stores.js';

after(() => closeStores());

const fixture = (file: string) => readFileSync(new URL(`../fixtures/oss-events/${file}`, import.meta.url));
const [put] = parseOssEvent(fixture('put-object.json')).events as [OssObjectEvent];
const [post] = parseOssEvent(fixture('post-object.json')).events as [OssObjectEvent];

function recordingJob(suffix: string, onEvent?: 'record' | ((event: OssObjectEvent) => Promise<void>)) {
  const objects = defineTable(
    `ev_test_${suffix}`,
    {
      bucket: { type: 'string', maxLength: 63 },
      objectKey: { type: 'string', maxLength: 191 },
      etag: { type: 'string', maxLength: 64 },
      size: { type: 'bigint' },
    },
    { primaryKey: ['bucket', 'objectKey', 'etag'] },
  );
  const job = defineJob({
    name: 'events-test',
    payload: v.object({ bucket: oss.bucket }),
    tables: [objects],
    async handle() {
      return {};
    },
    ...(onEvent === undefined
      ? {}
      : {
          async onEvent({ event, store, signal, log }) {
            if (onEvent !== 'record') return onEvent(event);
            const { duplicate } = await store.transaction(
              (tx) => tx.insertOnce(objects, { bucket: event.bucket, objectKey: event.key, etag: event.etag!, size: event.size! }),
              { signal },
            );
            log({ duplicate });
          },
        }),
  });
  const count = async (url: string) => {
    const runtime = testRuntime({ databaseUrl: url });
    const store = await runtime.storeFor(job);
    return store.transaction(async (tx) => (await tx.find(objects, {})).length);
  };
  return { job, table: objects.name, count };
}

const many = (n: number): OssObjectEvent[] => Array.from({ length: n }, (_, i) => ({ ...put, key: `image/${i}.jpg` }));

type Backend = { name: string; url(t: TestContext): Promise<string | undefined>; server?: TestServer };
const backends: Backend[] = [
  {
    name: 'SQLite',
    async url() {
      const db = tempSqlite();
      after(() => db.remove());
      return db.url;
    },
  },
  { name: 'PostgreSQL', server: POSTGRES, url: async (t) => ((await requireServer(t, POSTGRES)) ? POSTGRES.url : undefined) },
  { name: 'MariaDB', server: MYSQL, url: async (t) => ((await requireServer(t, MYSQL)) ? MYSQL.url : undefined) },
];

for (const backend of backends) {
  describe(`handleObjectEvents on ${backend.name}`, () => {
    it('handles each of many records in one invocation, and a redelivery counts once', async (t) => {
      const url = await backend.url(t);
      if (!url) return;
      const { job, table, count } = recordingJob(uniqueSuffix(), 'record');
      if (backend.server) after(() => dropTables(url, [table]));
      const runtime = testRuntime({ databaseUrl: url });
      const events = many(5);
      assert.deepEqual(await handleObjectEvents(job, events, runtime), { function: 'events-test', events: 5, outcomes: { OK: 5 } });
      assert.deepEqual(await handleObjectEvents(job, events.slice(0, 2), runtime), { function: 'events-test', events: 2, outcomes: { OK: 2 } });
      assert.equal(await count(url), 5);
      assert.deepEqual(runtime.lines.map((line) => line.duplicate), [false, false, false, false, false, true, true]);
    });

    it('ignores events from buckets outside OSS_ALLOWED_BUCKETS, with a log line, and writes nothing for them', async (t) => {
      const url = await backend.url(t);
      if (!url) return;
      const { job, table, count } = recordingJob(uniqueSuffix(), 'record');
      if (backend.server) after(() => dropTables(url, [table]));
      const runtime = testRuntime({ databaseUrl: url, allowedBuckets: new Set(['testbucket']) });
      const summary = await handleObjectEvents(job, [put, post], runtime);
      assert.deepEqual(summary.outcomes, { OK: 1, Ignored: 1 });
      assert.equal(await count(url), 1);
      const ignored = runtime.lines.find((line) => line.outcome === 'Ignored')!;
      assert.equal(ignored.bucket, 'velocn-video-parse-bucket');
      assert.match(String(ignored.reason), /not in OSS_ALLOWED_BUCKETS/);
    });
  });
}

describe('handleObjectEvents: what is thrown (FC retries) and what is only logged', () => {
  it('one log line per event with the documented fields', async () => {
    const { job } = recordingJob(uniqueSuffix(), 'record');
    const runtime = testRuntime();
    await handleObjectEvents(job, [put], runtime, undefined, { requestId: 'inv-1' });
    const [line] = runtime.lines;
    assert.deepEqual(
      { ...line, durationMs: typeof line!.durationMs },
      {
        level: 'info',
        function: 'events-test',
        requestId: 'inv-1',
        kind: 'created',
        name: 'ObjectCreated:PutObject',
        bucket: 'testbucket',
        object: 'image/a.jpg',
        ossRequestId: '58F9FF2D3DF792092E12044C',
        etag: '688A7BF4F233DC9C88A80BF985AB7329',
        size: 122539,
        duplicate: false,
        outcome: 'OK',
        durationMs: 'number',
      },
    );
  });

  it('a handler that throws → rejects (ObjectEventsError, code Internal), after handling the other events', async () => {
    const handled: string[] = [];
    const { job } = recordingJob(uniqueSuffix(), async (event) => {
      if (event.key === 'image/1.jpg') throw new Error('disk on fire');
      handled.push(event.key);
    });
    const runtime = testRuntime();
    await assert.rejects(handleObjectEvents(job, many(3), runtime), (error: any) => {
      assert.equal(error.name, 'ObjectEventsError');
      assert.equal(error.code, 'Internal');
      assert.deepEqual(error.summary.outcomes, { OK: 2, Internal: 1 });
      assert.match(error.message, /1 of 3 OSS event\(s\) for events-test failed and will be retried/);
      return true;
    });
    assert.deepEqual(handled, ['image/0.jpg', 'image/2.jpg']);
    const failed = runtime.lines.find((line) => line.outcome === 'Internal')!;
    assert.equal(failed.level, 'error');
    assert.match(String(failed.error), /disk on fire/);
  });

  it('an unreachable store (closed loopback port, PostgreSQL) → rejects with StoreUnavailable', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const { job } = recordingJob(uniqueSuffix(), 'record');
    const runtime = testRuntime({ databaseUrl: `postgres://postgres@127.0.0.1:${port}/test` });
    await assert.rejects(handleObjectEvents(job, [put], runtime), { name: 'ObjectEventsError', code: 'StoreUnavailable' });
    assert.equal(runtime.lines[0]!.outcome, 'StoreUnavailable');
    assert.match(String(runtime.lines[0]!.message), /connection refused/);
  });

  it('a handler that passes EVENT_DEADLINE_MS → rejects with DeadlineExceeded; the signal was aborted', async () => {
    let aborted: unknown;
    const { job } = recordingJob(uniqueSuffix(), () => new Promise(() => {}));
    const stalling = defineJob({
      ...{ name: job.name, payload: v.object({ bucket: oss.bucket }), tables: job.tables },
      async handle() {
        return {};
      },
      async onEvent({ signal }) {
        await new Promise<void>((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
            reject(signal.reason);
          }),
        );
      },
    });
    const runtime = testRuntime({ eventDeadlineMs: 100 });
    await assert.rejects(handleObjectEvents(stalling, [put, post], runtime), { code: 'DeadlineExceeded' });
    assert.match(String((aborted as Error).message), /EVENT_DEADLINE_MS/);
    // The second event is not started after the deadline: it is logged as DeadlineExceeded too.
    assert.deepEqual(runtime.lines.map((line) => line.outcome), ['DeadlineExceeded', 'DeadlineExceeded']);
  });

  it('a job without onEvent → NotHandled, logged, nothing thrown, the store never opened', async () => {
    const { job } = recordingJob(uniqueSuffix());
    const runtime = testRuntime(
      {},
      {
        storeFor: async () => {
          throw new Error('the store must not be opened for a job without onEvent');
        },
      },
    );
    assert.deepEqual((await handleObjectEvents(job, [put, post], runtime)).outcomes, { NotHandled: 2 });
    assert.match(String(runtime.lines[0]!.reason), /events-test does not handle OSS events/);
  });

  it('an InvalidEvent from the job or the adapter is logged, not thrown (retrying cannot fix it)', async () => {
    const { job } = recordingJob(uniqueSuffix(), async () => {
      throw new CallbackError('InvalidEvent', 'this key is not an upload of ours');
    });
    const runtime = testRuntime();
    const summary = await handleObjectEvents(job, [put], runtime, undefined, {
      issues: [{ index: 1, code: 'Skipped', name: 'ObjectCreated:UploadPart', message: 'not handled' }],
    });
    assert.deepEqual(summary, { function: 'events-test', events: 2, outcomes: { Skipped: 1, InvalidEvent: 1 } });
    assert.deepEqual(runtime.lines.map((line) => [line.outcome, line.level]), [
      ['Skipped', 'info'],
      ['InvalidEvent', 'warn'],
    ]);
  });

  it('OSS_ALLOWED_BUCKETS unset → every event Ignored (nothing is allowed yet), nothing thrown', async () => {
    const { job } = recordingJob(uniqueSuffix(), 'record');
    const runtime = testRuntime({ allowedBuckets: undefined });
    assert.deepEqual((await handleObjectEvents(job, [put], runtime)).outcomes, { Ignored: 1 });
    assert.match(String(runtime.lines[0]!.reason), /OSS_ALLOWED_BUCKETS is not set/);
  });
});
