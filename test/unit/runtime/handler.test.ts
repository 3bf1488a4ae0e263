/**
 * `createHandler(job)`: one export for every platform, told apart by its arguments. The decision is
 * checked on literal fixtures, then each platform gets the result type it expects.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Store } from '../../../shared/store/types.js';
import { createHandler, platformOf } from '../../../shared/runtime/handler.js';
import { echoJob, fc2Request, fc2Response } from '../../../shared/testing/platforms.js';
import { testRuntime } from '../../helpers/callbacks.js';

const read = (path: string) => readFileSync(new URL(`../../fixtures/${path}`, import.meta.url));
const json = (path: string) => JSON.parse(read(path).toString('utf8'));
const fc2 = json('fc2/http-request.json');

describe('platformOf: which platform called, from literal fixtures', () => {
  const cases: [string, unknown, unknown, string][] = [
    ['FC 3.0 Buffer event', read('fc3/form-plain.json'), { requestId: '1-x' }, 'fc3'],
    ['FC 3.0 string event', read('fc3/json-base64.json').toString('utf8'), undefined, 'fc3'],
    ['FC 3.0 event already parsed (version "v1")', json('fc3/form-plain.json'), {}, 'fc3'],
    ['AWS REST API v1', json('aws/rest-v1.json'), { awsRequestId: 'a' }, 'aws'],
    ['AWS HTTP API v2', json('aws/http-api-v2.json'), { awsRequestId: 'a' }, 'aws'],
    ['AWS Function URL', json('aws/function-url.json'), { awsRequestId: 'a' }, 'aws'],
    ['FC 2.0 (req, resp, context)', fc2Request(fc2.httpParams, Buffer.from(fc2.body)), fc2Response(), 'fc2'],
    ['an FC OSS trigger event (the FC 3.0/2.0 event path; see oss-event.test.ts)', { events: [{ eventName: 'ObjectCreated:PutObject' }] }, {}, 'fc3'],
    ['nothing', undefined, undefined, 'fc3'],
  ];
  for (const [label, first, second, expected] of cases) {
    it(`${label} → ${expected}`, () => assert.equal(platformOf(first, second), expected));
  }
});

describe('createHandler: one export, the right result per platform', () => {
  const handler = createHandler(echoJob, () => testRuntime({}, { storeFor: async () => ({}) as Store }));

  it('declares at most 2 parameters (AWS nodejs24.x refuses 3-parameter handlers as callback-style)', () => {
    assert.ok(handler.length <= 2, `handler.length is ${handler.length}`);
  });

  it('FC 3.0: the response struct', async () => {
    const result = await handler(read('fc3/form-plain.json'), { requestId: 'fc3-1' });
    assert.deepEqual(Object.keys(result).sort(), ['body', 'headers', 'isBase64Encoded', 'statusCode']);
    assert.equal(JSON.parse(result.body).error.requestId, 'fc3-1');
  });

  it('FC 3.0: an event that is neither HTTP nor OSS (a timer event) is an InvalidEvent reply, not a crash', async () => {
    const timer = '{"triggerTime":"2026-11-20T08:00:00Z","triggerName":"every-minute","payload":""}';
    const result = await handler(Buffer.from(timer), { requestId: 'fc3-2' });
    assert.equal(result.statusCode, 400);
    assert.equal(JSON.parse(result.body).error.code, 'InvalidEvent');
  });

  it('AWS: the proxy result of the event’s version', async () => {
    const v1 = await handler(json('aws/rest-v1.json'), { awsRequestId: 'a' } as never);
    assert.equal(v1.statusCode, 200, v1.body);
    assert.ok('multiValueHeaders' in v1);
    const v2 = await handler(json('aws/function-url.json'), { awsRequestId: 'b' } as never);
    assert.equal(v2.statusCode, 200, String(v2.body));
    assert.ok('cookies' in v2);
  });

  it('FC 2.0: replies through resp and returns nothing', async () => {
    const resp = fc2Response();
    const returned = await handler(fc2Request(fc2.httpParams, Buffer.from(fc2.body)), resp, fc2.context);
    assert.equal(returned, undefined);
    assert.equal(resp.statusCode, 200, resp.body?.toString());
    assert.equal(resp.sends, 1);
  });
});
