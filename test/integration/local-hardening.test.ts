/**
 * The local server's defences, through its public contract (real sockets against createNodeListener
 * and the local FC invoke API, and the callback handler): the Host check (DNS rebinding), body caps
 * and the body-read timeout (slow-body clients), authentication before the FC API reads a body,
 * the FC 2.0 signature binding the body (Content-MD5) and its replay window, and the key-path
 * budget that strangers cannot use up.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import { handleCallback } from '../../shared/core/pipeline.js';
import { acs3Authorization, sha256Hex } from '../../shared/handoff/acs3.js';
import { fc2ContentMd5, fc2Signature, fc2StringToSign } from '../../shared/handoff/fc2-signature.js';
import { createKeyResolver } from '../../shared/protocol/index.js';
import { createFcApi } from '../../shared/runtime/fc-api.js';
import { allowedHostsFor, isLoopbackHost } from '../../shared/runtime/host-check.js';
import { createNodeListener } from '../../shared/runtime/node.js';
import type { Store } from '../../shared/store/types.js';
import { DEV_KEY_URL, DEV_TRUSTED_KEYS, signedRequest, testRuntime, uploadValues } from '../helpers/callbacks.js';
import { callbackBody, reqId } from './jobs-helpers.js';

const KEY = { accessKeyId: 'test-ak', accessKeySecret: 'test-secret' };
const FC2_PATH = '/2016-08-15/services/svc/functions/echo/invocations';
const FC3_PATH = '/2023-03-30/functions/echo/invocations';

const runtime = testRuntime({ bodyTimeoutMs: 200, maxBodyBytes: 4096 }, { storeFor: async () => ({}) as Store });
const api = createFcApi({ functions: new Map([['echo', (event: Buffer) => ({ echoed: event.toString() })]]), credentials: KEY, accountId: '1', region: 'r', bodyTimeoutMs: 200, maxBodyBytes: 64 * 1024 });
const callbacks = createNodeListener({ jobs: [recordUpload], runtime, allowedHosts: allowedHostsFor('127.0.0.1', 'devbox.lan') });
let server: Server;
let port = 0;

before(async () => {
  server = createServer((req, res) => {
    if (!api.handle(req, res)) callbacks(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  json: any;
}

/** One request with exactly these headers (Host included), over a fresh connection. */
function send(method: string, path: string, headers: Record<string, string>, payload?: Buffer | string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Writes `head` (a request line and headers, CRLF-terminated) and `partial` on a raw socket and then
 * stalls; resolves with everything the server sent and whether it closed the connection.
 */
function stall(head: string, partial: string): Promise<{ response: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    socket.on('data', (chunk) => (response += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve({ response, closed: true }));
    socket.write(`${head}\r\n${partial}`);
  });
}

const jsonOf = (response: string): any => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);

describe('Host check (DNS rebinding)', () => {
  for (const host of ['127.0.0.1:9000', '127.0.0.1', 'localhost', `localhost:${9000}`, '[::1]:9000', '[::1]', 'LOCALHOST:1', 'devbox.lan:8080']) {
    it(`answers Host ${host}`, async () => {
      const reply = await send('GET', '/healthz', { host });
      assert.equal(reply.status, 200);
      assert.equal(reply.json.status, 'ok');
    });
  }
  for (const host of ['evil.example', 'evil.example:9000', '127.0.0.1.nip.io:9000', 'localhost.', '0.0.0.0:9000', 'localhost:9000:1', 'localhost:x', '[::1', '']) {
    it(`refuses Host ${JSON.stringify(host)} with 421 HostNotAllowed, callbacks and FC API alike`, async () => {
      const reply = await send('POST', '/record-upload', { host, 'content-type': 'application/x-www-form-urlencoded' }, 'bucket=x');
      assert.equal(reply.status, 421);
      assert.equal(reply.json.error.code, 'HostNotAllowed');
      assert.match(reply.json.error.message, /LOCAL_ALLOWED_HOSTS/);
      const fc = await send('POST', FC2_PATH, { host }, '{}');
      assert.equal(fc.status, 421);
      assert.equal(fc.json.ErrorCode, 'HostNotAllowed');
    });
  }
  it('knows loopback HOST values, and adds a specific HOST (not a wildcard) to the names', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '192.168.1.5', 'devbox.lan']) assert.equal(isLoopbackHost(host), false, host);
    assert.deepEqual(allowedHostsFor('0.0.0.0', undefined).filter(Boolean), ['localhost', '127.0.0.1', '[::1]']);
    assert.deepEqual(allowedHostsFor('::', undefined).filter(Boolean), ['localhost', '127.0.0.1', '[::1]']);
    assert.deepEqual(allowedHostsFor('192.168.1.5', 'a.lan, b.lan').map((s) => s.trim()), ['localhost', '127.0.0.1', '[::1]', '192.168.1.5', 'a.lan', 'b.lan']);
    assert.deepEqual(allowedHostsFor('fe80::1', undefined).filter(Boolean), ['localhost', '127.0.0.1', '[::1]', '[fe80::1]']);
  });
});

describe('callback body limits', () => {
  it('a client that sends its headers and then stalls the body gets 408 BodyTimeout, and the connection is closed', async () => {
    const { response, closed } = await stall(
      'POST /record-upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n',
      'bucket=exam',
    );
    assert.equal(statusOf(response), 408, response);
    assert.equal(jsonOf(response).error.code, 'BodyTimeout');
    assert.match(jsonOf(response).error.message, /CALLBACK_BODY_TIMEOUT_MS=200/);
    assert.match(response, /connection: close/i);
    assert.ok(closed);
  });
  it('a declared body over CALLBACK_MAX_BODY_BYTES is refused (413 BodyTooLarge) before it is sent', async () => {
    const { response, closed } = await stall(
      'POST /record-upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n',
      '',
    );
    assert.equal(statusOf(response), 413, response);
    assert.equal(jsonOf(response).error.code, 'BodyTooLarge');
    assert.ok(closed);
  });
});

function fc2Headers(payload: string | undefined, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = { host: `127.0.0.1:${port}`, date: new Date().toUTCString(), 'content-type': 'application/octet-stream', 'x-fc-account-id': '1' };
  if (payload !== undefined) {
    headers['content-md5'] = fc2ContentMd5(payload);
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  Object.assign(headers, overrides);
  for (const [name, value] of Object.entries(headers)) if (value === undefined) delete headers[name];
  headers.authorization = `FC ${KEY.accessKeyId}:${fc2Signature(KEY.accessKeySecret, fc2StringToSign('POST', FC2_PATH, headers))}`;
  return headers as Record<string, string>;
}

function fc3Headers(payload: string, overrides: Record<string, string> = {}, hashed = sha256Hex(payload)): Record<string, string> {
  const headers: Record<string, string> = {
    host: `127.0.0.1:${port}`,
    'content-type': 'application/octet-stream',
    'x-acs-action': 'InvokeFunction',
    'x-acs-version': '2023-03-30',
    'x-acs-date': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'x-acs-signature-nonce': createHash('sha256').update(String(Math.random())).digest('hex'),
    'x-acs-content-sha256': hashed,
    ...overrides,
  };
  headers.authorization = acs3Authorization({ method: 'POST', pathname: FC3_PATH, query: {}, headers }, hashed, KEY.accessKeyId, KEY.accessKeySecret);
  return headers;
}

describe('local FC invoke API', () => {
  it('control: a signed FC 2.0 and FC 3.0 invocation runs', async () => {
    const two = await send('POST', FC2_PATH, fc2Headers('{"a":1}'), '{"a":1}');
    assert.equal(two.status, 200, JSON.stringify(two.json));
    assert.deepEqual(two.json, { echoed: '{"a":1}' });
    const three = await send('POST', FC3_PATH, fc3Headers('{"b":2}'), '{"b":2}');
    assert.equal(three.status, 200, JSON.stringify(three.json));
    assert.deepEqual(three.json, { echoed: '{"b":2}' });
  });

  it('authenticates on the headers before reading a body: a stranger announcing 10 MB is refused without sending it', async () => {
    const { response, closed } = await stall(`POST ${FC2_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nDate: ${new Date().toUTCString()}\r\nAuthorization: FC test-ak:AAAA\r\nContent-Length: 10000000\r\n`, '');
    assert.equal(statusOf(response), 403, response);
    assert.equal(jsonOf(response).ErrorCode, 'SignatureNotMatch');
    assert.ok(closed);
    const v3 = await stall(`POST ${FC3_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n`, '');
    assert.equal(statusOf(v3.response), 400, v3.response);
    assert.equal(jsonOf(v3.response).Code, 'IncompleteSignature');
  });

  it('caps the body: a signed request declaring more than the limit is 413 PayloadTooLarge, unread', async () => {
    const headers = fc2Headers(undefined, { 'content-md5': fc2ContentMd5('x'), 'content-length': String(65 * 1024) });
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const { response, closed } = await stall(`POST ${FC2_PATH} HTTP/1.1\r\n${head}`, '');
    assert.equal(statusOf(response), 413, response);
    assert.equal(jsonOf(response).ErrorCode, 'PayloadTooLarge');
    assert.ok(closed);
  });

  it('a signed request whose body stalls gets 408 RequestTimeout and the connection is closed', async () => {
    const payload = '{"slow":true}';
    const head = Object.entries(fc2Headers(payload)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const { response, closed } = await stall(`POST ${FC2_PATH} HTTP/1.1\r\n${head}`, payload.slice(0, 4));
    assert.equal(statusOf(response), 408, response);
    assert.equal(jsonOf(response).ErrorCode, 'RequestTimeout');
    assert.ok(closed);
  });

  it('FC 2.0: a body needs a Content-MD5 (it binds the body to the signature), and it must match', async () => {
    const missing = await send('POST', FC2_PATH, fc2Headers(undefined, { 'content-length': '7' }), '{"a":1}');
    assert.equal(missing.status, 400);
    assert.equal(missing.json.ErrorCode, 'InvalidArgument');
    assert.match(missing.json.ErrorMessage, /must send Content-MD5/);
    // The captured headers of a signed request, with another body: refused.
    const captured = fc2Headers('{"amount":1}');
    const swapped = await send('POST', FC2_PATH, captured, '{"amount":9}');
    assert.equal(swapped.status, 400);
    assert.match(swapped.json.ErrorMessage, /Content-MD5 .*does not match the body/);
    const chunked = fc2Headers(undefined, { 'transfer-encoding': 'chunked' });
    const noMd5Chunked = await send('POST', FC2_PATH, chunked, '{"a":1}');
    assert.equal(noMd5Chunked.status, 400, 'a chunked body without Content-MD5 is refused too');
    const empty = await send('POST', FC2_PATH, fc2Headers(undefined, { 'content-length': '0' }), '');
    assert.equal(empty.status, 200, 'no body, no Content-MD5 needed');
  });

  it('FC 2.0: a Date outside ±15 minutes is RequestTimeTooSkewed (a captured request cannot be replayed later)', async () => {
    for (const offset of [-16 * 60_000, 16 * 60_000]) {
      const reply = await send('POST', FC2_PATH, fc2Headers('{}', { date: new Date(Date.now() + offset).toUTCString() }), '{}');
      assert.equal(reply.status, 403);
      assert.equal(reply.json.ErrorCode, 'RequestTimeTooSkewed');
    }
    const ok = await send('POST', FC2_PATH, fc2Headers('{}', { date: new Date(Date.now() - 10 * 60_000).toUTCString() }), '{}');
    assert.equal(ok.status, 200);
  });

  it('FC 3.0: the signed x-acs-content-sha256 binds the body, x-acs-date has a window, a nonce is used once', async () => {
    const swapped = await send('POST', FC3_PATH, fc3Headers('{"amount":1}'), '{"amount":9}');
    assert.equal(swapped.status, 400);
    assert.equal(swapped.json.Code, 'ContentSHA256Mismatch');
    const stale = await send('POST', FC3_PATH, fc3Headers('{}', { 'x-acs-date': new Date(Date.now() - 16 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z') }), '{}');
    assert.equal(stale.status, 400);
    assert.equal(stale.json.Code, 'InvalidTimeStamp.Expired');
    const headers = fc3Headers('{}');
    assert.equal((await send('POST', FC3_PATH, headers, '{}')).status, 200);
    const replay = await send('POST', FC3_PATH, headers, '{}');
    assert.equal(replay.json.Code, 'SignatureNonceUsed');
  });
});

describe('key-path budget, through the handler', () => {
  it('callbacks naming invented key paths do not stop a real new OSS key path from being fetched and verified', async () => {
    const fetched: string[] = [];
    const realUrl = 'https://gosspublic.alicdn.com/callback_pub_key_v2.pem';
    const keys = createKeyResolver({
      trustedKeys: DEV_TRUSTED_KEYS,
      fetchPem: async (url) => {
        fetched.push(url);
        // OSS "publishes" v2 (here: the development key); every other path is a 404.
        if (url === realUrl) return DEV_TRUSTED_KEYS[DEV_KEY_URL]!;
        throw new Error('HTTP status 404');
      },
    });
    const handler = testRuntime({}, { keys });
    const form = callbackBody(recordUpload, uploadValues({ reqId: reqId() }));
    // A stranger names 200 invented key paths (any text, and every version number but the real one).
    const invented = [...Array.from({ length: 100 }, (_, i) => `https://gosspublic.alicdn.com/callback_pub_key_${i}x.pem`), ...Array.from({ length: 97 }, (_, i) => `https://gosspublic.alicdn.com/callback_pub_key_v${i + 3}.pem`)];
    for (const keyUrl of invented) {
      const reply = await handleCallback(recordUpload, signedRequest(form, { keyUrl }), handler);
      assert.ok(reply.status === 403 || reply.status === 502, `${keyUrl}: ${reply.status}`);
    }
    assert.equal(fetched.length, 97, 'names outside OSS key naming are never fetched; each invented version once');
    const real = await handleCallback(recordUpload, signedRequest(form, { keyUrl: realUrl }), handler);
    assert.equal(real.status, 200, real.body.toString());
    assert.equal(fetched.at(-1), realUrl);
  });
});
