/**
 * One protocol core behind every runtime: the same signed callbacks give the same verdict and the
 * same reply (status and body) on FC 3.0, FC 2.0, AWS API Gateway v1, HTTP API v2, Function URLs
 * and the local server over real HTTP. Each platform's event is built from its literal fixture
 * (test/fixtures/{fc3,fc2,aws}/) with only the request swapped in (shared/testing/platforms.ts).
 *
 * The differences allowed: `error.requestId` is each platform's own request id, and a
 * SignatureInvalid message says how many spellings of the query were tried where the platform hides
 * the raw query (FC 3.0, FC 2.0 without `?` in req.url, API Gateway v1).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { CallbackResponse } from '../../shared/core/http.js';
import type { Runtime } from '../../shared/core/pipeline.js';
import { createHandler } from '../../shared/runtime/handler.js';
import type { Fc3HttpEvent } from '../../shared/runtime/fc3.js';
import { createNodeListener } from '../../shared/runtime/node.js';
import type { Store } from '../../shared/store/types.js';
import {
  awsRestEvent,
  awsV2Event,
  echoJob,
  type EventOptions,
  fc2Params,
  fc2Request,
  fc2Response,
  fc3Event,
  type Fc2HttpParams,
  type WireRequest,
} from '../../shared/testing/platforms.js';
import { fillTemplate } from '../../shared/testing/fill.js';
import { JSON_TYPE, signedRequest, testRuntime } from '../helpers/callbacks.js';

const fixture = <T>(path: string): T => JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8')) as T;
const FC3_BASE = fixture<Fc3HttpEvent>('fc3/form-plain.json');
const REST_BASE = fixture<APIGatewayProxyEvent>('aws/rest-v1.json');
const HTTP_API_BASE = fixture<APIGatewayProxyEventV2>('aws/http-api-v2.json');
const FUNCTION_URL_BASE = fixture<APIGatewayProxyEventV2>('aws/function-url.json');
const FC2_BASE = fixture<{ httpParams: Fc2HttpParams }>('fc2/http-request.json').httpParams;

// ------------------------------------------------------------------------------------ the callbacks

const values = (overrides: Record<string, string | number> = {}) => ({ bucket: 'examplebucket', object: 'uploads/中文 a+b.txt', size: 2048, 'x:owner': 'alice', ...overrides });
const FORM_TEMPLATE = 'bucket=${bucket}&object=${object}&size=${size}&x:owner=${x:owner}';
const JSON_TEMPLATE = '{"bucket":${bucket},"object":${object},"size":${size},"x:owner":${x:owner}}';
const form = (overrides = {}) => fillTemplate(FORM_TEMPLATE, values(overrides), 'form');
const json = (overrides = {}) => fillTemplate(JSON_TEMPLATE, values(overrides), 'json');

interface Case {
  name: string;
  wire: WireRequest;
  options?: EventOptions;
  status: number;
  code?: string;
}

function wire(body: string, options: Parameters<typeof signedRequest>[1] = {}): WireRequest {
  const { method, rawPath, rawQuery, headers, body: bytes } = signedRequest(body, { path: '/echo', ...options });
  return { method, rawPath, rawQuery, headers, body: bytes };
}

const tampered = (() => {
  const signed = wire(form());
  const body = Buffer.from(form({ size: 4096 }));
  return { ...signed, body, headers: { ...signed.headers, 'content-length': String(body.length) } };
})();

const CASES: Case[] = [
  { name: 'valid form body', wire: wire(form()), status: 200 },
  { name: 'valid JSON body', wire: wire(json(), { contentType: JSON_TYPE }), status: 200 },
  { name: 'tampered body', wire: tampered, status: 401, code: 'SignatureInvalid' },
  { name: 'wrong bucket', wire: wire(form({ bucket: 'otherbucket' })), status: 403, code: 'BucketNotAllowed' },
  {
    name: 'bad key URL',
    wire: wire(form(), { keyUrl: 'https://gosspublic.alicdn.com.evil.example/callback_pub_key_v1.pem' }),
    status: 403,
    code: 'PublicKeyUrlForbidden',
  },
  { name: 'with a query', wire: wire(form(), { query: 'token=abc%201%2F2&id=1' }), status: 200 },
  { name: 'with a repeated query key', wire: wire(form(), { query: 'tag=a&tag=b&id=1' }), status: 200 },
  { name: 'percent-encoded path', wire: wire(form(), { path: '/echo/uploads/%E4%B8%AD%E6%96%87%20a+b.txt' }), status: 200 },
  {
    name: 'base64 body (non-ASCII JSON, base64 transport)',
    wire: wire(json({ object: 'uploads/写真 ✓.jpg' }), { contentType: JSON_TYPE }),
    options: { base64: true },
    status: 200,
  },
  { name: 'not a POST', wire: { ...wire(form()), method: 'PUT' }, status: 405, code: 'MethodNotAllowed' },
];

// ------------------------------------------------------------------------------------ the platforms

interface Reply {
  status: number;
  contentType: string | undefined;
  contentLength: string | undefined;
  body: string;
}

let runtime: Runtime;
const handler = createHandler(echoJob, () => runtime);
let server: Server;
let port = 0;

function fromResponse(response: CallbackResponse): Reply {
  return { status: response.status, contentType: response.headers['content-type'], contentLength: response.headers['content-length'], body: response.body.toString('utf8') };
}

type Platform = (wire: WireRequest, options: EventOptions) => Promise<Reply>;

const PLATFORMS: Record<string, Platform> = {
  'FC 3.0': async (w, options) => {
    const result = await handler(Buffer.from(JSON.stringify(fc3Event(FC3_BASE, w, options))), { requestId: 'fc3' });
    const headers = result.headers as Record<string, string>;
    return { status: result.statusCode, contentType: headers['content-type'], contentLength: headers['content-length'], body: result.body };
  },
  'FC 2.0 (req.body)': async (w) => fc2(w, true),
  'FC 2.0 (stream)': async (w) => fc2(w, false),
  'AWS REST API v1': async (w, options) => aws(await handler(awsRestEvent(REST_BASE, w, options), { awsRequestId: 'v1' } as never)),
  'AWS HTTP API v2': async (w, options) =>
    aws(await handler(awsV2Event(HTTP_API_BASE, w, { ...options, decodedPath: true }), { awsRequestId: 'v2' } as never)),
  'AWS Function URL': async (w, options) => aws(await handler(awsV2Event(FUNCTION_URL_BASE, w, options), { awsRequestId: 'url' } as never)),
  'local server (HTTP)': (w) => overHttp(w),
};

async function fc2(w: WireRequest, bodyInReq: boolean): Promise<Reply> {
  const resp = fc2Response();
  await handler(fc2Request(fc2Params(FC2_BASE, w), w.body, { bodyInReq }), resp, { requestId: 'fc2' });
  assert.equal(resp.sends, 1);
  const header = (name: string) => resp.headers[name] as string | undefined;
  return { status: resp.statusCode, contentType: header('content-type'), contentLength: header('content-length'), body: resp.body!.toString('utf8') };
}

function aws(result: { statusCode?: number; headers?: Record<string, unknown>; body?: string; isBase64Encoded?: boolean }): Reply {
  assert.equal(result.isBase64Encoded, false);
  return {
    status: result.statusCode ?? 0,
    contentType: result.headers?.['content-type'] as string | undefined,
    contentLength: result.headers?.['content-length'] as string | undefined,
    body: result.body ?? '',
  };
}

/** A real HTTP request with the path and query exactly as on the wire. */
function overHttp(w: WireRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: w.method, path: w.rawQuery === null ? w.rawPath : `${w.rawPath}?${w.rawQuery}`, headers: w.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            contentLength: res.headers['content-length'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(w.body);
  });
}

/** The reply without the platform's own request id and query-spelling count. */
function comparable(reply: Reply): unknown {
  const body = JSON.parse(reply.body);
  if (body.error) {
    delete body.error.requestId;
    body.error.message = String(body.error.message).replace(/ \(\d+ spellings of the query were tried\)/, '');
  }
  return { status: reply.status, body };
}

// ------------------------------------------------------------------------------------ the table

before(async () => {
  runtime = testRuntime({ allowedBuckets: new Set(['examplebucket']) }, { storeFor: async () => ({}) as Store });
  server = createServer(createNodeListener({ jobs: [echoJob], runtime }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('the same signed callback on every runtime', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.status}${c.code ? ` ${c.code}` : ''} everywhere`, async () => {
      const replies: [string, Reply][] = [];
      for (const [platform, run] of Object.entries(PLATFORMS)) replies.push([platform, await run(c.wire, c.options ?? {})]);
      const [first, reference] = replies[0]!;
      for (const [platform, reply] of replies) {
        assert.equal(reply.status, c.status, `${platform}: ${reply.body}`);
        assert.equal(reply.contentType, 'application/json; charset=utf-8', platform);
        assert.equal(reply.contentLength, String(Buffer.byteLength(reply.body)), `${platform}: explicit Content-Length`);
        if (c.code) assert.equal(JSON.parse(reply.body).error.code, c.code, `${platform}: ${reply.body}`);
        assert.deepEqual(comparable(reply), comparable(reference), `${platform} differs from ${first}`);
      }
      if (c.status === 200) {
        const echoed = JSON.parse(reference.body);
        assert.equal(echoed.bucket, 'examplebucket');
        assert.equal(echoed.custom.owner, 'alice');
      }
    });
  }
});

describe('the table covers what it claims', () => {
  it('has a base64 case whose body really travels base64-encoded, and a decoded-path HTTP API event', () => {
    const c = CASES.find((x) => x.options?.base64)!;
    const event = awsV2Event(HTTP_API_BASE, c.wire, { ...c.options, decodedPath: true });
    assert.equal(event.isBase64Encoded, true);
    assert.equal(Buffer.from(event.body!, 'base64').toString('utf8'), c.wire.body.toString('utf8'));
    const path = CASES.find((x) => x.name === 'percent-encoded path')!;
    assert.equal(awsV2Event(HTTP_API_BASE, path.wire, { decodedPath: true }).rawPath, '/echo/uploads/中文 a+b.txt');
    assert.equal(JSON.stringify(fc3Event(FC3_BASE, c.wire, c.options)).includes('"isBase64Encoded":true'), true);
  });
});
