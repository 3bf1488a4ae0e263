/**
 * The hand-off client against the local FC invoke API (shared/runtime/fc-api.ts), in-process: the real
 * @alicloud/fc2 client (FC 2.0 API) and our FC 3.0 API client, signatures checked as FC checks them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import FC from '@alicloud/fc2';
import { HandoffError, invokeAsync, type HandoffTarget } from '../../shared/handoff/index.js';
import { fc2ContentMd5, fc2Signature, fc2StringToSign } from '../../shared/handoff/fc2-signature.js';
import { invokeFc3 } from '../../shared/handoff/fc3-client.js';
import { createFcApi, type LocalFcContext, type LocalFunctionHandler } from '../../shared/runtime/fc-api.js';

const KEY = { accessKeyId: 'test-ak', accessKeySecret: 'test-secret' };
const received: { name: string; event: string; context: LocalFcContext }[] = [];
let waitFor: ((count: number) => Promise<void>) | undefined;
const api = createFcApi({
  functions: new Map<string, LocalFunctionHandler>([
    ['worker', (event: Buffer, context: LocalFcContext) => void received.push({ name: 'worker', event: event.toString(), context })],
    ['echo', (event: Buffer) => ({ echoed: JSON.parse(event.toString() || '{}') })],
    ['broken', () => Promise.reject(new TypeError('boom'))],
  ]),
  credentials: KEY,
  accountId: '1234567890',
  region: 'cn-test',
});
let server: Server;
let endpoint = '';

before(async () => {
  server = createServer((req, res) => {
    if (!api.handle(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  waitFor = async (count) => {
    for (let i = 0; i < 100 && received.length < count; i++) await api.idle().then(() => new Promise((r) => setTimeout(r, 5)));
  };
});
after(() => server.close());

function client(overrides: Partial<ConstructorParameters<typeof FC>[1]> = {}) {
  return new FC('1234567890', { accessKeyID: KEY.accessKeyId, accessKeySecret: KEY.accessKeySecret, region: 'cn-test', endpoint, timeout: 2000, ...overrides });
}

async function fails(promise: Promise<unknown>, pattern: RegExp): Promise<Error> {
  const error = await promise.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e as Error,
  );
  assert.match(`${error.name}: ${error.message}`, pattern);
  return error;
}

describe('local FC API, FC 2.0 paths, with the real @alicloud/fc2 client', () => {
  it('answers an async invocation with 202 and a request id, then runs the function with an FC context', async () => {
    const before = received.length;
    const response = await client().invokeFunction('any-service', 'worker', '{"n":1}', { 'x-fc-invocation-type': 'Async' }, 'LATEST');
    assert.match(String(response.headers['x-fc-request-id']), /^1-[0-9a-f]+-[0-9a-f]+$/);
    await waitFor!(before + 1);
    const call = received[before]!;
    assert.equal(call.event, '{"n":1}');
    assert.equal(call.context.requestId, response.headers['x-fc-request-id']);
    assert.deepEqual(call.context.credentials, KEY);
    assert.deepEqual(call.context.service, { name: 'any-service', qualifier: 'LATEST' });
    assert.equal(call.context.function.name, 'worker');
    assert.equal(call.context.region, 'cn-test');
  });

  it('answers a synchronous invocation with the result, and an unhandled error like FC', async () => {
    const ok = await client().invokeFunction('svc', 'echo', '{"a":[1,2]}');
    assert.deepEqual(ok.data, { echoed: { a: [1, 2] } });
    const broken = await client().invokeFunction('svc', 'broken', '{}');
    assert.equal(broken.headers['x-fc-error-type'], 'UnhandledInvocationError');
    assert.equal((broken.data as { errorMessage: string }).errorMessage, 'boom');
  });

  it('refuses a wrong secret, an unknown key, a skewed date and an unknown function, with FC error codes', async () => {
    const wrong = await fails(client({ accessKeySecret: 'nope' }).invokeFunction('svc', 'worker', '{}', { 'x-fc-invocation-type': 'Async' }), /FCSignatureNotMatchError/);
    assert.match(wrong.message, /failed with 403/);
    await fails(client({ accessKeyID: 'other' }).invokeFunction('svc', 'echo', '{}'), /FCInvalidAccessKeyIdError/);
    await fails(client({ headers: { date: new Date(Date.now() - 20 * 60_000).toUTCString() } }).invokeFunction('svc', 'echo', '{}'), /FCRequestTimeTooSkewedError/);
    await fails(client().invokeFunction('svc', 'missing', '{}'), /FCFunctionNotFoundError: .*no local function "missing"/);
  });

  it('checks the Content-MD5 the way the client computes it (base64 of the hex md5)', async () => {
    const send = async (body: string, contentMd5: string) => {
      const path = '/2016-08-15/services/svc/functions/echo/invocations';
      const headers: Record<string, string> = { date: new Date().toUTCString(), 'content-type': 'application/octet-stream', 'content-md5': contentMd5, 'x-fc-account-id': '1' };
      headers.authorization = `FC ${KEY.accessKeyId}:${fc2Signature(KEY.accessKeySecret, fc2StringToSign('POST', path, headers))}`;
      const response = await fetch(`${endpoint}${path}`, { method: 'POST', headers, body });
      return { status: response.status, body: (await response.json()) as { ErrorCode?: string; echoed?: unknown } };
    };
    assert.deepEqual(await send('{"a":1}', fc2ContentMd5('{"a":1}')), { status: 200, body: { echoed: { a: 1 } } });
    const swapped = await send('{"a":2}', fc2ContentMd5('{"a":1}'));
    assert.equal(swapped.status, 400);
    assert.equal(swapped.body.ErrorCode, 'InvalidArgument');
    const standard = await send('{"a":1}', createHash('md5').update('{"a":1}').digest('base64'));
    assert.equal(standard.status, 400, 'the base64 of the raw digest is not what the FC 2.0 client sends');
  });

  it('needs the security token of an STS key pair', async () => {
    const sts = { accessKeyId: 'STS.test', accessKeySecret: 'sts-secret', securityToken: 'token-1' };
    const stsApi = createFcApi({ functions: new Map([['echo', () => 'ok']]), credentials: sts, accountId: '1', region: 'r' });
    const stsServer = createServer((req, res) => void stsApi.handle(req, res));
    await new Promise<void>((resolve) => stsServer.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(stsServer.address() as AddressInfo).port}`;
    try {
      const good = new FC('1', { accessKeyID: sts.accessKeyId, accessKeySecret: sts.accessKeySecret, securityToken: 'token-1', region: 'r', endpoint: url });
      assert.equal((await good.invokeFunction('s', 'echo', 'x')).data, 'ok');
      const bad = new FC('1', { accessKeyID: sts.accessKeyId, accessKeySecret: sts.accessKeySecret, securityToken: 'token-2', region: 'r', endpoint: url });
      await fails(bad.invokeFunction('s', 'echo', 'x'), /FCInvalidSecurityTokenError/);
    } finally {
      stsServer.close();
    }
  });
});

describe('local FC API, FC 3.0 paths, with the ACS3-signed client', () => {
  const options = (overrides: Partial<Parameters<typeof invokeFc3>[0]> = {}) => ({
    endpoint,
    functionName: 'worker',
    credentials: KEY,
    body: Buffer.from('{"v":3}'),
    timeoutMs: 2000,
    ...overrides,
  });

  it('queues an async invocation (202) and runs the function', async () => {
    const before = received.length;
    const result = await invokeFc3(options({ qualifier: 'prod' }));
    assert.equal(result.status, 202);
    await waitFor!(before + 1);
    assert.equal(received[before]!.event, '{"v":3}');
    assert.deepEqual(received[before]!.context.service, { qualifier: 'prod' });
  });

  it('answers a synchronous invocation with the result', async () => {
    const result = await invokeFc3(options({ functionName: 'echo', invocationType: 'Sync' }));
    assert.deepEqual(JSON.parse(result.body.toString()), { echoed: { v: 3 } });
  });

  it('refuses a wrong secret and an unknown key', async () => {
    await fails(invokeFc3(options({ credentials: { ...KEY, accessKeySecret: 'nope' } })), /failed with 400 .*SignatureDoesNotMatch/);
    await fails(invokeFc3(options({ credentials: { ...KEY, accessKeyId: 'x' } })), /failed with 404 .*InvalidAccessKeyId.NotFound/);
    await fails(invokeFc3(options({ functionName: 'missing' })), /failed with 404 .*FunctionNotFound/);
  });
});

describe('invokeAsync (the hand-off)', () => {
  const platform = { credentials: KEY, accountId: '1234567890', region: 'cn-test' };
  const target = (api: 'fc2' | 'fc3', overrides: Partial<HandoffTarget> = {}): HandoffTarget => ({
    api,
    functionName: 'worker',
    serviceName: 'media',
    endpoint,
    timeoutMs: 2000,
    ...overrides,
  });

  it('hands a JSON event off through either API, with the credentials of the FC context', async () => {
    for (const api of ['fc2', 'fc3'] as const) {
      const before = received.length;
      const result = await invokeAsync(target(api), { jobId: api }, platform, { env: {} });
      assert.equal(result.api, api);
      assert.match(String(result.requestId), /^1-/);
      await waitFor!(before + 1);
      assert.deepEqual(JSON.parse(received[before]!.event), { jobId: api });
    }
  });

  it('falls back to ALIBABA_CLOUD_* and FC_ACCOUNT_ID / FC_REGION from the environment', async () => {
    const env = { ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret, FC_ACCOUNT_ID: '1', FC_REGION: 'r' };
    assert.equal((await invokeAsync(target('fc3'), { jobId: 'env' }, {}, { env })).api, 'fc3');
  });

  it('says what is missing when it cannot sign, and wraps FC refusals and unreachable endpoints', async () => {
    const none = await fails(invokeAsync(target('fc2'), {}, {}, { env: {} }), /HandoffError: cannot invoke worker: no credentials .*, no the account id \(FC_ACCOUNT_ID\), no the region \(FC_REGION\)/);
    assert.equal((none as HandoffError).code, 'HandoffNotConfigured');
    const refused = await fails(
      invokeAsync(target('fc2'), {}, { ...platform, credentials: { ...KEY, accessKeySecret: 'x' } }, { env: {} }),
      /async invocation of media\/worker \(FC 2.0 API, http:\/\/127.0.0.1:\d+\) failed: .*SignatureNotMatch|failed with 403/,
    );
    assert.equal((refused as HandoffError).code, 'HandoffFailed');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    for (const api of ['fc2', 'fc3'] as const) {
      const error = await fails(invokeAsync(target(api, { endpoint: `http://127.0.0.1:${port}` }), {}, platform, { env: {} }), /ECONNREFUSED/);
      assert.equal((error as HandoffError).code, 'HandoffFailed');
    }
  });

  it('gives up when the caller aborts (the callback deadline)', async () => {
    const hanging = createServer(() => {}); // accepts, never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('deadline')), 50);
      const started = Date.now();
      await fails(invokeAsync(target('fc2', { endpoint: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}` }), {}, platform, { env: {}, signal: controller.signal }), /deadline/);
      assert.ok(Date.now() - started < 1500);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });
});

describe('local FC API limits', () => {
  it('refuses an async event over 128 KB, like FC, and answers 404 for other API paths', async () => {
    const big = await fails(client().invokeFunction('svc', 'worker', 'x'.repeat(129 * 1024), { 'x-fc-invocation-type': 'Async' }), /FCPayloadTooLargeError|failed with 413/);
    assert.match(big.message, /413/);
    const other = await fetch(`${endpoint}/2016-08-15/services`, { method: 'POST', body: '{}' });
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { ErrorCode: string }).ErrorCode, 'PathNotSupported');
  });
});
