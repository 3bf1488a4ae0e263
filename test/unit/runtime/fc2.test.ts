/**
 * The FC 2.0 HTTP function adapter `(req, resp, context)`, against `req`/`resp` built the way the
 * FC 2.0 Node.js runtime builds them (shared/testing/platforms.ts) from a literal, signed request
 * (test/fixtures/fc2/http-request.json).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Store } from '../../../shared/store/types.js';
import { createFc2Handler, fc2Target, fc2ToRequest, isFc2Response } from '../../../shared/runtime/fc2.js';
import { headerMap } from '../../../shared/runtime/common.js';
import { echoJob, type Fc2HttpParams, fc2Request, fc2Response } from '../../../shared/testing/platforms.js';
import { testRuntime } from '../../helpers/callbacks.js';

interface Fc2Fixture {
  httpParams: Fc2HttpParams;
  body: string;
  context: { requestId: string };
}
const fixture = (): Fc2Fixture => JSON.parse(readFileSync(new URL('../../fixtures/fc2/http-request.json', import.meta.url), 'utf8'));
const runtime = (config = {}) => testRuntime(config, { storeFor: async () => ({}) as Store });

async function invoke(options: { bodyInReq?: boolean; mutate?: (f: Fc2Fixture) => void; config?: object; getRuntime?: () => never } = {}) {
  const f = fixture();
  options.mutate?.(f);
  const rt = runtime(options.config);
  const handler = createFc2Handler(echoJob, options.getRuntime ?? (() => rt));
  const resp = fc2Response();
  await handler(fc2Request(f.httpParams, Buffer.from(f.body), { bodyInReq: options.bodyInReq }), resp, f.context);
  assert.equal(resp.sends, 1, 'resp.send exactly once');
  return { resp, json: JSON.parse(resp.body!.toString('utf8')), lines: rt.lines };
}

describe('FC 2.0 HTTP function', () => {
  it('verifies the signed fixture: the raw target from req.url (default-domain prefix and query included)', async () => {
    const { resp, json, lines } = await invoke();
    assert.equal(resp.statusCode, 200, JSON.stringify(json));
    assert.deepEqual(json, { bucket: 'examplebucket', object: 'uploads/中文.txt', size: 12, custom: { via: 'fc2' }, bodyType: 'form' });
    assert.equal(resp.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(resp.headers['content-length'], String(resp.body!.length));
    assert.equal(lines[0]?.requestId, '1-673d9aa8-0f0a1b2c3d4e5f6a7b8c9d0e', 'the FC context request id');
  });

  it('reads the body from the stream when req.body is not set', async () => {
    const { resp } = await invoke({ bodyInReq: false });
    assert.equal(resp.statusCode, 200);
  });

  it('rebuilds the query from req.queries when req.url carries none', async () => {
    const { resp } = await invoke({ mutate: (f) => (f.httpParams.requestURI = f.httpParams.requestURI.split('?')[0]!) });
    assert.equal(resp.statusCode, 200);
  });

  it('refuses a tampered body, with the FC request id in the error', async () => {
    const { resp, json } = await invoke({ mutate: (f) => (f.body = f.body.replace('size=12', 'size=13')) });
    assert.equal(resp.statusCode, 401);
    assert.equal(json.error.code, 'SignatureInvalid');
    assert.equal(json.error.requestId, '1-673d9aa8-0f0a1b2c3d4e5f6a7b8c9d0e');
  });

  it('caps a streamed body at CALLBACK_MAX_BODY_BYTES', async () => {
    const { resp, json } = await invoke({
      bodyInReq: false,
      config: { maxBodyBytes: 1024 },
      mutate: (f) => {
        f.body = 'x'.repeat(5000);
        f.httpParams.headersMap!['Content-Length'] = ['5000'];
      },
    });
    assert.equal(resp.statusCode, 413);
    assert.equal(json.error.code, 'BodyTooLarge');
  });

  it('answers a configuration error as ConfigurationError, once', async () => {
    const { resp, json } = await invoke({
      getRuntime: () => {
        throw new Error('OSS_CALLBACK_PATH_MAP rule "x" is not …');
      },
    });
    assert.equal(resp.statusCode, 500);
    assert.equal(json.error.code, 'ConfigurationError');
    assert.match(json.error.message, /^OSS_CALLBACK_PATH_MAP rule "x"/);
  });
});

describe('FC 2.0 request pieces', () => {
  it('takes the raw target from req.url, the rebuilt spellings only as alternatives', () => {
    const target = fc2Target({ url: '/fn/cb?b=2&a=%7E', path: '/cb', queries: { b: '2', a: '~' } });
    assert.equal(target.rawPath, '/fn/cb');
    assert.equal(target.rawQuery, 'b=2&a=%7E');
    assert.ok(target.altQueries?.includes('b=2&a=~'));
    assert.ok(!target.altQueries?.includes(null));
  });

  it('keeps a bare "?" and strips an absolute URL’s origin', () => {
    assert.deepEqual(fc2Target({ url: '/cb?', queries: {} }), { rawPath: '/cb', rawQuery: '', altQueries: [] });
    assert.equal(fc2Target({ url: 'https://example.com/cb?x=1' }).rawPath, '/cb');
  });

  it('without a query in url: repeated keys (arrays) come back in order, no query tries "" too', () => {
    const repeated = fc2Target({ url: '/cb', queries: { tag: ['a', 'b'], id: '1' } });
    assert.equal(repeated.rawQuery, 'tag=a&tag=b&id=1');
    const none = fc2Target({ url: '/cb', queries: {} });
    assert.equal(none.rawQuery, null);
    assert.deepEqual(none.altQueries, ['']);
  });

  it('falls back to req.path when there is no url', () => {
    assert.equal(fc2Target({ path: '/only/path', queries: { a: '1' } }).rawPath, '/only/path');
    assert.equal(fc2Target({ path: '/only/path', queries: { a: '1' } }).rawQuery, 'a=1');
  });

  it('lower-cases headers and joins repeats; clientIP is the source address', () => {
    assert.deepEqual(headerMap({ 'X-A': ['1', '2'], 'content-type': 'text/plain' } as never), { 'x-a': '1, 2', 'content-type': 'text/plain' });
    const f = fixture();
    const request = fc2ToRequest(fc2Request(f.httpParams, Buffer.from(f.body)), Buffer.from(f.body), undefined, 5);
    assert.equal(request.sourceIp, '47.96.0.12');
    assert.equal(request.receivedAt, 5);
    assert.match(request.requestId, /^[0-9a-f-]{36}$/, 'a generated id without an FC context');
  });

  it('recognises the FC 2.0 resp object', () => {
    assert.equal(isFc2Response(fc2Response()), true);
    assert.equal(isFc2Response({ requestId: 'fc3 context' }), false);
    assert.equal(isFc2Response(undefined), false);
  });
});

describe('FC 2.0 platform context', () => {
  it('passes region, account, function name and role credentials on to jobs, like FC 3.0', () => {
    const f = fixture();
    const context = { ...f.context, credentials: { accessKeyId: 'STS.id', accessKeySecret: 'secret', securityToken: 'token' } };
    const request = fc2ToRequest(fc2Request(f.httpParams, Buffer.from(f.body)), Buffer.from(f.body), context);
    assert.deepEqual(request.platform, {
      region: 'cn-hangzhou',
      accountId: '1234567890123456',
      functionName: 'echo',
      credentials: { accessKeyId: 'STS.id', accessKeySecret: 'secret', securityToken: 'token' },
    });
  });
});
