import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isCallbackError } from '../../../shared/protocol/errors.js';
import { fc3ToRequest, parseFc3Event, queryCandidates, responseToFc3 } from '../../../shared/runtime/fc3.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/fc3/${name}`, import.meta.url));

describe('FC 3.0 event → CallbackRequest', () => {
  it('reads a Buffer event with mixed-case headers and a plain body', () => {
    const request = fc3ToRequest(parseFc3Event(fixture('form-plain.json')), { requestId: 'ctx-req-1' });
    assert.equal(request.method, 'POST');
    assert.equal(request.rawPath, '/uploads/%E4%B8%AD%E6%96%87+cb', 'rawPath (encoded, as OSS signed it) wins over http.path');
    assert.equal(request.rawQuery, null, 'no query parameters: no "?"');
    assert.deepEqual(request.altQueries, ['']);
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(request.headers['x-oss-pub-key-url'], 'aHR0cHM6Ly9nb3NzcHVibGljLmFsaWNkbi5jb20vY2FsbGJhY2tfcHViX2tleV92MS5wZW0=');
    assert.equal(request.headers.authorization, 'c2lnbmF0dXJl');
    assert.ok(Object.keys(request.headers).every((k) => k === k.toLowerCase()));
    assert.equal(request.body.toString(), 'bucket=examplebucket&object=a%2Fb.txt&size=12');
    assert.equal(request.requestId, 'ctx-req-1', 'the FC context request id wins');
    assert.equal(request.receivedAt, 1794643200000);
    assert.equal(request.sourceIp, '100.104.12.34');
  });

  it('decodes base64 bodies byte for byte and accepts a string event', () => {
    const text = fixture('json-base64.json').toString('utf8');
    const request = fc3ToRequest(parseFc3Event(text), undefined);
    assert.equal(request.body.toString(), '{"bucket":"examplebucket","object":"a/b.txt","size":12}');
    assert.ok(request.headers['x-oss-pub-key-url']);
    assert.equal(request.requestId, '1-673d9aa5-25f0a1b2c3d4e5f6a7b8c9d1', 'falls back to requestContext.requestId');
  });

  it('keeps non-UTF-8 bytes of a base64 body intact', () => {
    const event = JSON.parse(fixture('json-base64.json').toString());
    event.body = Buffer.from([0xff, 0x00, 0xc3, 0x28]).toString('base64');
    const request = fc3ToRequest(parseFc3Event(event), undefined);
    assert.deepEqual([...request.body], [0xff, 0x00, 0xc3, 0x28]);
  });

  it('rebuilds the query from queryParameters as candidates, most likely first', () => {
    const request = fc3ToRequest(parseFc3Event(fixture('json-base64.json')), undefined);
    const all = [request.rawQuery, ...(request.altQueries ?? [])];
    assert.equal(all[0], 'token=abc%201%2F2&id=1');
    assert.ok(all.includes('id=1&token=abc%201%2F2'), 'sorted order');
    assert.ok(all.includes('token=abc+1%2F2&id=1'), 'form-style spaces');
    assert.equal(new Set(all).size, all.length, 'no duplicates');
  });

  it('splits comma-joined repeated keys back out', () => {
    assert.ok(queryCandidates({ a: '1,2' }).includes('a=1&a=2'));
    assert.ok(queryCandidates({ a: '1,2' }).includes('a=1%2C2'));
  });

  it('uses a query left in rawPath exactly as sent', () => {
    const event = JSON.parse(fixture('form-plain.json').toString());
    event.rawPath = '/cb?b=2&a=%7E';
    event.queryParameters = { b: '2', a: '~' };
    const request = fc3ToRequest(parseFc3Event(event), undefined);
    assert.equal(request.rawPath, '/cb');
    assert.equal(request.rawQuery, 'b=2&a=%7E');
  });

  it('falls back to requestContext.http.path when rawPath is absent', () => {
    const event = JSON.parse(fixture('form-plain.json').toString());
    delete event.rawPath;
    assert.equal(fc3ToRequest(parseFc3Event(event), undefined).rawPath, '/uploads/中文+cb');
  });

  it('ignores an implausible timeEpoch', () => {
    const event = JSON.parse(fixture('form-plain.json').toString());
    event.requestContext.timeEpoch = 'soon';
    assert.equal(fc3ToRequest(parseFc3Event(event), undefined).receivedAt, undefined);
  });

  for (const [label, event] of [
    ['not JSON', Buffer.from('{nope')],
    ['an OSS trigger event', Buffer.from(JSON.stringify({ events: [{ eventName: 'ObjectCreated:PutObject' }] }))],
    ['null', 'null'],
    ['a number', 42],
  ] as const) {
    it(`refuses ${label} with InvalidEvent`, () => {
      assert.throws(
        () => parseFc3Event(event),
        (error: unknown) => isCallbackError(error) && error.code === 'InvalidEvent' && /HTTP trigger/.test(error.message),
      );
    });
  }
});

describe('CallbackResponse → FC 3.0 result', () => {
  it('returns the full struct with an explicit content-length', () => {
    const body = Buffer.from('{"id":"é"}');
    const result = responseToFc3({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) },
      body,
    });
    assert.deepEqual(result, {
      statusCode: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': '11' },
      isBase64Encoded: false,
      body: '{"id":"é"}',
    });
  });
});
