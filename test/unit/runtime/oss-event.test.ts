/**
 * The FC OSS trigger event: literal fixtures (test/fixtures/oss-events/, see its README for which are
 * real) → validated `OssObjectEvent`s; malformed events → `InvalidEvent` naming what is wrong; and the
 * dispatch: `createHandler` sends OSS events to the event path and HTTP events to the HTTP path, on
 * FC 3.0 (Buffer) and FC 2.0 event functions (callback), never mixing them up.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import { defineJob, type ObjectEventContext } from '../../../shared/core/job.js';
import { normalizeEtag, type ObjectEventsSummary } from '../../../shared/core/events.js';
import { oss } from '../../../shared/protocol/variables.js';
import { createHandler, type FcEventCallback } from '../../../shared/runtime/handler.js';
import { isOssTriggerEvent, parseOssEvent } from '../../../shared/runtime/oss-event.js';
import type { Store } from '../../../shared/store/types.js';
import { echoJob, fc2Request, fc2Response } from '../../../shared/testing/platforms.js';
import { testRuntime } from '../../helpers/callbacks.js';

const read = (path: string) => readFileSync(new URL(`../../fixtures/${path}`, import.meta.url));
const json = (path: string) => JSON.parse(read(path).toString('utf8'));

describe('parseOssEvent: the literal fixtures', () => {
  it('PutObject (documented sample)', () => {
    const { events, issues } = parseOssEvent(read('oss-events/put-object.json'));
    assert.deepEqual(issues, []);
    assert.deepEqual(events, [
      {
        kind: 'created',
        name: 'ObjectCreated:PutObject',
        bucket: 'testbucket',
        key: 'image/a.jpg',
        etag: '688A7BF4F233DC9C88A80BF985AB7329',
        size: 122539,
        requestId: '58F9FF2D3DF792092E12044C',
        eventTime: new Date('2017-04-21T12:46:37.000Z'),
        region: 'cn-shanghai',
        sourceIp: '140.205.***.***',
      },
    ]);
  });

  it('PostObject (real event)', () => {
    const { events } = parseOssEvent(read('oss-events/post-object.json'));
    assert.deepEqual(events, [
      {
        kind: 'created',
        name: 'ObjectCreated:PostObject',
        bucket: 'velocn-video-parse-bucket',
        key: 'v0d00fg10000d4o3ctvog65qqlt2lm00.MP4',
        etag: '4EE26171F77B43046F41951766916291',
        size: 6226470,
        requestId: '693D9FA7667085383239654E',
        eventTime: new Date('2025-12-13T17:17:27.000Z'),
        region: 'cn-hangzhou',
        sourceIp: '124.90.188.215',
        mimeType: 'video/mp4',
      },
    ]);
  });

  const cases: [string, string, string, string | undefined, number | undefined][] = [
    ['complete-multipart-upload.json', 'ObjectCreated:CompleteMultipartUpload', 'created', '5EB63BBBE01EEED093CB22BB8F5ACDC3-3', 12582912],
    ['copy-object.json', 'ObjectCreated:CopyObject', 'created', '688A7BF4F233DC9C88A80BF985AB7329', 122539],
    ['append-object.json', 'ObjectCreated:AppendObject', 'created', 'B4B3D9B7F5B8E0B0C2F1A6E3D4C5B6A7', 2048],
    ['delete-object.json', 'ObjectRemoved:DeleteObject', 'removed', '688A7BF4F233DC9C88A80BF985AB7329', 122539],
    ['delete-objects.json', 'ObjectRemoved:DeleteObjects', 'removed', '688A7BF4F233DC9C88A80BF985AB7329', 122539],
  ];
  for (const [file, name, kind, etag, size] of cases) {
    it(`${file} → ${kind} ${name}`, () => {
      const { events, issues } = parseOssEvent(read(`oss-events/${file}`));
      assert.deepEqual(issues, []);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.name, name);
      assert.equal(events[0]!.kind, kind);
      assert.equal(events[0]!.etag, etag);
      assert.equal(events[0]!.size, size);
      assert.equal(events[0]!.bucket, 'testbucket');
    });
  }

  it('reads a Buffer, a string and a parsed object alike', () => {
    const buffer = read('oss-events/post-object.json');
    const expected = parseOssEvent(buffer);
    assert.deepEqual(parseOssEvent(buffer.toString('utf8')), expected);
    assert.deepEqual(parseOssEvent(JSON.parse(buffer.toString('utf8'))), expected);
  });

  it('reads every record of a multi-record event, in order', () => {
    const put = json('oss-events/put-object.json');
    const del = json('oss-events/delete-object.json');
    const { events } = parseOssEvent({ events: [put.events[0], del.events[0], put.events[0]] });
    assert.deepEqual(events.map((e) => e.kind), ['created', 'removed', 'created']);
  });

  it('keeps the key as sent (no URL decoding), with its % and +', () => {
    const put = json('oss-events/put-object.json');
    put.events[0].oss.object.key = 'a%20b+c/中 文.txt';
    assert.equal(parseOssEvent(put).events[0]!.key, 'a%20b+c/中 文.txt');
  });

  it('normalises the ETag like the callback’s ${etag}: no quotes, upper case', () => {
    const put = json('oss-events/put-object.json');
    put.events[0].oss.object.eTag = '"688a7bf4f233dc9c88a80bf985ab7329"';
    assert.equal(parseOssEvent(put).events[0]!.etag, '688A7BF4F233DC9C88A80BF985AB7329');
    assert.equal(normalizeEtag('5eb63bbbe01eeed093cb22bb8f5acdc3-2'), '5EB63BBBE01EEED093CB22BB8F5ACDC3-2');
  });
});

describe('parseOssEvent: malformed events', () => {
  const invalid = (input: unknown, message: RegExp) => {
    assert.throws(
      () => parseOssEvent(input),
      (error: { code?: string; message?: string }) => error.code === 'InvalidEvent' && message.test(error.message ?? ''),
    );
  };

  it('not JSON → InvalidEvent', () => invalid(Buffer.from('{"events": ['), /not JSON/));
  it('no events array → InvalidEvent', () => {
    invalid({ Records: [] }, /no "events" array/);
    invalid({ events: 'x' }, /no "events" array/);
    invalid('[1,2]', /no "events" array/);
  });

  const record = (change: (r: any) => void) => {
    const event = json('oss-events/put-object.json');
    change(event.events[0]);
    return parseOssEvent(event);
  };
  const recordCases: [string, (r: any) => void, RegExp][] = [
    ['no bucket', (r) => delete r.oss.bucket.name, /events\[0\]\.oss\.bucket\.name is missing/],
    ['no key', (r) => (r.oss.object.key = ''), /events\[0\]\.oss\.object\.key is missing/],
    ['no eventName', (r) => delete r.eventName, /events\[0\] has no eventName/],
    ['another event family', (r) => (r.eventName = 'ObjectModified:UpdateObjectMeta'), /not an ObjectCreated or ObjectRemoved event/],
    ['not from OSS', (r) => (r.eventSource = 'acs:mns'), /not "acs:oss"/],
    ['a bad eventTime', (r) => (r.eventTime = 'yesterday'), /eventTime "yesterday" is not an ISO 8601 time/],
    ['a created event without ETag', (r) => delete r.oss.object.eTag, /eTag is missing/],
    ['a created event without size', (r) => (r.oss.object.size = -1), /size -1 is not a byte count/],
  ];
  for (const [label, change, message] of recordCases) {
    it(`a record with ${label} → an InvalidEvent issue naming it, not an event`, () => {
      const { events, issues } = record(change);
      assert.deepEqual(events, []);
      assert.equal(issues.length, 1);
      assert.equal(issues[0]!.code, 'InvalidEvent');
      assert.equal(issues[0]!.index, 0);
      assert.match(issues[0]!.message, message);
    });
  }

  it('an unknown ObjectCreated/ObjectRemoved name (UploadPart) is Skipped, and the other records still read', () => {
    const put = json('oss-events/put-object.json');
    const part = structuredClone(put.events[0]);
    part.eventName = 'ObjectCreated:UploadPart';
    const { events, issues } = parseOssEvent({ events: [part, put.events[0]] });
    assert.equal(events.length, 1);
    assert.deepEqual(issues.map((i) => [i.index, i.code, i.name]), [[0, 'Skipped', 'ObjectCreated:UploadPart']]);
  });
});

describe('isOssTriggerEvent: OSS and HTTP trigger events are never mistaken for each other', () => {
  for (const file of ['put-object', 'post-object', 'delete-object']) {
    it(`oss-events/${file}.json is an OSS event`, () => assert.equal(isOssTriggerEvent(json(`oss-events/${file}.json`)), true));
  }
  for (const file of ['fc3/form-plain.json', 'fc3/json-base64.json', 'fc2/http-request.json']) {
    it(`${file} is not, and parseOssEvent refuses it`, () => {
      assert.equal(isOssTriggerEvent(json(file)), false);
      assert.throws(() => parseOssEvent(read(file)), { code: 'InvalidEvent' });
    });
  }
});

describe('createHandler: OSS events to the event path, HTTP events to the HTTP path', () => {
  const seen: ObjectEventContext[] = [];
  const job = defineJob({
    name: 'events-dispatch',
    payload: v.object({ bucket: oss.bucket, object: oss.object, size: oss.size }),
    async handle({ payload }) {
      return { object: payload.object };
    },
    async onEvent(context) {
      seen.push(context);
    },
  });
  const runtime = testRuntime({}, { storeFor: async () => ({}) as Store });
  const handler = createHandler(job, () => runtime);

  it('FC 3.0: a Buffer OSS event reaches onEvent and returns the summary', async () => {
    seen.length = 0;
    const result = (await handler(read('oss-events/post-object.json'), {
      requestId: 'fc3-oss-1',
      region: 'cn-hangzhou',
    })) as unknown as ObjectEventsSummary;
    assert.deepEqual(result, { function: 'events-dispatch', events: 1, outcomes: { OK: 1 } });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.event.key, 'v0d00fg10000d4o3ctvog65qqlt2lm00.MP4');
    assert.equal(seen[0]!.platform?.region, 'cn-hangzhou');
    const line = runtime.lines.at(-1)!;
    assert.equal(line.requestId, 'fc3-oss-1');
    assert.equal(line.ossRequestId, '693D9FA7667085383239654E');
  });

  it('FC 3.0: an HTTP trigger event (Buffer) still gets the HTTP response struct and never reaches onEvent', async () => {
    seen.length = 0;
    const result = await handler(read('fc3/form-plain.json'), { requestId: 'fc3-http-1' });
    assert.deepEqual(Object.keys(result).sort(), ['body', 'headers', 'isBase64Encoded', 'statusCode']);
    assert.equal(seen.length, 0);
  });

  it('an OSS event POSTed to the public HTTP trigger stays on the HTTP path: refused, never reaches onEvent', async () => {
    seen.length = 0;
    const forged = json('fc3/form-plain.json');
    forged.body = read('oss-events/put-object.json').toString('utf8');
    forged.isBase64Encoded = false;
    forged.headers = { 'Content-Type': 'application/json' };
    const result = await handler(Buffer.from(JSON.stringify(forged)), { requestId: 'fc3-forged' });
    assert.equal(result.statusCode, 401);
    assert.equal(JSON.parse(result.body).error.code, 'SignatureMissing');
    assert.equal(seen.length, 0);
  });

  it('FC 2.0 HTTP (req, resp, context) is still answered through resp', async () => {
    seen.length = 0;
    const fc2 = json('fc2/http-request.json');
    const echo = createHandler(echoJob, () => testRuntime({}, { storeFor: async () => ({}) as Store }));
    const resp = fc2Response();
    assert.equal(await echo(fc2Request(fc2.httpParams, Buffer.from(fc2.body)), resp, fc2.context), undefined);
    assert.equal(resp.statusCode, 200, resp.body?.toString());
    assert.equal(seen.length, 0);
  });

  it('FC 2.0 event function (event, context, callback): the summary goes to the callback exactly once', async () => {
    const calls: unknown[][] = [];
    const callback: FcEventCallback = (...args) => calls.push(args);
    const result = await handler(read('oss-events/delete-object.json'), { requestId: 'fc2-oss-1' }, callback);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(calls, [[null, result]]);
    assert.deepEqual((result as unknown as ObjectEventsSummary).outcomes, { OK: 1 });
  });

  it('FC 2.0 event function: a failure goes to the callback as the error (FC retries), and the promise rejects', async () => {
    const failing = createHandler(
      defineJob({
        name: 'events-failing',
        payload: v.object({ bucket: oss.bucket }),
        async handle() {
          return {};
        },
        async onEvent() {
          throw new Error('boom');
        },
      }),
      () => testRuntime({}, { storeFor: async () => ({}) as Store }),
    );
    const calls: unknown[][] = [];
    await assert.rejects(
      failing(read('oss-events/put-object.json'), { requestId: 'fc2-oss-2' }, (...args: unknown[]) => calls.push(args)),
      { name: 'ObjectEventsError', code: 'Internal' },
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls.length, 1);
    assert.equal((calls[0]![0] as Error).name, 'ObjectEventsError');
  });

  it('an OSS event whose events is not an array is logged as InvalidEvent and not thrown', async () => {
    const result = (await handler(Buffer.from('{"events":{}}'), { requestId: 'fc3-oss-bad' })) as unknown as ObjectEventsSummary;
    assert.deepEqual(result.outcomes, { InvalidEvent: 1 });
    assert.match(String(runtime.lines.at(-1)!.message), /no "events" array/);
  });
});
