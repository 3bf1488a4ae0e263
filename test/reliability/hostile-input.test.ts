/**
 * Hostile input: whatever arrives, the answer is a JSON error with a stable code, never an
 * uncaught exception, never `Internal`, and nothing is written.
 *
 * Property-based (fast-check) over the pipeline and the FC 3.0 adapter, plus a corpus of known
 * nasty cases. `RELIABILITY_LONG=1 npm test -- test/reliability` runs 50x more inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import type { CallbackRequest, CallbackResponse } from '../../shared/core/http.js';
import { handleCallback } from '../../shared/core/pipeline.js';
import { ERROR_STATUS } from '../../shared/protocol/errors.js';
import { createHandler } from '../../shared/runtime/handler.js';
import { fc2Request, fc2Response } from '../../shared/testing/platforms.js';
import { body, FORM, JSON_TYPE, signedRequest, testRuntime, uploadValues } from '../helpers/callbacks.js';

const LONG = process.env.RELIABILITY_LONG === '1';
const runs = (n: number) => ({ numRuns: LONG ? n * 50 : n });

/** Only this bucket is allowed, and no generator produces it: valid-looking input stops before the store. */
const ALLOWED = 'the-only-allowed-bucket';
let storeOpened = 0;
const runtime = testRuntime(
  { allowedBuckets: new Set([ALLOWED]), maxBodyBytes: 16 * 1024, deadlineMs: 2000 },
  {
    storeFor: async () => {
      storeOpened++;
      throw new Error('hostile input reached the store');
    },
  },
);

const CODES = new Set(Object.keys(ERROR_STATUS));

function assertCleanRefusal(response: CallbackResponse): string {
  assert.notEqual(response.status, 200);
  assert.equal(Number(response.headers['content-length']), response.body.length);
  assert.ok(response.body.length > 0);
  const reply = JSON.parse(response.body.toString('utf8'));
  const code = reply?.error?.code;
  assert.ok(CODES.has(code), `unexpected code ${code}`);
  assert.notEqual(code, 'Internal', `bad input gave Internal: ${reply.error.message}`);
  assert.equal(typeof reply.error.message, 'string');
  assert.equal(storeOpened, 0, 'nothing may be written');
  return code;
}

const header = fc.string({ maxLength: 40, unit: 'binary' });
const bytes = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a));
const contentType = fc.oneof(
  fc.constantFrom(FORM, JSON_TYPE, 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', '', 'multipart/form-data; boundary=x'),
  fc.string({ maxLength: 30 }),
);
const path = fc.oneof(
  fc.constantFrom('/record-upload', '/', '/%', '/%zz', '/%E4%B8', '/a+b', '/..%2F..', '/%00', '/中文'),
  fc.string({ maxLength: 40 }).map((s) => `/${s}`),
);
const query = fc.option(fc.string({ maxLength: 40 }), { nil: null });

describe('hostile input: unsigned garbage', () => {
  it('any method, path, query, headers and body → a clean JSON refusal', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'post'),
        path,
        query,
        fc.dictionary(fc.constantFrom('authorization', 'x-oss-pub-key-url', 'content-type', 'x-oss-bucket', 'x-forwarded-for'), header),
        bytes,
        async (method, rawPath, rawQuery, headers, raw) => {
          const request: CallbackRequest = { method, rawPath, rawQuery, headers, body: raw, requestId: 'prop' };
          assertCleanRefusal(await handleCallback(recordUpload, request, runtime));
        },
      ),
      runs(300),
    );
  });
});

describe('hostile input: correctly signed, arbitrary content', () => {
  it('arbitrary signed bytes under any content type → a clean JSON refusal', async () => {
    await fc.assert(
      fc.asyncProperty(bytes, contentType, path, query, async (raw, type, rawPath, rawQuery) => {
        const request = signedRequest(raw, { contentType: type, path: rawPath, query: rawQuery });
        const code = assertCleanRefusal(await handleCallback(recordUpload, request, runtime));
        assert.notEqual(code, 'SignatureInvalid', 'a correctly signed request verifies, whatever its bytes and path');
      }),
      runs(300),
    );
  });

  it('arbitrary signed JSON documents → a clean JSON refusal', async () => {
    const doc = fc.oneof(
      fc.jsonValue({ maxDepth: 6 }),
      fc.dictionary(fc.constantFrom('bucket', 'object', 'size', '__proto__', 'constructor', 'x:a', 'imageWidth', 'crc64'), fc.jsonValue({ maxDepth: 3 })),
    );
    await fc.assert(
      fc.asyncProperty(doc, async (value) => {
        const text = JSON.stringify(value) ?? 'null';
        const request = signedRequest(text, { contentType: JSON_TYPE });
        assertCleanRefusal(await handleCallback(recordUpload, request, runtime));
      }),
      runs(300),
    );
  });

  it('arbitrary signed form bodies (nasty keys and values) → a clean JSON refusal', async () => {
    const key = fc.oneof(fc.constantFrom('bucket', 'object', 'size', '__proto__', 'x:', 'x:__proto__', 'imageWidth', 'crc64', ''), fc.string({ maxLength: 12 }));
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('%', '%zz', '${bucket}', '-1', '1e3', '18446744073709551616', '%F0%9F'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(key, value), { maxLength: 12 }), async (pairs) => {
        const text = pairs.map(([k, v]) => `${k}=${v}`).join('&');
        assertCleanRefusal(await handleCallback(recordUpload, signedRequest(text), runtime));
      }),
      runs(300),
    );
  });

  it('valid uploads with hostile values (any bucket but the allowed one) stop at BucketNotAllowed or InvalidPayload', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 70 }),
        fc.string({ minLength: 0, maxLength: 300 }),
        fc.oneof(fc.nat(), fc.string({ maxLength: 25 })),
        fc.boolean(),
        async (bucket, object, size, json) => {
          fc.pre(bucket !== ALLOWED);
          const values = uploadValues({ bucket, object, size: size as never });
          const text = body(json ? recordUpload.template.json : recordUpload.template.form, values, json ? 'json' : 'form');
          const code = assertCleanRefusal(await handleCallback(recordUpload, signedRequest(text, { contentType: json ? JSON_TYPE : FORM }), runtime));
          assert.ok(['BucketNotAllowed', 'InvalidPayload', 'MalformedBody'].includes(code), code);
        },
      ),
      runs(200),
    );
  });
});

describe('hostile input: the FC 3.0 adapter', () => {
  const handler = createHandler(recordUpload, () => runtime);
  const event = fc.oneof(
    fc.anything(),
    fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')),
    bytes,
    fc.record(
      {
        version: fc.constantFrom('v1', '2.0', 1),
        rawPath: fc.oneof(path, fc.integer()),
        body: fc.oneof(fc.string(), fc.base64String(), fc.constant(null)),
        isBase64Encoded: fc.oneof(fc.boolean(), fc.string()),
        headers: fc.oneof(fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(fc.string(), fc.array(fc.string()), fc.integer())), fc.constant(null)),
        queryParameters: fc.oneof(fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), fc.constant(null)),
        requestContext: fc.record({
          http: fc.record({ method: fc.constantFrom('POST', 'GET'), path, sourceIp: fc.string() }, { requiredKeys: [] }),
          requestId: fc.string(),
          timeEpoch: fc.oneof(fc.string(), fc.integer()),
        }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    ).map((e) => Buffer.from(JSON.stringify(e))),
  );
  it('any event → the full FC 3.0 result struct with a JSON error, never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(event, async (input) => {
        const result = await handler(input, { requestId: 'prop' });
        assert.equal(typeof result.statusCode, 'number');
        assert.equal(result.isBase64Encoded, false);
        assertCleanRefusal({ status: result.statusCode, headers: result.headers, body: Buffer.from(result.body) });
      }),
      runs(300),
    );
  });
});

describe('hostile input: the FC 2.0 and AWS Lambda adapters', () => {
  const handler = createHandler(recordUpload, () => runtime) as unknown as (...args: unknown[]) => Promise<unknown>;
  const stringMap = fc.dictionary(fc.string({ maxLength: 16 }), fc.string({ maxLength: 40 }), { maxKeys: 6 });
  const multiMap = fc.dictionary(fc.string({ maxLength: 16 }), fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }), { maxKeys: 6 });

  it('FC 2.0: any request → one JSON refusal through resp, never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('POST', 'GET', 'PUT'),
        fc.oneof(path, fc.string({ maxLength: 60 })),
        multiMap,
        multiMap,
        bytes,
        fc.boolean(),
        async (method, requestURI, headersMap, queriesMap, raw, bodyInReq) => {
          const req = fc2Request({ requestURI, method, path: requestURI.split('?')[0]!, clientIP: '127.0.0.1', headersMap, queriesMap }, raw, { bodyInReq });
          const resp = fc2Response();
          await handler(req, resp, { requestId: 'prop' });
          assert.equal(resp.sends, 1, 'exactly one reply');
          const headers = Object.fromEntries(Object.entries(resp.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
          assertCleanRefusal({ status: resp.statusCode, headers, body: resp.body ?? Buffer.alloc(0) });
        },
      ),
      runs(200),
    );
  });

  const awsV1 = fc.record({
    httpMethod: fc.constantFrom('POST', 'GET', 'DELETE'),
    path: fc.oneof(path, fc.string({ maxLength: 40 })),
    resource: fc.constant('/{proxy+}'),
    headers: fc.oneof(stringMap, fc.constant(null)),
    multiValueHeaders: fc.oneof(multiMap, fc.constant(null)),
    queryStringParameters: fc.oneof(stringMap, fc.constant(null)),
    multiValueQueryStringParameters: fc.oneof(multiMap, fc.constant(null)),
    body: fc.oneof(fc.string({ maxLength: 200 }), fc.base64String({ maxLength: 200 }), fc.constant(null)),
    isBase64Encoded: fc.boolean(),
    requestContext: fc.record({ path: fc.oneof(path, fc.string({ maxLength: 40 })), requestId: fc.string({ maxLength: 20 }), stage: fc.constantFrom('prod', '$default') }, { requiredKeys: [] }),
  }, { requiredKeys: ['httpMethod'] });
  const awsV2 = fc.record({
    version: fc.constant('2.0'),
    rawPath: fc.oneof(path, fc.string({ maxLength: 40 })),
    rawQueryString: fc.string({ maxLength: 60 }),
    headers: stringMap,
    body: fc.oneof(fc.string({ maxLength: 200 }), fc.base64String({ maxLength: 200 })),
    isBase64Encoded: fc.boolean(),
    requestContext: fc.record({ http: fc.record({ method: fc.constantFrom('POST', 'GET'), path, sourceIp: fc.constant('1.2.3.4') }), requestId: fc.string({ maxLength: 20 }), timeEpoch: fc.integer() }, { requiredKeys: [] }),
  }, { requiredKeys: ['version'] });

  it('AWS v1, v2 and Function URL events → a proxy result with a JSON refusal, never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(awsV1, awsV2), async (event) => {
        const result = (await handler(event, { awsRequestId: 'prop' })) as { statusCode: number; headers?: Record<string, unknown>; body: string; isBase64Encoded?: boolean };
        assert.equal(typeof result.statusCode, 'number');
        const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
        const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
        assertCleanRefusal({ status: result.statusCode, headers, body });
      }),
      runs(200),
    );
  });
});

describe('hostile input: a corpus of known nasty cases', () => {
  const good = body(recordUpload.template.form, uploadValues({ bucket: 'examplebucket' }));
  const cases: [string, () => CallbackRequest, string][] = [
    ['look-alike key host', () => signedRequest(good, { keyUrl: 'https://gosspublic.alicdn.com.evil.example/callback_pub_key_v1.pem' }), 'PublicKeyUrlForbidden'],
    ['user-info trick', () => signedRequest(good, { keyUrl: 'https://gosspublic.alicdn.com@evil.example/callback_pub_key_v1.pem' }), 'PublicKeyUrlForbidden'],
    ['explicit port', () => signedRequest(good, { keyUrl: 'https://gosspublic.alicdn.com:443/callback_pub_key_v1.pem' }), 'PublicKeyUrlForbidden'],
    ['IP literal', () => signedRequest(good, { keyUrl: 'http://47.88.0.1/callback_pub_key_v1.pem' }), 'PublicKeyUrlForbidden'],
    ['file: scheme', () => signedRequest(good, { keyUrl: 'file:///etc/passwd' }), 'PublicKeyUrlForbidden'],
    [
      'truncated base64 signature',
      () => {
        const request = signedRequest(good);
        return { ...request, headers: { ...request.headers, authorization: request.headers.authorization!.slice(0, 30) } };
      },
      'SignatureInvalid',
    ],
    [
      'key URL header that is not base64',
      () => {
        const request = signedRequest(good);
        return { ...request, headers: { ...request.headers, 'x-oss-pub-key-url': 'https://gosspublic.alicdn.com/callback_pub_key_v1.pem' } };
      },
      'PublicKeyUrlForbidden',
    ],
    ['oversized body', () => signedRequest(`bucket=examplebucket&object=${'a'.repeat(20_000)}`), 'BodyTooLarge'],
    ['deeply nested JSON', () => signedRequest(`{"bucket":"examplebucket","x":${'['.repeat(5000)}${']'.repeat(5000)}}`, { contentType: JSON_TYPE }), 'MalformedBody'],
    ['__proto__ in JSON', () => signedRequest('{"bucket":"examplebucket","__proto__":{"polluted":true}}', { contentType: JSON_TYPE }), 'MalformedBody'],
    ['__proto__ in a form', () => signedRequest('bucket=examplebucket&__proto__=x'), 'MalformedBody'],
    ['constructor.prototype in JSON', () => signedRequest('{"bucket":"examplebucket","constructor":{"prototype":{"x":1}}}', { contentType: JSON_TYPE }), 'MalformedBody'],
    ['duplicate form keys', () => signedRequest('bucket=examplebucket&bucket=the-only-allowed-bucket'), 'MalformedBody'],
    ['non-UTF-8 bytes', () => signedRequest(Buffer.from([0x62, 0x3d, 0xff, 0xfe])), 'MalformedBody'],
    ['invalid percent-escapes in the path', () => signedRequest(good, { path: '/record-upload/%zz%' }), 'BucketNotAllowed'],
    ['form body sent as JSON', () => signedRequest(good, { contentType: JSON_TYPE }), 'MalformedBody'],
    ['JSON body sent as form', () => signedRequest('{"bucket":"examplebucket"}'), 'MalformedBody'],
    ['unsigned x-oss-bucket claiming the allowed bucket', () => signedRequest(good, { headers: { 'x-oss-bucket': ALLOWED } }), 'BucketNotAllowed'],
  ];
  for (const [label, make, code] of cases) {
    it(`${label} → ${code}`, async () => {
      assert.equal(assertCleanRefusal(await handleCallback(recordUpload, make(), runtime)), code);
    });
  }

  it('nothing polluted Object.prototype', () => {
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});
