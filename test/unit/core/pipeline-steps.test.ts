/**
 * The pipeline runs a step directly when the step before needed no promise (a cached key, an open
 * store, OSS_VERIFY_OBJECTS=off, a job that answers synchronously) and chains on it otherwise: the
 * answers, log lines and deadline must be the same either way.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import type { CallbackResponse } from '../../../shared/core/http.js';
import type { Job } from '../../../shared/core/job.js';
import { handleCallback } from '../../../shared/core/pipeline.js';
import { createKeyResolver, type KeyResolver } from '../../../shared/protocol/index.js';
import { CallbackError, defineJob, oss } from '../../../shared/index.js';
import type { Store } from '../../../shared/store/types.js';
import { DEV_TRUSTED_KEYS, signedRequest, testRuntime } from '../../helpers/callbacks.js';

const fakeStore = { kind: 'fake store' } as unknown as Store;

function reply(response: CallbackResponse): any {
  return JSON.parse(response.body.toString('utf8'));
}

/** A key resolver without `cached`: every key comes through a promise. */
function promiseOnlyKeys(): KeyResolver {
  const inner = createKeyResolver({ trustedKeys: DEV_TRUSTED_KEYS });
  return { resolve: (url, signal) => inner.resolve(url, signal) };
}

/** A key resolver whose promise settles only after a macrotask (a real wait, as a download). */
function slowKeys(): KeyResolver {
  const inner = createKeyResolver({ trustedKeys: DEV_TRUSTED_KEYS });
  return { resolve: (url) => new Promise((resolve) => setTimeout(resolve, 5)).then(() => inner.resolve(url)) };
}

function echoJob(handle: Job['handle']): Job {
  return defineJob({
    name: 'echo',
    payload: v.object({ bucket: oss.bucket, object: oss.object, size: v.optional(oss.size) }),
    handle: handle as never,
  });
}

const BODY = 'bucket=examplebucket&object=photos%2Fa%2Bb.jpg&etag=D41D8CD98F00B204E9800998ECF8427E&size=42&x:owner=alice';

describe('pipeline steps: with and without promises', () => {
  const handles: [string, Job['handle']][] = [
    ['an async job', async (c) => ({ object: c.object.key, size: c.payload.size, owner: c.custom.owner, key: c.callback.idempotencyKey })],
    ['a job answering synchronously', ((c: any) => ({ object: c.object.key, size: c.payload.size, owner: c.custom.owner, key: c.callback.idempotencyKey })) as never],
  ];
  const keys: [string, () => KeyResolver][] = [
    ['a cached key', () => createKeyResolver({ trustedKeys: DEV_TRUSTED_KEYS })],
    ['a key through a promise', promiseOnlyKeys],
    ['a key after a real wait', slowKeys],
  ];
  const stores: [string, () => Store | Promise<Store>][] = [
    ['an open store', () => fakeStore],
    ['a store through a promise', async () => fakeStore],
    ['a store after a real wait', () => new Promise((resolve) => setTimeout(() => resolve(fakeStore), 5))],
  ];
  for (const [jobLabel, handle] of handles) {
    for (const [keyLabel, makeKeys] of keys) {
      for (const [storeLabel, storeFor] of stores) {
        it(`${jobLabel}, ${keyLabel}, ${storeLabel}: the same reply and log line`, async () => {
          let seenStore: unknown;
          const job = echoJob(async (c) => {
            seenStore = c.store;
            c.log({ jobField: 1 });
            return handle(c);
          });
          const runtime = testRuntime({}, { keys: makeKeys(), storeFor });
          const response = await handleCallback(job, signedRequest(BODY, { requestId: 'req-1', headers: { 'x-oss-request-id': 'OSS-1' } }), runtime);
          assert.equal(response.status, 200, response.body.toString());
          const answer = reply(response);
          assert.equal(answer.object, 'photos/a+b.jpg');
          assert.equal(answer.size, 42);
          assert.equal(answer.owner, 'alice');
          assert.equal(answer.key, `obj:${createHash('sha256').update('examplebucket\0photos/a+b.jpg\0D41D8CD98F00B204E9800998ECF8427E').digest('hex')}`);
          assert.equal(seenStore, fakeStore);
          assert.equal(runtime.lines.length, 1);
          const line = runtime.lines[0]!;
          // The fields in the order they became known.
          assert.deepEqual(Object.keys(line), ['function', 'requestId', 'ossRequestId', 'objectCheck', 'bucket', 'object', 'jobField', 'outcome', 'status', 'durationMs']);
          assert.deepEqual({ ...line, durationMs: 0 }, {
            function: 'echo',
            requestId: 'req-1',
            ossRequestId: 'OSS-1',
            objectCheck: 'off',
            bucket: 'examplebucket',
            object: 'photos/a+b.jpg',
            jobField: 1,
            outcome: 'OK',
            status: 200,
            durationMs: 0,
          });
        });
      }
    }
  }

  it('a job whose handle throws synchronously → Internal, logged with its stack', async () => {
    const job = echoJob((() => {
      throw new TypeError('sync boom');
    }) as never);
    const runtime = testRuntime({}, { storeFor: () => fakeStore });
    const response = await handleCallback(job, signedRequest(BODY), runtime);
    assert.equal(response.status, 500);
    assert.equal(reply(response).error.code, 'Internal');
    const line = runtime.lines[0]!;
    assert.equal(line.outcome, 'Internal');
    assert.match(String(line.error), /TypeError: sync boom/);
    assert.deepEqual(Object.keys(line), ['function', 'requestId', 'ossRequestId', 'objectCheck', 'bucket', 'object', 'outcome', 'message', 'error', 'status', 'durationMs']);
  });

  it('a job throwing a CallbackError synchronously → its code, no stack in the line', async () => {
    const job = echoJob((() => {
      throw new CallbackError('QuotaExceeded', 'over quota', { status: 403 });
    }) as never);
    const runtime = testRuntime({}, { storeFor: () => fakeStore });
    const response = await handleCallback(job, signedRequest(BODY), runtime);
    assert.equal(response.status, 403);
    assert.equal(runtime.lines[0]!.outcome, 'QuotaExceeded');
    assert.equal(runtime.lines[0]!.message, 'over quota');
    assert.equal('error' in runtime.lines[0]!, false);
  });

  it('a storeFor that throws synchronously → the same error as a rejected one', async () => {
    for (const storeFor of [
      () => {
        throw new CallbackError('StoreUnavailable', 'down');
      },
      async () => {
        throw new CallbackError('StoreUnavailable', 'down');
      },
    ]) {
      const runtime = testRuntime({}, { storeFor });
      const response = await handleCallback(echoJob(async () => ({})), signedRequest(BODY), runtime);
      assert.equal(response.status, 503);
      assert.equal(reply(response).error.code, 'StoreUnavailable');
    }
  });

  it('a refused callback logs the fields known so far, in the same order', async () => {
    const runtime = testRuntime({}, { storeFor: () => fakeStore });
    const response = await handleCallback(echoJob(async () => ({})), signedRequest('bucket=examplebucket&object='), runtime);
    assert.equal(reply(response).error.code, 'InvalidPayload');
    assert.deepEqual(Object.keys(runtime.lines[0]!), ['function', 'requestId', 'ossRequestId', 'objectCheck', 'bucket', 'object', 'outcome', 'message', 'status', 'durationMs']);
    const early = testRuntime({}, { storeFor: () => fakeStore });
    await handleCallback(echoJob(async () => ({})), { ...signedRequest(BODY), method: 'GET' }, early);
    assert.deepEqual(Object.keys(early.lines[0]!), ['function', 'requestId', 'ossRequestId', 'objectCheck', 'outcome', 'message', 'status', 'durationMs']);
  });

  it('without an object named (OSS_VERIFY_OBJECTS=off), the key is the SHA-256 of the body', async () => {
    const job = echoJob(async (c) => ({ key: c.callback.idempotencyKey }));
    const body = 'bucket=examplebucket&object=a.txt';
    const response = await handleCallback(job, signedRequest(body), testRuntime({}, { storeFor: () => fakeStore }));
    assert.equal(reply(response).key, `sha256:${createHash('sha256').update(body).digest('hex')}`);
  });

  it('a logger that throws rejects the promise (never a synchronous throw), with or without a wait', async () => {
    const log = () => {
      throw new Error('log sink down');
    };
    for (const storeFor of [() => fakeStore, async () => fakeStore]) {
      for (const handle of [(() => ({ ok: true })) as never, async () => ({ ok: true })]) {
        const runtime = testRuntime({}, { storeFor, log });
        let promise: Promise<CallbackResponse> | undefined;
        assert.doesNotThrow(() => {
          promise = handleCallback(echoJob(handle), signedRequest(BODY), runtime);
        });
        await assert.rejects(promise!, /log sink down/);
      }
    }
    const refused = handleCallback(echoJob(async () => ({})), { ...signedRequest(BODY), method: 'GET' }, testRuntime({}, { log }));
    await assert.rejects(refused, /log sink down/);
  });

  it('a reply that is not JSON → Internal, logged once', async () => {
    const runtime = testRuntime({}, { storeFor: () => fakeStore });
    const response = await handleCallback(echoJob((() => ({ n: 1n })) as never), signedRequest(BODY), runtime);
    assert.equal(response.status, 500);
    assert.equal(runtime.lines.length, 1);
    assert.equal(runtime.lines[0]!.outcome, 'Internal');
  });

  it('a thenable whose then() throws → Internal, as awaiting it would', async () => {
    const job = echoJob((() => ({
      then() {
        throw new Error('bad thenable');
      },
    })) as never);
    const runtime = testRuntime({}, { storeFor: () => fakeStore });
    const response = await handleCallback(job, signedRequest(BODY), runtime);
    assert.equal(response.status, 500);
    assert.match(String(runtime.lines[0]!.error), /bad thenable/);
  });

  it('a job answering a thenable that is not a Promise is awaited', async () => {
    const job = echoJob((() => ({ then: (resolve: (value: unknown) => void) => resolve({ via: 'thenable' }) })) as never);
    const response = await handleCallback(job, signedRequest(BODY), testRuntime({}, { storeFor: () => fakeStore }));
    assert.deepEqual(reply(response), { via: 'thenable' });
  });
});

describe('pipeline steps: the deadline still holds for every step that waits', () => {
  const never = () => new Promise<never>(() => {});
  const cases: [string, Partial<Parameters<typeof testRuntime>[1]>, Job['handle']][] = [
    ['the key resolution hangs', { keys: { resolve: never } }, async () => ({})],
    ['opening the store hangs', { storeFor: never }, async () => ({})],
    ['the job hangs', { storeFor: () => fakeStore }, never],
  ];
  for (const [label, overrides, handle] of cases) {
    it(`${label} → DeadlineExceeded at the deadline`, async () => {
      let handled = false;
      const job = echoJob(async (c) => {
        handled = true;
        return handle(c);
      });
      const runtime = testRuntime({ deadlineMs: 200 }, overrides);
      const started = Date.now();
      const response = await handleCallback(job, signedRequest(BODY), runtime);
      const elapsed = Date.now() - started;
      assert.equal(response.status, 504, response.body.toString());
      assert.equal(reply(response).error.code, 'DeadlineExceeded');
      assert.ok(elapsed >= 190 && elapsed < 1500, `answered after ${elapsed} ms`);
      assert.equal(handled, label === 'the job hangs');
      assert.equal(runtime.lines[0]!.outcome, 'DeadlineExceeded');
    });
  }

  it('a store that opens after the deadline does not run the job', async () => {
    let handled = false;
    const job = echoJob(async () => {
      handled = true;
      return {};
    });
    const runtime = testRuntime({ deadlineMs: 100 }, { storeFor: () => new Promise((resolve) => setTimeout(() => resolve(fakeStore), 200)) });
    const response = await handleCallback(job, signedRequest(BODY), runtime);
    assert.equal(response.status, 504);
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(handled, false);
  });

  it('the job signal is aborted at the deadline with the synchronous steps before it', async () => {
    let reason: unknown;
    const job = echoJob(async ({ signal }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      reason = signal.reason;
      return {};
    });
    const runtime = testRuntime({ deadlineMs: 150 }, { storeFor: () => fakeStore });
    const response = await handleCallback(job, signedRequest(BODY), runtime);
    assert.equal(response.status, 504);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(reason instanceof CallbackError && reason.code === 'DeadlineExceeded');
  });

  it('callbacks waiting together each fail at their own deadline, whatever the order they arrived in', async () => {
    const hangs = echoJob(() => new Promise<never>(() => {}));
    const answeredAfter = async (deadlineMs: number, delayMs: number) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const runtime = testRuntime({ deadlineMs }, { storeFor: () => fakeStore });
      const request = signedRequest(BODY);
      request.receivedAt = Date.now();
      const response = await handleCallback(hangs, request, runtime);
      assert.equal(response.status, 504);
      return Date.now() - request.receivedAt;
    };
    const started = Date.now();
    // A late deadline first, then an earlier one (the shared timer is re-armed), then one in between.
    const [late, early, middle] = await Promise.all([answeredAfter(600, 0), answeredAfter(150, 20), answeredAfter(350, 40)]);
    for (const [elapsed, budget] of [[late, 600], [early, 150], [middle, 350]] as const) {
      assert.ok(elapsed >= budget - 10 && elapsed < budget + 400, `budget ${budget} ms, answered after ${elapsed} ms`);
    }
    assert.ok(Date.now() - started < 1500);
  });

  it('a deadline already passed when the callback arrives still lets synchronous steps finish, and stops a waiting job', async () => {
    const runtime = testRuntime({ deadlineMs: 100 }, { storeFor: () => fakeStore });
    const old = signedRequest(BODY);
    old.receivedAt = Date.now() - 150; // plausible (under 5 s), so the deadline counts from it: passed already
    assert.equal((await handleCallback(echoJob(async () => ({ ok: true })), old, runtime)).status, 200);
    const waiting = signedRequest(BODY);
    waiting.receivedAt = Date.now() - 150;
    const response = await handleCallback(echoJob(() => new Promise((resolve) => setTimeout(() => resolve({}), 50))), waiting, runtime);
    assert.equal(response.status, 504);
  });

  it('no timer is left behind by a callback that completed', async () => {
    const runtime = testRuntime({ deadlineMs: 4000 }, { storeFor: () => fakeStore });
    const before = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    for (let i = 0; i < 5; i++) assert.equal((await handleCallback(echoJob(async () => ({})), signedRequest(BODY), runtime)).status, 200);
    const after = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.equal(after, before);
  });
});
