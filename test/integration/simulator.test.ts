/**
 * The callback simulator (shared/testing/simulator/), in process: parameter checks with OSS's
 * wording, body filling, object facts, the request it sends, how it judges replies — against
 * deliberately broken servers, one per documented failure — and ali-oss as a real client producing
 * the callback headers the simulator consumes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKeyResolver, verifyCallbackSignature } from '../../shared/protocol/index.js';
import { createNodeListener } from '../../shared/runtime/node.js';
import type { Store } from '../../shared/store/types.js';
import { echoJob } from '../../shared/testing/platforms.js';
import {
  crc64,
  fillBody,
  imageInfo,
  InvalidArgument,
  mimeTypeFor,
  multipartEtag,
  objectFacts,
  parseCallback,
  parseCallbackVar,
  simulateUpload,
  type UploadInput,
  type UploadResult,
} from '../../shared/testing/simulator/index.js';
import { DEV_TRUSTED_KEYS, testRuntime } from '../helpers/callbacks.js';

/** ali-oss ships no types: the part of its client this test uses. */
interface AliOssClient {
  put(name: string, file: string, options: { callback: { url: string; body: string; contentType?: string; customValue?: Record<string, string> } }): Promise<{ data: unknown }>;
}
const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => AliOssClient;

const FIXTURES = new URL('../fixtures/simulator/', import.meta.url).pathname;
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64');

// ------------------------------------------------------------------------------------ servers

interface Listening {
  url: string;
  close(): Promise<void>;
}

/** A tiny node:http server. */
async function httpServer(handler: (req: IncomingMessage, body: Buffer, res: import('node:http').ServerResponse) => void): Promise<Listening> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A raw TCP server answering every request with exactly `response` (or never, when null). */
async function rawServer(response: string | Buffer | null): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => {
      if (response !== null) socket.end(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const s = await rawServer(null);
  await s.close();
  return s.url;
}

function upload(callback: object, extra: Partial<UploadInput> = {}): Promise<UploadResult> {
  return simulateUpload({
    callback: b64(callback),
    object: { bucket: 'examplebucket', key: 'docs/a b.txt', size: 12, mimeType: 'text/plain' },
    timeoutMs: 2000,
    ...extra,
  });
}

// ------------------------------------------------------------------------------------ parameters

describe('callback parameters, checked as OSS checks them', () => {
  const refused = (value: string, message: RegExp | string, ec?: string) => {
    assert.throws(
      () => parseCallback(value),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgument, String(error));
        if (typeof message === 'string') assert.equal(error.message, message);
        else assert.match(error.message, message);
        assert.equal(error.ec, ec);
        return true;
      },
    );
  };
  const ok = { callbackUrl: 'http://127.0.0.1:9000/cb', callbackBody: 'bucket=${bucket}' };

  it('base64 as SDKs send it and plain JSON are the same parameters', () => {
    assert.deepEqual(parseCallback(b64(ok)).json, parseCallback(JSON.stringify(ok)).json);
    assert.equal(parseCallback(b64(ok)).callbackBodyType, 'application/x-www-form-urlencoded');
  });

  it('not base64, or not a JSON object: OSS’s own message', () => {
    refused('not base64 at all!', 'The callback configuration is not json format.', '0007-00000003');
    refused(b64('{"callbackUrl": "x", '), 'The callback configuration is not json format.', '0007-00000003');
    refused(b64('["an array"]'), 'The callback configuration is not json format.', '0007-00000003');
  });

  it('longer than 5 KB (as sent, base64)', () => {
    refused(b64({ ...ok, callbackBody: `a=${'x'.repeat(4000)}` }), /at most 5 KB/, '0007-00000001');
  });

  it('at most 5 URLs; ports are numbers', () => {
    const six = Array.from({ length: 6 }, (_, i) => `http://example.com/${i}`).join(';');
    refused(b64({ ...ok, callbackUrl: six }), /6 URLs; OSS allows at most 5/, '0007-00000005');
    assert.equal(parseCallback(b64({ ...ok, callbackUrl: `${six.split(';').slice(0, 5).join(';')};` })).urls.length, 5, 'a trailing ; is fine');
    refused(b64({ ...ok, callbackUrl: '10.101.166.30:test/x' }), /port/, '0007-00000004');
  });

  it('callbackBody: present, a string, well-formed ${…}', () => {
    refused(b64({ callbackUrl: ok.callbackUrl, callbackBody: '' }), /callbackBody is missing or empty/, '0007-00000011');
    refused(b64({ callbackUrl: ok.callbackUrl, callbackBody: 42 }), /must be a JSON string/);
    refused(b64({ ...ok, callbackBody: 'size=${size}&my_var=$x:my_var}' }), 'Left brace must be adjacent to dollar sign.', '0007-00000105');
    refused(b64({ ...ok, callbackBody: 'bucket=${bucket' }), /no closing "}"/);
    refused(b64({ ...ok, callbackBody: 'a=${}' }), /empty variable/);
  });

  it('callbackBodyType: one of the two, as a string; callbackSNI: a boolean', () => {
    refused(b64({ ...ok, callbackBodyType: 1 }), /must be a string/, '0007-00000012');
    refused(b64({ ...ok, callbackBodyType: 'text/plain' }), /neither application\/x-www-form-urlencoded nor application\/json/);
    refused(b64({ ...ok, callbackSNI: 'yes' }), /callbackSNI must be true or false/);
  });

  it('URLs: no scheme means http; an unencoded URL is encoded for the wire, with a warning', () => {
    const params = parseCallback(b64({ ...ok, callbackUrl: '121.43.113.8:23456/index.html;https://example.com/中文 cb?k=中文&x=1' }));
    assert.deepEqual(params.urls.map((u) => [u.protocol, u.hostname, u.port, u.rawPath, u.rawQuery]), [
      ['http:', '121.43.113.8', 23456, '/index.html', null],
      ['https:', 'example.com', 443, '/%E4%B8%AD%E6%96%87%20cb', 'k=%E4%B8%AD%E6%96%87&x=1'],
    ]);
    assert.ok(params.warnings.some((w) => /not URL-encoded/.test(w)));
  });

  it('callback-var: a flat object of lower-case x: keys to strings', () => {
    assert.deepEqual(parseCallbackVar(b64({ 'x:owner': 'alice', 'x:键值1': 'v' })), { 'x:owner': 'alice', 'x:键值1': 'v' });
    assert.throws(() => parseCallbackVar(b64({ owner: 'alice' })), /must start with "x:"/);
    assert.throws(() => parseCallbackVar(b64({ 'x:userId': '1' })), /must be lower case/);
    assert.throws(() => parseCallbackVar(b64({ 'x:a': { b: 'c' } })), /not a string/);
    assert.throws(() => parseCallbackVar('%%%'), /not base64 of a JSON object/);
    assert.throws(() => parseCallbackVar(b64({ 'x:a': 'y'.repeat(4000) })), /at most 5 KB/);
  });

  it('a refused upload is a 400 InvalidArgument XML for the uploader, and nothing is sent', async () => {
    const result = await upload({ ...ok, callbackBody: 'a=$x}' });
    assert.equal(result.outcome, 'invalid-argument');
    assert.equal(result.uploader.status, 400);
    assert.match(result.uploader.body, /<Code>InvalidArgument<\/Code>\n {2}<Message>Left brace must be adjacent to dollar sign.<\/Message>/);
    assert.match(result.uploader.body, /<EC>0007-00000105<\/EC>/);
    assert.equal(result.attempts.length, 0);
  });
});

// ------------------------------------------------------------------------------------ bodies

describe('the body OSS builds (§5)', () => {
  const values = { bucket: 'examplebucket', object: 'a/中 b+c.txt', size: 12, mimeType: 'text/plain', 'imageInfo.width': '', 'imageInfo.height': '', 'imageInfo.format': '' };

  it('form: values URL-encoded, literal text as it is, empty image fields for a non-image', () => {
    const template = 'bucket=${bucket}&object=${object}&size=${size}&w=${imageInfo.width}&x:k=${x:k}';
    assert.equal(fillBody(template, 'form', { ...values, 'x:k': 'v/1' }, ['bucket', 'object', 'size', 'imageInfo.width', 'x:k']), 'bucket=examplebucket&object=a%2F%E4%B8%AD%20b%2Bc.txt&size=12&w=&x:k=v%2F1');
  });

  it('JSON: strings quoted, size and image dimensions bare (empty for a non-image, as OSS: invalid JSON)', () => {
    const template = '{"object":${object},"size":${size},"w":${imageInfo.width},"x":${x:k}}';
    assert.equal(fillBody(template, 'json', { ...values, 'x:k': 'say "hi"' }, ['object', 'size', 'imageInfo.width', 'x:k']), '{"object":"a/中 b+c.txt","size":12,"w":,"x":"say \\"hi\\""}');
  });

  it('an unknown variable stays literal; a custom one nobody supplied is empty', () => {
    assert.equal(fillBody('m=${mimetype}&o=${x:owner}', 'form', values, ['mimetype', 'x:owner']), 'm=${mimetype}&o=');
  });
});

// ------------------------------------------------------------------------------------ object facts

describe('object facts', () => {
  it('CRC-64/ECMA as OSS reports it (the CRC-64/XZ check value)', () => {
    assert.equal(crc64(Buffer.from('123456789')), '11051210869376104954');
    assert.equal(crc64(Buffer.alloc(0)), '0');
    assert.equal(crc64(Buffer.from('a')), '3675645893302102789');
  });

  it('image info from the file header: PNG, JPEG (baseline, progressive), GIF, WebP (lossy, lossless, extended)', () => {
    const expected: Record<string, [number, number, string]> = {
      'pixel-3x2.png': [3, 2, 'png'],
      'pixel-5x4.jpg': [5, 4, 'jpg'],
      'pixel-6x3-progressive.jpg': [6, 3, 'jpg'],
      'pixel-7x3.gif': [7, 3, 'gif'],
      'pixel-9x6-lossy.webp': [9, 6, 'webp'],
      'pixel-10x7-lossless.webp': [10, 7, 'webp'],
      'pixel-11x5-alpha.webp': [11, 5, 'webp'],
    };
    const files = readdirSync(FIXTURES).filter((f) => /\.(png|jpg|gif|webp)$/.test(f));
    assert.deepEqual(files.sort(), Object.keys(expected).sort());
    for (const [file, [width, height, format]] of Object.entries(expected)) {
      assert.deepEqual(imageInfo(readFileSync(join(FIXTURES, file))), { width, height, format }, file);
    }
    assert.equal(imageInfo(Buffer.from('just text')), undefined);
    assert.equal(imageInfo(readFileSync(join(FIXTURES, 'pixel-3x2.png')).subarray(0, 12)), undefined, 'a truncated header');
  });

  it('from a file: size, upper-case MD5 ETag, Content-MD5, CRC-64, MIME type by extension', async () => {
    const file = join(FIXTURES, 'pixel-5x4.jpg');
    const bytes = readFileSync(file);
    const facts = await objectFacts({ bucket: 'b', file });
    assert.equal(facts.key, 'pixel-5x4.jpg');
    assert.equal(facts.size, bytes.length);
    assert.equal(facts.etag, createHash('md5').update(bytes).digest('hex').toUpperCase());
    assert.equal(facts.contentMd5, createHash('md5').update(bytes).digest('base64'));
    assert.equal(facts.crc64, crc64(bytes));
    assert.equal(facts.mimeType, 'image/jpeg');
    assert.deepEqual(facts.image, { width: 5, height: 4, format: 'jpg' });
  });

  it('CompleteMultipartUpload: <MD5 of the part MD5s>-<parts>, no Content-MD5', async () => {
    const file = join(tmpdir(), `oss-sim-${process.pid}.bin`);
    const bytes = Buffer.alloc(2500, 7);
    writeFileSync(file, bytes);
    const facts = await objectFacts({ bucket: 'b', file, operation: 'CompleteMultipartUpload', partSize: 1000 });
    const parts = [bytes.subarray(0, 1000), bytes.subarray(1000, 2000), bytes.subarray(2000)].map((p) => createHash('md5').update(p).digest());
    assert.equal(facts.etag, multipartEtag(parts));
    assert.match(facts.etag, /^[0-9A-F]{32}-3$/);
    assert.equal(facts.contentMd5, '');
  });

  it('declared objects and MIME types', async () => {
    const facts = await objectFacts({ bucket: 'b', key: 'x/report.PDF', size: 99 });
    assert.equal(facts.size, 99);
    assert.equal(facts.mimeType, 'application/pdf');
    assert.match(facts.etag, /^[0-9A-F]{32}$/);
    assert.equal(Buffer.from(facts.contentMd5, 'base64').toString('hex').toUpperCase(), facts.etag);
    assert.equal(mimeTypeFor('noext'), 'application/octet-stream');
    assert.equal(mimeTypeFor('a.webp'), 'image/webp');
  });
});

// ------------------------------------------------------------------------------------ the request

describe('the callback request (§6, §7)', () => {
  let seen: { url: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];
  let capture: Listening;
  before(async () => {
    capture = await httpServer((req, body, res) => {
      seen.push({ url: req.url!, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' });
      res.end('{"ok":true}');
    });
  });
  after(() => capture.close());

  it('sends OSS’s headers, Host from callbackHost, signed over the path, query and body', async () => {
    seen = [];
    const result = await upload(
      { callbackUrl: `${capture.url}/cb/%E4%B8%AD?a=1&b=x%20y`, callbackHost: 'callbacks.example.com', callbackBody: 'bucket=${bucket}&object=${object}&r=${reqId}' },
      { reqId: '0123456789ABCDEF01234567', now: new Date('2026-11-20T08:00:00Z') },
    );
    assert.equal(result.outcome, 'ok');
    const [request] = seen;
    assert.equal(request!.url, '/cb/%E4%B8%AD?a=1&b=x%20y');
    const h = request!.headers;
    assert.equal(h.host, 'callbacks.example.com');
    assert.equal(h.connection, 'close');
    assert.equal(h['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(h['content-length'], String(request!.body.length));
    assert.equal(h['content-md5'], createHash('md5').update(request!.body).digest('base64'));
    assert.equal(h.date, 'Fri, 20 Nov 2026 08:00:00 GMT');
    assert.equal(h['user-agent'], 'aliyun-oss-callback');
    assert.equal(h['x-oss-bucket'], 'examplebucket');
    assert.equal(h['x-oss-request-id'], '0123456789ABCDEF01234567');
    assert.equal(h['x-oss-signature-version'], '1.0');
    assert.equal(h['x-oss-tag'], 'CALLBACK');
    assert.equal(request!.body.toString(), 'bucket=examplebucket&object=docs%2Fa%20b.txt&r=0123456789ABCDEF01234567');
    const keys = createKeyResolver({ trustedKeys: DEV_TRUSTED_KEYS });
    const verified = await verifyCallbackSignature(
      { rawPath: '/cb/%E4%B8%AD', rawQuery: 'a=1&b=x%20y', headers: h as Record<string, string>, body: request!.body },
      keys,
    );
    assert.equal(verified.query, 'a=1&b=x%20y');
  });

  it('without callbackHost, Host is the URL’s host (without the port, as in OSS’s example)', async () => {
    seen = [];
    await upload({ callbackUrl: `${capture.url}/cb`, callbackBody: 'b=${bucket}' });
    assert.equal(seen[0]!.headers.host, '127.0.0.1');
  });

  it('tries ;-separated URLs in order and stops at the first success', async () => {
    seen = [];
    const down = await closedPort();
    const result = await upload({ callbackUrl: `${down}/first;${capture.url}/second;${capture.url}/third`, callbackBody: 'b=${bucket}' });
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(result.attempts.map((a) => a.verdict.ok), [false, true]);
    assert.deepEqual(seen.map((s) => s.url), ['/second']);
    assert.equal(result.uploader.body, '{"ok":true}');
  });

  it('--to sends elsewhere, keeping the signed path and query and the Host header', async () => {
    seen = [];
    const result = await upload({ callbackUrl: 'https://fc.example.com/record-upload?t=1', callbackBody: 'b=${bucket}' }, { to: capture.url });
    assert.equal(result.outcome, 'ok');
    assert.equal(seen[0]!.url, '/record-upload?t=1');
    assert.equal(seen[0]!.headers.host, 'fc.example.com');
  });
});

// ------------------------------------------------------------------------------------ broken servers

describe('what the uploader gets from a broken callback server (§8, §9)', () => {
  const http = (status: string, headers: string[], body: string | Buffer = '') =>
    Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`), Buffer.from(body)]);
  const json = (body: string, status = '200 OK') => http(status, ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`], body);

  const cases: { name: string; response: Buffer | null | 'refused'; ok?: true; message?: string; ec?: string }[] = [
    { name: 'a 200 JSON reply is passed through', response: json('{"id":1}'), ok: true },
    { name: 'XML with Content-Type application/xml is accepted (2025 docs)', response: http('200 OK', ['Content-Type: application/xml', 'Content-Length: 8'], '<a>1</a>'), ok: true },
    { name: 'a non-200 status', response: json('{"error":"no"}', '401 Unauthorized'), message: 'Error status : 401.' },
    { name: '204 is not 200', response: http('204 No Content', []), message: 'Error status : 204.' },
    { name: 'a body that is not JSON', response: http('200 OK', ['Content-Type: text/plain', 'Content-Length: 2'], 'OK'), message: 'Response body is not valid json format.', ec: '0007-00000205' },
    {
      name: 'JSON behind a UTF-8 BOM',
      response: http('200 OK', ['Content-Type: application/json', 'Content-Length: 18'], Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"Status":"OK"}')])),
      message: 'Response body is not valid json format.',
    },
    { name: 'no Content-Length (chunked)', response: http('200 OK', ['Content-Type: application/json', 'Transfer-Encoding: chunked'], '2\r\n{}\r\n0\r\n\r\n'), message: 'Error Status : 400.User server missing content-length.' },
    { name: 'no Content-Length (close-delimited)', response: http('200 OK', ['Content-Type: application/json'], '{}'), message: 'Error Status : 400.User server missing content-length.' },
    { name: 'Content-Length: 0', response: http('200 OK', ['Content-Type: application/json', 'Content-Length: 0']), message: 'Error Status : 400.User server return invalid conent-length value.' },
    { name: 'a malformed Content-Length', response: http('200 OK', ['Content-Type: application/json', 'Content-Length: ten'], '{}'), message: 'Error Status : 400.User server return invalid conent-length value.' },
    {
      name: 'a Content-Length over 1 MB',
      response: http('200 OK', ['Content-Type: application/json', `Content-Length: ${2 * 1024 * 1024}`], '{"big":"'),
      message: 'Error Status : 400.User server return too long content-length value.',
    },
    { name: 'no reply in time', response: null, message: 'Cost too long time.', ec: '0007-00000202' },
    { name: 'connection refused', response: 'refused', message: 'Error Status : -1.OSS can not connect to your callbackUrl, please check it.' },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.ok ? '200' : `203 ${c.message}`}`, async () => {
      const server = c.response === 'refused' ? { url: await closedPort(), close: async () => {} } : await rawServer(c.response);
      try {
        const result = await upload({ callbackUrl: `${server.url}/cb`, callbackBody: 'bucket=${bucket}' }, { timeoutMs: 300, reqId: 'AAAABBBBCCCCDDDDEEEEFFFF' });
        if (c.ok) {
          assert.equal(result.outcome, 'ok', result.uploader.body);
          assert.equal(result.uploader.status, 200);
          assert.equal(result.uploader.headers['x-oss-request-id'], 'AAAABBBBCCCCDDDDEEEEFFFF');
          return;
        }
        assert.equal(result.outcome, 'callback-failed');
        assert.equal(result.uploader.status, 203);
        assert.match(result.uploader.body, /<Code>CallbackFailed<\/Code>/);
        assert.ok(result.uploader.body.includes(`<Message>${c.message}</Message>`), result.uploader.body);
        assert.ok(result.uploader.body.includes('<RequestId>AAAABBBBCCCCDDDDEEEEFFFF</RequestId>'));
        if (c.ec) assert.ok(result.uploader.body.includes(`<EC>${c.ec}</EC>`));
        assert.ok(result.uploader.headers.etag, 'the object is stored anyway');
      } finally {
        await server.close();
      }
    });
  }

  it('gives up on each URL after the timeout (default 5 s, as OSS)', async () => {
    const hanging = await rawServer(null);
    const started = Date.now();
    const result = await upload({ callbackUrl: `${hanging.url}/a;${hanging.url}/b`, callbackBody: 'b=${bucket}' }, { timeoutMs: 200 });
    await hanging.close();
    assert.equal(result.attempts.length, 2);
    assert.ok(result.attempts.every((a) => a.transport.kind === 'timeout'));
    assert.ok(Date.now() - started >= 400 && Date.now() - started < 3000);
  });
});

// ------------------------------------------------------------------------------------ ali-oss

describe('ali-oss as the uploader', () => {
  it('the x-oss-callback / x-oss-callback-var headers ali-oss builds drive the simulator end to end', async () => {
    // A fake OSS endpoint: records the PutObject request, answers as OSS does after a callback.
    let putHeaders: IncomingMessage['headers'] = {};
    const fakeOss = await httpServer((req, _body, res) => {
      putHeaders = req.headers;
      const reply = '{"fake":"oss"}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(reply.length), 'x-oss-request-id': '5C7F7BF09938D1D7BDAC9587', etag: '"X"' });
      res.end(reply);
    });
    // The real callback target: the local server's listener with the echo job, over HTTP.
    const runtime = testRuntime({ allowedBuckets: new Set(['examplebucket']) }, { storeFor: async () => ({}) as Store });
    const local = await new Promise<{ url: string; close(): Promise<void> }>((resolve) => {
      const server = createServer(createNodeListener({ jobs: [echoJob], runtime }));
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as import('node:net').AddressInfo;
        resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) });
      });
    });
    try {
      const client = new OSS({ accessKeyId: 'test-ak', accessKeySecret: 'test-sk', bucket: 'examplebucket', endpoint: fakeOss.url, timeout: 5000 });
      const file = join(FIXTURES, 'pixel-7x3.gif');
      const put = await client.put('photos/猫.gif', file, {
        callback: {
          url: `${local.url}/echo/uploads/中文 path?source=ali-oss`, // ali-oss encodeURI()s it
          body: 'bucket=${bucket}&object=${object}&size=${size}&owner=${x:owner}&x:owner=${x:owner}',
          contentType: 'application/x-www-form-urlencoded',
          customValue: { owner: 'alice' },
        },
      });
      assert.deepEqual(put.data, { fake: 'oss' }, 'ali-oss parses the callback reply as JSON');

      const callback = String(putHeaders['x-oss-callback']);
      const callbackVar = String(putHeaders['x-oss-callback-var']);
      assert.deepEqual(JSON.parse(Buffer.from(callback, 'base64').toString()), {
        callbackUrl: `${local.url}/echo/uploads/%E4%B8%AD%E6%96%87%20path?source=ali-oss`,
        callbackBody: 'bucket=${bucket}&object=${object}&size=${size}&owner=${x:owner}&x:owner=${x:owner}',
        callbackBodyType: 'application/x-www-form-urlencoded',
      });
      assert.deepEqual(JSON.parse(Buffer.from(callbackVar, 'base64').toString()), { 'x:owner': 'alice' });

      const result = await simulateUpload({ callback, callbackVar, object: { bucket: 'examplebucket', key: 'photos/猫.gif', file } });
      assert.equal(result.outcome, 'ok', result.uploader.body);
      const echoed = JSON.parse(result.uploader.body);
      assert.deepEqual(echoed, { bucket: 'examplebucket', object: 'photos/猫.gif', size: readFileSync(file).length, custom: { owner: 'alice' }, bodyType: 'form' });
    } finally {
      await fakeOss.close();
      await local.close();
    }
  });
});
