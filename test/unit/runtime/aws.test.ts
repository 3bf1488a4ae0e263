/**
 * The AWS Lambda adapter, and the proof behind its design: serverless-http carries the raw body and
 * the v2 raw path/query unchanged to the node:http listener, but not API Gateway v1's query.
 * Fixtures: literal events signed with the development key (test/fixtures/aws/, sign-fixtures.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { describe, it } from 'node:test';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import serverless from 'serverless-http';
import type { Store } from '../../../shared/store/types.js';
import { awsFacts, isAwsHttpEvent, responseToAws } from '../../../shared/runtime/aws.js';
import { createHandler } from '../../../shared/runtime/handler.js';
import { createJobListener } from '../../../shared/runtime/node.js';
import { jsonReply } from '../../../shared/protocol/reply.js';
import { echoJob } from '../../../shared/testing/platforms.js';
import { testRuntime } from '../../helpers/callbacks.js';
import { WIRE } from '../../fixtures/aws/sign-fixtures.js';

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../../fixtures/aws/${name}`, import.meta.url), 'utf8')) as T;
const rest = () => fixture<APIGatewayProxyEvent>('rest-v1.json');
const httpApi = () => fixture<APIGatewayProxyEventV2>('http-api-v2.json');
const functionUrl = () => fixture<APIGatewayProxyEventV2>('function-url.json');
const context = { awsRequestId: 'aws-req-1' } as never;

const runtime = () => testRuntime({}, { storeFor: async () => ({}) as Store });
const handlerFor = (rt = runtime()) => createHandler(echoJob, () => rt);

function reply(result: { statusCode?: number; body?: string; headers?: Record<string, unknown>; isBase64Encoded?: boolean }) {
  assert.equal(result.isBase64Encoded, false, 'JSON replies travel as text');
  assert.equal(result.headers?.['content-length'], String(Buffer.byteLength(result.body ?? '')));
  return { status: result.statusCode, json: JSON.parse(result.body ?? '') };
}

describe('AWS Lambda: signed fixtures verify through serverless-http and the node listener', () => {
  it('REST API v1 (query rebuilt from multiValueQueryStringParameters, stage kept from requestContext.path)', async () => {
    const result: APIGatewayProxyResult = await handlerFor()(rest(), context);
    const { status, json } = reply(result);
    assert.equal(status, 200, JSON.stringify(json));
    assert.deepEqual(json, { bucket: 'examplebucket', object: 'uploads/中文.txt', size: 12, custom: { source: 'mobile' }, bodyType: 'form' });
    assert.ok('multiValueHeaders' in result, 'the v1 result shape');
  });

  it('HTTP API v2 (decoded rawPath, raw rawQueryString, base64 JSON body)', async () => {
    const result = (await handlerFor()(httpApi(), context)) as APIGatewayProxyStructuredResultV2;
    const { status, json } = reply(result);
    assert.equal(status, 200, JSON.stringify(json));
    assert.deepEqual(json.custom, { source: 'http-api' });
    assert.equal(json.bodyType, 'json');
    assert.deepEqual(result.cookies, [], 'the v2 result shape');
  });

  it('Function URL (encoded rawPath, raw query, base64 form body)', async () => {
    const { status, json } = reply((await handlerFor()(functionUrl(), context)) as APIGatewayProxyStructuredResultV2);
    assert.equal(status, 200, JSON.stringify(json));
    assert.deepEqual(json.custom, { source: 'function-url' });
  });

  it('refuses a tampered base64 body, a moved path and a changed query', async () => {
    const tampered = functionUrl();
    tampered.body = Buffer.from(Buffer.from(tampered.body!, 'base64').toString().replace('size=12', 'size=13')).toString('base64');
    const moved = functionUrl();
    moved.rawPath = '/uploads/other';
    const requeried = rest();
    requeried.multiValueQueryStringParameters!.tag = ['a', 'c'];
    requeried.queryStringParameters!.tag = 'c';
    for (const event of [tampered, moved, requeried]) {
      const { status, json } = reply(await handlerFor()(event as unknown as APIGatewayProxyEvent, context));
      assert.equal(status, 401);
      assert.equal(json.error.code, 'SignatureInvalid');
      assert.equal(json.error.requestId, 'aws-req-1', 'the Lambda request id');
    }
  });

  it('the signed fixtures are what sign-fixtures.ts writes', () => {
    execFileSync(process.execPath, ['--import', 'tsx', 'test/fixtures/aws/sign-fixtures.ts', '--check'], {
      cwd: new URL('../../../', import.meta.url).pathname,
      stdio: 'pipe',
    });
  });
});

describe('the serverless-http proof', () => {
  /** What the node listener is handed: the request target and the body bytes. */
  async function captured(event: object): Promise<{ url: string; sha256: string; contentLength: unknown }> {
    const listener: RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const out = jsonReply(200, { url: req.url, sha256: createHash('sha256').update(body).digest('hex'), contentLength: req.headers['content-length'] });
        res.writeHead(out.status, out.headers);
        res.end(out.body);
      });
    };
    const result = (await serverless(listener, { binary: false })(event, {})) as { body: string };
    return JSON.parse(result.body);
  }
  const sha256 = (text: string) => createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');

  it('v2: the raw path, the raw query and the base64-decoded body bytes reach the listener unchanged', async () => {
    const event = functionUrl();
    const seen = await captured(event);
    assert.equal(seen.url, `${WIRE['aws/function-url.json']!.rawPath}?${WIRE['aws/function-url.json']!.rawQuery}`);
    assert.equal(seen.sha256, sha256(WIRE['aws/function-url.json']!.body));
    event.body = Buffer.from([0xff, 0x00, 0xc3, 0x28]).toString('base64');
    assert.equal((await captured(event)).sha256, createHash('sha256').update(Buffer.from([0xff, 0x00, 0xc3, 0x28])).digest('hex'), 'non-UTF-8 bytes too');
  });

  it('v2 HTTP API: a decoded path is re-escaped only where it would change the target (? and #)', async () => {
    const event = httpApi();
    event.rawPath = '/a b/中文?#';
    assert.equal((await captured(event)).url, '/a b/中文%3F%23?token=abc%201%2F2&id=1');
  });

  it('v1: the query is rebuilt with querystring.stringify, so the raw query is lost', async () => {
    const seen = await captured(rest());
    assert.equal(seen.url, '/uploads/%E4%B8%AD%E6%96%87%20cb?source=mobile&tag=a&tag=b&next=%2Fuploads%2Fdone');
    assert.notEqual(seen.url.split('?')[1], WIRE['aws/rest-v1.json']!.rawQuery, 'OSS signed next=/uploads/done');
    assert.equal(seen.sha256, sha256(WIRE['aws/rest-v1.json']!.body), 'the body is fine');
  });

  it('v1 without the adapter’s own query candidates does not verify (why awsFacts exists)', async () => {
    const plain = serverless(createJobListener(echoJob, runtime()), { binary: false });
    const result = (await plain(rest(), {})) as APIGatewayProxyResult;
    assert.equal(JSON.parse(result.body).error.code, 'SignatureInvalid');
  });
});

describe('awsFacts', () => {
  it('v1: the full path (stage kept), the multi-valued query spellings, the request id and receive time', () => {
    const facts = awsFacts(rest(), { awsRequestId: 'lambda-1' });
    assert.equal(facts.rawPath, '/prod/uploads/%E4%B8%AD%E6%96%87%20cb');
    const all = [facts.rawQuery, ...(facts.altQueries ?? [])];
    assert.ok(all.includes('source=mobile&tag=a&tag=b&next=/uploads/done'));
    assert.ok(all.includes('source=mobile&tag=a&tag=b&next=%2Fuploads%2Fdone'));
    assert.equal(facts.requestId, 'lambda-1');
    assert.equal(facts.receivedAt, 1794643200000);
  });

  it('v1: falls back to `path` and to requestContext.requestId', () => {
    const event = rest();
    delete (event.requestContext as { path?: string }).path;
    event.multiValueQueryStringParameters = null;
    event.queryStringParameters = null;
    const facts = awsFacts(event, undefined);
    assert.equal(facts.rawPath, '/uploads/%E4%B8%AD%E6%96%87%20cb');
    assert.equal(facts.rawQuery, null);
    assert.deepEqual(facts.altQueries, ['']);
    assert.equal(facts.requestId, 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef');
  });

  it('v2: keeps the raw query; an empty rawQueryString tries "no ?" then a bare "?"', () => {
    assert.deepEqual(awsFacts(functionUrl(), undefined), { requestId: '5a9a3ee6-1b33-4b8f-9a5c-2a3f1d0e9b7c', receivedAt: 1794643202000 });
    const event = functionUrl();
    event.rawQueryString = '';
    const facts = awsFacts(event, undefined);
    assert.equal(facts.rawQuery, null);
    assert.deepEqual(facts.altQueries, ['']);
  });
});

describe('AWS event detection and fallback replies', () => {
  it('detects v1 by httpMethod and v2 / Function URLs by version "2.0"', () => {
    assert.equal(isAwsHttpEvent(rest()), true);
    assert.equal(isAwsHttpEvent(httpApi()), true);
    assert.equal(isAwsHttpEvent(functionUrl()), true);
    assert.equal(isAwsHttpEvent({ version: 'v1', requestContext: { http: { method: 'POST' } } }), false, 'FC 3.0');
    assert.equal(isAwsHttpEvent(Buffer.from('{"httpMethod":"POST"}')), false, 'bytes are FC 3.0');
    assert.equal(isAwsHttpEvent(null), false);
  });

  it('builds the result of the event’s version without serverless-http', () => {
    const response = jsonReply(500, { error: { code: 'Internal' } });
    assert.ok('multiValueHeaders' in responseToAws(rest(), response));
    assert.ok(!('multiValueHeaders' in responseToAws(functionUrl(), response)));
  });
});

describe('cold start', () => {
  it('loads serverless-http on the first AWS invocation only, never for FC', () => {
    const script = `
      import { createRequire } from 'node:module';
      import { readFileSync } from 'node:fs';
      const { createHandler } = await import('./shared/runtime/handler.ts');
      const { echoJob } = await import('./shared/testing/platforms.ts');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('serverless-http'));
      process.env.OSS_CALLBACK_LOG = 'off';
      const handler = createHandler(echoJob);
      await handler(readFileSync('test/fixtures/fc3/form-plain.json'), { requestId: 'x' });
      const afterFc3 = loaded();
      await handler(JSON.parse(readFileSync('test/fixtures/aws/function-url.json', 'utf8')), {});
      console.log(JSON.stringify({ afterFc3, afterAws: loaded() }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../../../', import.meta.url).pathname,
      encoding: 'utf8',
      env: { ...process.env, OSS_ALLOWED_BUCKETS: 'examplebucket' },
    });
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { afterFc3: false, afterAws: true });
  });
});
