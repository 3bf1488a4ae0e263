/**
 * What a runtime adapter refuses itself, before the pipeline (or a plain HTTP function) answers, gets
 * the one JSON log line the pipeline writes for a rejection (common.ts `refuse`): an event it cannot
 * read (InvalidEvent: FC 3.0, AWS), a configuration it cannot load (ConfigurationError: every adapter),
 * a body over the limit while the stream is read (BodyTooLarge: FC 2.0, the node listener, AWS through
 * it). Exactly one line per refused request, with the stable code, the status, the message, the request
 * id and the duration; a request the pipeline answers still gets only its own line.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { defineHttpFunction } from '../../../shared/core/http-function.js';
import { jsonReply } from '../../../shared/protocol/reply.js';
import { createAwsHandler } from '../../../shared/runtime/aws.js';
import { refuse } from '../../../shared/runtime/common.js';
import { createFc2Handler } from '../../../shared/runtime/fc2.js';
import { createFc3Handler } from '../../../shared/runtime/fc3.js';
import { createHandler, createHttpHandler } from '../../../shared/runtime/handler.js';
import { createJobListener, createNodeListener } from '../../../shared/runtime/node.js';
import type { Store } from '../../../shared/store/types.js';
import { echoJob, fc2Request, fc2Response } from '../../../shared/testing/platforms.js';
import { testRuntime } from '../../helpers/callbacks.js';

const fixture = (path: string) => readFileSync(new URL(`../../fixtures/${path}`, import.meta.url));
const runtime = (config = {}) => testRuntime(config, { storeFor: async () => ({}) as Store });
const brokenConfig = (): never => {
  throw new Error('OSS_CALLBACK_PATH_MAP rule "x" is not a rule');
};

/** The JSON log lines written to stdout meanwhile (a runtime that cannot be built has no logger of its own). */
let stdout: Record<string, unknown>[] = [];
const write = process.stdout.write;
const savedLog = process.env.OSS_CALLBACK_LOG;
beforeEach(() => {
  stdout = [];
  delete process.env.OSS_CALLBACK_LOG;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = String(chunk);
    if (!text.startsWith('{"time"')) return (write as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    stdout.push(JSON.parse(text));
    return true;
  }) as typeof process.stdout.write;
});
afterEach(() => {
  process.stdout.write = write;
  if (savedLog === undefined) delete process.env.OSS_CALLBACK_LOG;
  else process.env.OSS_CALLBACK_LOG = savedLog;
});

/** Exactly one line, the pipeline's shape for a rejection. */
function oneRefusal(lines: readonly Record<string, unknown>[], expected: { outcome: string; status: number; requestId: string; function?: string; message?: RegExp }) {
  assert.equal(lines.length, 1, `one log line: ${JSON.stringify(lines)}`);
  const line = lines[0]!;
  assert.equal(line.outcome, expected.outcome);
  assert.equal(line.status, expected.status);
  assert.equal(line.requestId, expected.requestId);
  assert.equal(line.function, expected.function ?? 'echo');
  assert.equal(typeof line.message, 'string');
  if (expected.message) assert.match(String(line.message), expected.message);
  assert.equal(typeof line.durationMs, 'number');
  assert.ok((line.durationMs as number) >= 0);
  return line;
}

describe('FC 3.0: refusals before the pipeline are logged once', () => {
  it('an event that is not JSON, and one that is not an HTTP trigger event: InvalidEvent', async () => {
    const rt = runtime();
    const handler = createFc3Handler(echoJob, () => rt);
    const notJson = await handler(Buffer.from('not json'), { requestId: 'fc3-a' });
    assert.equal(notJson.statusCode, 400);
    oneRefusal(rt.lines, { outcome: 'InvalidEvent', status: 400, requestId: 'fc3-a', message: /not JSON/ });
    assert.equal(rt.lines[0]!.objectCheck, 'off', 'the configuration is known: the line says how objects are checked');
    rt.lines.length = 0;
    await handler('{"triggerName":"every-minute"}', { requestId: 'fc3-b' });
    oneRefusal(rt.lines, { outcome: 'InvalidEvent', status: 400, requestId: 'fc3-b', message: /not an HTTP trigger event/ });
  });

  it('through createHandler too (a timer event)', async () => {
    const rt = runtime();
    const result = await createHandler(echoJob, () => rt)(Buffer.from('{"triggerTime":"2026-11-20T08:00:00Z"}'), { requestId: 'fc3-c' });
    assert.equal(result.statusCode, 400);
    oneRefusal(rt.lines, { outcome: 'InvalidEvent', status: 400, requestId: 'fc3-c' });
  });

  it('a configuration that cannot be read: ConfigurationError, on stdout', async () => {
    const result = await createFc3Handler(echoJob, brokenConfig)(fixture('fc3/form-plain.json'), { requestId: 'fc3-d' });
    assert.equal(result.statusCode, 500);
    assert.equal(JSON.parse(result.body).error.code, 'ConfigurationError');
    const line = oneRefusal(stdout, { outcome: 'ConfigurationError', status: 500, requestId: 'fc3-d', message: /OSS_CALLBACK_PATH_MAP/ });
    assert.equal(line.level, 'error');
    assert.equal(line.objectCheck, undefined, 'unknown: the configuration is what failed');
  });

  it('OSS_CALLBACK_LOG=off keeps even that line out of stdout', async () => {
    process.env.OSS_CALLBACK_LOG = 'off';
    await createFc3Handler(echoJob, brokenConfig)(fixture('fc3/form-plain.json'), { requestId: 'fc3-e' });
    assert.deepEqual(stdout, []);
  });

  it('a request the pipeline answers (a refused signature) still has only the pipeline\'s line', async () => {
    const rt = runtime();
    const event = JSON.parse(fixture('fc3/form-plain.json').toString('utf8'));
    event.body = `${event.body}&x`;
    const result = await createFc3Handler(echoJob, () => rt)(event, { requestId: 'fc3-f' });
    assert.equal(result.statusCode, 401);
    oneRefusal(rt.lines, { outcome: 'SignatureInvalid', status: 401, requestId: 'fc3-f' });
    assert.deepEqual(stdout, []);
  });
});

describe('FC 2.0: refusals before the pipeline are logged once', () => {
  const fc2 = () => JSON.parse(fixture('fc2/http-request.json').toString('utf8'));

  it('a streamed body over CALLBACK_MAX_BODY_BYTES: BodyTooLarge, with the OSS request id', async () => {
    const rt = runtime({ maxBodyBytes: 1024 });
    const f = fc2();
    f.httpParams.headersMap['Content-Length'] = ['5000'];
    const resp = fc2Response();
    await createFc2Handler(echoJob, () => rt)(fc2Request(f.httpParams, Buffer.from('x'.repeat(5000)), { bodyInReq: false }), resp, f.context);
    assert.equal(resp.statusCode, 413);
    const line = oneRefusal(rt.lines, { outcome: 'BodyTooLarge', status: 413, requestId: f.context.requestId, message: /CALLBACK_MAX_BODY_BYTES=1024/ });
    assert.equal(line.ossRequestId, '673D9AA80E3F0F3334673EC5');
  });

  it('a configuration that cannot be read: ConfigurationError, on stdout', async () => {
    const f = fc2();
    const resp = fc2Response();
    await createFc2Handler(echoJob, brokenConfig)(fc2Request(f.httpParams, Buffer.from(f.body)), resp, f.context);
    assert.equal(resp.statusCode, 500);
    oneRefusal(stdout, { outcome: 'ConfigurationError', status: 500, requestId: f.context.requestId });
  });
});

describe('AWS Lambda: refusals before the pipeline are logged once', () => {
  const v2 = () => JSON.parse(fixture('aws/function-url.json').toString('utf8')) as APIGatewayProxyEventV2;
  const context = { awsRequestId: 'aws-r1' } as never;

  it('a payload 2.0 event without rawPath: InvalidEvent', async () => {
    const rt = runtime();
    const event = v2() as Partial<APIGatewayProxyEventV2>;
    delete event.rawPath;
    const result = await createAwsHandler(echoJob, () => rt)(event as APIGatewayProxyEventV2, context);
    assert.equal(result.statusCode, 400);
    oneRefusal(rt.lines, { outcome: 'InvalidEvent', status: 400, requestId: 'aws-r1', message: /rawPath/ });
  });

  it('a body over CALLBACK_MAX_BODY_BYTES (refused by the listener serverless-http drives): BodyTooLarge', async () => {
    const rt = runtime({ maxBodyBytes: 64 });
    const event = v2();
    event.body = Buffer.from('x'.repeat(500)).toString('base64');
    event.isBase64Encoded = true;
    const result = await createAwsHandler(echoJob, () => rt)(event, context);
    assert.equal(result.statusCode, 413);
    oneRefusal(rt.lines, { outcome: 'BodyTooLarge', status: 413, requestId: 'aws-r1' });
  });

  it('a configuration that cannot be read: ConfigurationError, on stdout', async () => {
    const result = await createAwsHandler(echoJob, brokenConfig)(v2(), context);
    assert.equal(result.statusCode, 500);
    oneRefusal(stdout, { outcome: 'ConfigurationError', status: 500, requestId: 'aws-r1' });
  });
});

/** Sends one request to a listener on a loopback port; `chunked` leaves Content-Length out. */
async function send(listener: RequestListener, body: Buffer, headers: Record<string, string> = {}, chunked = false, path = '/echo/cb') {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<{ status: number; json: any }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: { ...headers, ...(chunked ? {} : { 'content-length': String(body.length) }) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error)));
      if (chunked) {
        // A body that only grows past the limit while it is read.
        req.write(body.subarray(0, 10));
        setTimeout(() => req.end(body.subarray(10)), 20);
      } else req.end(body);
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('local server and node listener: refusals before the pipeline are logged once', () => {
  it('a declared and a streamed (chunked) body over the limit: BodyTooLarge', async () => {
    for (const chunked of [false, true]) {
      const rt = runtime({ maxBodyBytes: 100 });
      const r = await send(createNodeListener({ jobs: [echoJob], runtime: rt, checks: [] }), Buffer.alloc(5000, 'x'), { 'x-oss-request-id': 'OSS-1' }, chunked);
      assert.equal(r.status, 413);
      const line = oneRefusal(rt.lines, { outcome: 'BodyTooLarge', status: 413, requestId: r.json.error.requestId });
      assert.equal(line.ossRequestId, 'OSS-1');
    }
  });

  it('the custom-runtime server\'s listener: the FC request id; a configuration that cannot be read', async () => {
    const rt = runtime({ maxBodyBytes: 100 });
    const fcId = (req: { headers: Record<string, unknown> }) => ({ requestId: String(req.headers['x-fc-request-id']) });
    const big = await send(createJobListener(echoJob, () => rt, fcId), Buffer.alloc(500, 'x'), { 'x-fc-request-id': 'fc-custom-1' });
    assert.equal(big.status, 413);
    oneRefusal(rt.lines, { outcome: 'BodyTooLarge', status: 413, requestId: 'fc-custom-1' });
    const broken = await send(createJobListener(echoJob, brokenConfig, fcId), Buffer.from('a=1'), { 'x-fc-request-id': 'fc-custom-2' });
    assert.equal(broken.status, 500);
    oneRefusal(stdout, { outcome: 'ConfigurationError', status: 500, requestId: 'fc-custom-2' });
  });
});

describe('plain HTTP functions: the adapters\' refusals go to the function\'s log', () => {
  const echo = defineHttpFunction({ name: 'echo-http', maxBodyBytes: 32, handle: async () => jsonReply(200, {}) });

  it('an FC 3.0 event that is not JSON, a streamed body over its limit: one line each, named after the function', async () => {
    const result = await createHttpHandler(echo)('not json', { requestId: 'h-1' });
    assert.equal(result.statusCode, 400);
    oneRefusal(stdout, { outcome: 'InvalidEvent', status: 400, requestId: 'h-1', function: 'echo-http' });
    stdout.length = 0;
    const r = await send(createNodeListener({ jobs: [], http: [echo], runtime: runtime(), checks: [] }), Buffer.alloc(100, 'x'), {}, true, '/echo-http');
    assert.equal(r.status, 413);
    oneRefusal(stdout, { outcome: 'BodyTooLarge', status: 413, requestId: r.json.error.requestId, function: 'echo-http' });
  });
});

describe('refuse', () => {
  it('an adapter failure that is not a CallbackError: Internal, its stack in the one line and not in the reply', () => {
    const lines: Record<string, unknown>[] = [];
    const { error, response } = refuse({ logRefusal: (line) => lines.push(line) }, new Error('secret detail'), { requestId: 'r-9', started: performance.now() });
    assert.equal(error.code, 'Internal');
    assert.equal(response.status, 500);
    assert.doesNotMatch(response.body.toString(), /secret detail/);
    assert.equal(lines.length, 1);
    assert.deepEqual(Object.keys(lines[0]!), ['requestId', 'ossRequestId', 'outcome', 'message', 'error', 'status', 'durationMs']);
    assert.match(String(lines[0]!.error), /secret detail/);
  });
});
