/**
 * The local OSS emulator driven by the real ali-oss client (and by fetch, as a browser posts a form):
 * callbacks signed as OSS signs them reach a local callback server and their JSON comes back as the
 * upload's response; V1 and V4 header and query (presigned) authentication; OSS's errors; events.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { stringToSign } from '../../shared/protocol/signature.js';
import { type OssEmulator, type OssEventRecord, startOssEmulator } from '../../shared/testing/oss-emulator/index.js';
import type { AnyLoadedFunction } from '../../scripts/functions.js';
import { functionEventTargets } from '../../scripts/local-oss.js';
import { DEV_KEY_URL, DEV_TRUSTED_KEYS } from '../helpers/callbacks.js';

/** The real ali-oss client (it ships no types; its results are checked field by field below). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Client = any;
const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => Client;

const KEY = { accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' };
const BUCKET = 'examplebucket';
const tmp = mkdtempSync(join(tmpdir(), 'oss-emu-'));
const dataDir = join(tmp, 'data');

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  verified: boolean;
}
const received: Received[] = [];
let callbackServer: Server;
let callbackBase = '';
let emulator: OssEmulator;
const events: OssEventRecord[] = [];
let failNextEvent = 0;
const eventAttempts: number[] = [];
const logLines: Record<string, unknown>[] = [];

before(async () => {
  callbackServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = req.url ?? '/';
      const mark = target.indexOf('?');
      const keyUrl = Buffer.from(String(req.headers['x-oss-pub-key-url']), 'base64').toString();
      const verified = verify(
        'md5',
        stringToSign(mark < 0 ? target : target.slice(0, mark), mark < 0 ? null : target.slice(mark + 1), body),
        createPublicKey(DEV_TRUSTED_KEYS[keyUrl] ?? DEV_TRUSTED_KEYS[DEV_KEY_URL]!),
        Buffer.from(String(req.headers.authorization), 'base64'),
      );
      received.push({ path: target, headers: req.headers, body: body.toString(), verified });
      if (target.startsWith('/fail')) {
        res.writeHead(500, { 'content-length': '2' });
        res.end('no');
        return;
      }
      const reply = JSON.stringify({ ok: true, got: body.toString() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      res.end(reply);
    });
  });
  await new Promise<void>((done) => callbackServer.listen(0, '127.0.0.1', done));
  callbackBase = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}`;
  emulator = await start();
});

function start(): Promise<OssEmulator> {
  return startOssEmulator({
    port: 0,
    dataDir,
    buckets: new Set([BUCKET, 'otherbucket']),
    credentials: KEY,
    region: 'cn-hangzhou',
    accountId: '1234567890123456',
    eventRetryDelayMs: () => 5,
    log: (line) => logLines.push(line),
    eventTargets: async (event: Buffer, attempt) => {
      eventAttempts.push(attempt.retryCount);
      if (failNextEvent > 0) {
        failNextEvent -= 1;
        throw new Error('the function failed');
      }
      events.push(...(JSON.parse(event.toString()) as { events: OssEventRecord[] }).events);
    },
  });
}

after(async () => {
  await emulator?.close();
  callbackServer?.close();
});

function client(options: Record<string, unknown> = {}): Client {
  return new OSS({ endpoint: emulator.url, region: 'oss-cn-hangzhou', bucket: BUCKET, ...KEY, ...options });
}

const callbackBody = 'bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&reqId=${reqId}&operation=${operation}&crc64=${crc64}&owner=${x:owner}';

describe('ali-oss against the local OSS', () => {
  it('put with a callback: stored, the callback signed with the development key, its JSON returned', async () => {
    const content = Buffer.from('hello, local oss');
    const result = await client().put('docs/猫 1.txt', content, {
      callback: { url: `${callbackBase}/cb?a=1`, body: callbackBody, customValue: { owner: 'alice' } },
    });
    const md5 = createHash('md5').update(content).digest('hex').toUpperCase();
    const reqId = result.res.headers['x-oss-request-id'] as string;
    assert.match(reqId, /^[0-9A-F]{24}$/);
    assert.equal(result.res.headers.etag, `"${md5}"`);
    assert.equal(result.res.headers.server, 'AliyunOSS');
    const call = received.at(-1)!;
    assert.equal(call.verified, true);
    assert.equal(call.path, '/cb?a=1');
    assert.equal(call.headers['x-oss-request-id'], reqId);
    const form = new URLSearchParams(call.body);
    assert.equal(form.get('object'), 'docs/猫 1.txt');
    assert.equal(form.get('etag'), md5);
    assert.equal(form.get('size'), String(content.length));
    assert.equal(form.get('mimeType'), 'text/plain');
    assert.equal(form.get('operation'), 'PutObject');
    assert.equal(form.get('owner'), 'alice');
    assert.deepEqual((result as unknown as { data: unknown }).data, { ok: true, got: call.body });
    // Unlike OSS it calls loopback back, and says OSS would not.
    assert.ok(logLines.some((line) => /Private address is forbidden to callback/.test(String(line.warning))));
  });

  it('a callback that fails: 203 CallbackFailed with OSS’s message, the object stored anyway', async () => {
    await assert.rejects(
      client().put('docs/failed.txt', Buffer.from('x'), { callback: { url: `${callbackBase}/fail`, body: 'object=${object}' } }),
      (error: { status: number; code: string; message: string }) => error.status === 203 && error.code === 'CallbackFailed' && /Error status : 500\./.test(error.message),
    );
    const head = await client().head('docs/failed.txt');
    assert.equal(head.status, 200);
  });

  it('multipartUpload with a callback: ETag <md5 of part MD5s>-<parts>', async () => {
    const file = join(tmp, 'big.bin');
    const bytes = randomBytes(250 * 1024);
    writeFileSync(file, bytes);
    const result = (await client().multipartUpload('big/file.bin', file, {
      partSize: 100 * 1024,
      callback: { url: `${callbackBase}/multi`, body: 'etag=${etag}&size=${size}&operation=${operation}' },
    })) as unknown as { data: { got: string }; res: { headers: Record<string, string> } };
    const parts = [bytes.subarray(0, 102400), bytes.subarray(102400, 204800), bytes.subarray(204800)].map((p) => createHash('md5').update(p).digest());
    const etag = `${createHash('md5').update(Buffer.concat(parts)).digest('hex').toUpperCase()}-3`;
    const form = new URLSearchParams(result.data.got);
    assert.equal(form.get('etag'), etag);
    assert.equal(form.get('size'), String(bytes.length));
    assert.equal(form.get('operation'), 'CompleteMultipartUpload');
    const head = await client().head('big/file.bin');
    assert.equal((head.res.headers as Record<string, string>).etag, `"${etag}"`);
    assert.equal((head.res.headers as Record<string, string>)['x-oss-object-type'], 'Multipart');
    const got = await client().get('big/file.bin');
    assert.deepEqual(got.content, bytes);
  });

  it('head, get, list (V2, prefix, delimiter), delete, deleteMulti', async () => {
    const c = client();
    await c.put('list/a.txt', Buffer.from('a'));
    await c.put('list/b.txt', Buffer.from('bb'));
    await c.put('list/sub/c.txt', Buffer.from('ccc'), { meta: { owner: 'bob' } });
    const head = await c.head('list/sub/c.txt');
    assert.equal((head.meta as Record<string, string>).owner, 'bob');
    assert.equal((head.res.headers as Record<string, string>)['content-length'], '3');
    assert.equal((await c.get('list/b.txt')).content.toString(), 'bb');
    const listed = await c.listV2({ prefix: 'list/', delimiter: '/' });
    assert.deepEqual(listed.objects.map((o: { name: string }) => o.name), ['list/a.txt', 'list/b.txt']);
    assert.deepEqual(listed.prefixes, ['list/sub/']);
    const page = await c.listV2({ prefix: 'list/', 'max-keys': '2' });
    assert.equal(page.isTruncated, true);
    const rest = await c.listV2({ prefix: 'list/', 'continuation-token': page.nextContinuationToken });
    assert.deepEqual(rest.objects.map((o: { name: string }) => o.name), ['list/sub/c.txt']);
    await c.delete('list/a.txt');
    await assert.rejects(c.head('list/a.txt'), (e: { status: number; code: string }) => e.status === 404 && e.code === 'NoSuchKey');
    const deleted = await c.deleteMulti(['list/b.txt', 'list/sub/c.txt']);
    assert.deepEqual(deleted.deleted.map((d: { Key: string }) => d.Key), ['list/b.txt', 'list/sub/c.txt']);
    assert.deepEqual((await c.listV2({ prefix: 'list/' })).objects, []);
  });

  it('V4 header authentication (authorizationV4: true), with a callback', async () => {
    const c = client({ authorizationV4: true });
    const result = await c.put('v4/a.txt', Buffer.from('v4'), { callback: { url: `${callbackBase}/v4`, body: 'object=${object}' } });
    assert.equal((result as unknown as { data: { got: string } }).data.got, 'object=v4%2Fa.txt');
    assert.equal((await c.get('v4/a.txt')).content.toString(), 'v4');
    assert.equal((await c.listV2({ prefix: 'v4/' })).objects.length, 1);
    await c.delete('v4/a.txt');
  });

  for (const v4 of [false, true]) {
    it(`a wrong secret (${v4 ? 'V4' : 'V1'}) → 403 SignatureDoesNotMatch with what OSS signed`, async () => {
      const c = client({ accessKeySecret: 'not-the-secret', authorizationV4: v4 });
      await assert.rejects(c.put('x.txt', Buffer.from('x')), (e: { status: number; code: string; message: string }) => {
        assert.equal(e.status, 403);
        assert.equal(e.code, 'SignatureDoesNotMatch');
        assert.match(e.message, /The request signature we calculated does not match the signature you provided/);
        return true;
      });
    });
  }

  it('an unknown AccessKeyId → 403 InvalidAccessKeyId', async () => {
    await assert.rejects(client({ accessKeyId: 'someone-else' }).put('x.txt', Buffer.from('x')), (e: { status: number; code: string }) => e.status === 403 && e.code === 'InvalidAccessKeyId');
  });

  it('a Content-MD5 that does not match the body → 400 InvalidDigest, nothing stored', async () => {
    await assert.rejects(
      client().put('md5/bad.txt', Buffer.from('abc'), { headers: { 'Content-MD5': createHash('md5').update('other').digest('base64') } }),
      (e: { status: number; code: string }) => e.status === 400 && e.code === 'InvalidDigest',
    );
    await assert.rejects(client().head('md5/bad.txt'), (e: { status: number }) => e.status === 404);
  });

  it('x-oss-forbid-overwrite: true on PutObject and multipart → 409 FileAlreadyExists, the object unchanged; false or absent overwrites', async () => {
    const c = client();
    await c.put('nooverwrite/a.txt', Buffer.from('first'), { headers: { 'x-oss-forbid-overwrite': 'true' } });
    const before = events.length;
    await assert.rejects(
      c.put('nooverwrite/a.txt', Buffer.from('second'), { headers: { 'x-oss-forbid-overwrite': 'true' }, callback: { url: `${callbackBase}/never`, body: 'object=${object}' } }),
      (e: { status: number; code: string; message: string }) => {
        assert.equal(e.status, 409);
        assert.equal(e.code, 'FileAlreadyExists');
        assert.equal(e.message, 'The object you specified already exists and can not be overwritten.');
        return true;
      },
    );
    assert.ok(!received.some((r) => r.path === '/never'), 'no callback for a refused upload');
    assert.equal((await c.get('nooverwrite/a.txt')).content.toString(), 'first');
    await c.put('nooverwrite/a.txt', Buffer.from('third'), { headers: { 'x-oss-forbid-overwrite': 'false' } });
    await c.put('nooverwrite/a.txt', Buffer.from('fourth'));
    assert.equal((await c.get('nooverwrite/a.txt')).content.toString(), 'fourth');
    await emulator.eventsIdle();
    assert.equal(events.slice(before).filter((e) => e.oss.object.key === 'nooverwrite/a.txt').length, 2, 'an event for each stored upload, none for the refused one');
    // Two at once: exactly one wins.
    const racing = await Promise.allSettled([1, 2, 3].map((n) => c.put('nooverwrite/race.txt', Buffer.from(`racer ${n}`), { headers: { 'x-oss-forbid-overwrite': 'true' } })));
    assert.equal(racing.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(racing.every((r) => r.status === 'fulfilled' || (r.reason as { code: string }).code === 'FileAlreadyExists'));
    // Multipart: the header on InitiateMultipartUpload (ali-oss sends options.headers there).
    const file = join(tmp, 'mp.bin');
    writeFileSync(file, randomBytes(150 * 1024));
    await c.multipartUpload('nooverwrite/mp.bin', file, { partSize: 100 * 1024, headers: { 'x-oss-forbid-overwrite': 'true' } });
    await assert.rejects(
      c.multipartUpload('nooverwrite/mp.bin', file, { partSize: 100 * 1024, headers: { 'x-oss-forbid-overwrite': 'true' } }),
      (e: { status: number; code: string }) => e.status === 409 && e.code === 'FileAlreadyExists',
    );
  });

  it('presigned PUT URLs: signatureUrl (V1, with a callback) and signatureUrlV4', async () => {
    // signatureUrl refuses an IP endpoint: use localhost path-style, then connect to 127.0.0.1.
    const v1 = new OSS({ endpoint: emulator.url.replace('127.0.0.1', 'localhost'), sldEnable: true, region: 'oss-cn-hangzhou', bucket: BUCKET, ...KEY });
    const url1 = v1
      .signatureUrl('presigned/v1.txt', { method: 'PUT', 'Content-Type': 'text/plain', callback: { url: `${callbackBase}/presigned`, body: 'object=${object}&size=${size}' } })
      .replace('localhost', '127.0.0.1');
    const put1 = await fetch(url1, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'v1!' });
    assert.equal(put1.status, 200);
    assert.deepEqual(await put1.json(), { ok: true, got: 'object=presigned%2Fv1.txt&size=3' });
    const tampered = await fetch(url1.replace('presigned%2Fv1.txt', 'presigned%2Fother.txt').replace('presigned/v1.txt', 'presigned/other.txt'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(tampered.status, 403);
    assert.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    const stale = await fetch(v1.signatureUrl('presigned/v1.txt', { expires: -60 }).replace('localhost', '127.0.0.1'));
    assert.equal(stale.status, 403);
    assert.match(await stale.text(), /<Code>AccessDenied<\/Code>\n {2}<Message>Request has expired\.<\/Message>/);

    const v4 = client({ sldEnable: true, authorizationV4: true });
    const url4 = await v4.signatureUrlV4('PUT', 600, { headers: {}, queries: { callback: Buffer.from(JSON.stringify({ callbackUrl: `${callbackBase}/presigned4`, callbackBody: 'object=${object}' })).toString('base64') } }, 'presigned/v4.txt');
    // No Content-Type: V4 signs it whenever it is sent (fetch adds one to a string body).
    const put4 = await fetch(url4, { method: 'PUT', body: new Uint8Array(Buffer.from('v4!')) });
    assert.equal(put4.status, 200, await put4.clone().text());
    assert.deepEqual(await put4.json(), { ok: true, got: 'object=presigned%2Fv4.txt' });
    const get4 = await fetch(await v4.signatureUrlV4('GET', 600, { headers: {} }, 'presigned/v4.txt'));
    assert.equal(await get4.text(), 'v4!');
  });

  it('path-style and virtual-host addressing reach the same object', async () => {
    await client().put('addr/a.txt', Buffer.from('same'));
    const path = await fetch(await client({ sldEnable: true, authorizationV4: true }).signatureUrlV4('GET', 60, { headers: {} }, 'addr/a.txt'));
    assert.equal(await path.text(), 'same');
    const other = new OSS({ endpoint: emulator.url, region: 'oss-cn-hangzhou', bucket: 'otherbucket', ...KEY });
    await assert.rejects(other.get('addr/a.txt'), (e: { status: number }) => e.status === 404);
    const notServed = new OSS({ endpoint: emulator.url, region: 'oss-cn-hangzhou', bucket: 'not-served', ...KEY });
    await assert.rejects(notServed.get('addr/a.txt'), (e: { code: string }) => e.code === 'NoSuchBucket');
  });

  it('CORS: a preflight is answered, responses expose ETag and x-oss-request-id', async () => {
    const preflight = await fetch(`${emulator.url}/${BUCKET}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(preflight.headers.get('access-control-expose-headers') ?? '', /ETag, x-oss-request-id/);
    const bad = await fetch(`${emulator.url}/${BUCKET}`, { method: 'OPTIONS', headers: { origin: 'http://x' } });
    assert.equal(bad.status, 403);
    assert.match(await bad.text(), /<Code>AccessForbidden<\/Code>/);
  });

  it('events: each create and delete reaches the targets as FC’s {"events":[…]}, retried after a failure', async () => {
    await emulator.eventsIdle();
    events.length = 0;
    eventAttempts.length = 0;
    failNextEvent = 1;
    const put = await client().put('events/a.png', Buffer.from('png?'));
    await emulator.eventsIdle();
    assert.deepEqual(eventAttempts, [0, 1]);
    const created = events.at(-1)!;
    assert.equal(created.eventName, 'ObjectCreated:PutObject');
    assert.equal(created.eventSource, 'acs:oss');
    assert.equal(created.oss.bucket.arn, `acs:oss:cn-hangzhou:1234567890123456:${BUCKET}`);
    assert.equal(created.oss.object.key, 'events/a.png');
    assert.equal(created.oss.object.size, 4);
    assert.equal(created.oss.object.deltaSize, 4);
    assert.equal(created.oss.object.eTag, createHash('md5').update('png?').digest('hex').toUpperCase());
    assert.equal(created.responseElements.requestId, put.res.headers['x-oss-request-id']);
    assert.match(created.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    await client().delete('events/a.png');
    await emulator.eventsIdle();
    assert.equal(events.at(-1)!.eventName, 'ObjectRemoved:DeleteObject');
    assert.equal(events.at(-1)!.oss.object.deltaSize, -4);
    await client().put('events/b.txt', Buffer.from('b'));
    await client().put('events/b.txt', Buffer.from('bbb'));
    await client().put('events/c.txt', Buffer.from('c'));
    await client().deleteMulti(['events/b.txt', 'events/c.txt']);
    await emulator.eventsIdle();
    assert.deepEqual(
      events.slice(-5).map((e) => [e.eventName, e.oss.object.key, e.oss.object.deltaSize]),
      [
        ['ObjectCreated:PutObject', 'events/b.txt', 1],
        ['ObjectCreated:PutObject', 'events/b.txt', 2],
        ['ObjectCreated:PutObject', 'events/c.txt', 1],
        ['ObjectRemoved:DeleteObjects', 'events/b.txt', -3],
        ['ObjectRemoved:DeleteObjects', 'events/c.txt', -1],
      ],
    );
  });

  it('objects survive a restart', async () => {
    await client().put('persist/a.txt', Buffer.from('kept'));
    await emulator.close();
    emulator = await start();
    assert.equal((await client().get('persist/a.txt')).content.toString(), 'kept');
  });
});

describe('PostObject: a form posted as a browser posts it (FormData + fetch)', () => {
  const signUtils = createRequire(import.meta.url)('ali-oss/lib/common/signUtils') as { getCredential(day: string, region: string, accessKeyId: string): string };
  const expiration = () => new Date(Date.now() + 3600_000).toISOString();
  const callback = () => Buffer.from(JSON.stringify({ callbackUrl: `${callbackBase}/post`, callbackBody: 'object=${object}&size=${size}&operation=${operation}&owner=${x:owner}' })).toString('base64');

  /** The fields and signature an upload-policy server hands out, V1 (calculatePostSignature) or V4 (signPostObjectPolicyV4). */
  function signedFields(version: 1 | 4, conditions: unknown[]): Record<string, string> {
    if (version === 1) {
      const signed = client().calculatePostSignature({ expiration: expiration(), conditions }) as { OSSAccessKeyId: string; Signature: string; policy: string };
      return { OSSAccessKeyId: signed.OSSAccessKeyId, policy: signed.policy, Signature: signed.Signature };
    }
    const now = new Date();
    const date = `${now.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
    const credential = signUtils.getCredential(date.slice(0, 8), 'cn-hangzhou', KEY.accessKeyId);
    const v4Fields = { 'x-oss-signature-version': 'OSS4-HMAC-SHA256', 'x-oss-credential': credential, 'x-oss-date': date };
    const policy = { expiration: expiration(), conditions: [...conditions, ...Object.entries(v4Fields).map(([k, v]) => ({ [k]: v }))] };
    const signature = client().signPostObjectPolicyV4(policy, now) as string;
    return { ...v4Fields, policy: Buffer.from(JSON.stringify(policy)).toString('base64'), 'x-oss-signature': signature };
  }

  function post(fields: Record<string, string>, content: string, filename = 'photo.txt'): Promise<Response> {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', new Blob([content], { type: 'text/plain' }), filename); // the file comes last
    return fetch(`${emulator.url}/${BUCKET}`, { method: 'POST', body: form, headers: { origin: 'http://localhost:5173' } });
  }

  for (const version of [1, 4] as const) {
    it(`V${version} policy with a pinned callback: 200 with the function's JSON, CORS headers for the page`, async () => {
      const cb = callback();
      const fields = signedFields(version, [{ bucket: BUCKET }, ['starts-with', '$key', 'uploads/'], ['content-length-range', 1, 100], { callback: cb }]);
      const response = await post({ key: `uploads/v${version}/\${filename}`, ...fields, callback: cb, 'x:owner': 'carol', success_action_status: '200' }, 'form body');
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(response.headers.get('access-control-allow-origin'), '*');
      assert.match(response.headers.get('x-oss-request-id') ?? '', /^[0-9A-F]{24}$/);
      const reply = (await response.json()) as { got: string };
      assert.equal(reply.got, `object=uploads%2Fv${version}%2Fphoto.txt&size=9&operation=PostObject&owner=carol`);
      assert.equal((await client().get(`uploads/v${version}/photo.txt`)).content.toString(), 'form body');
    });

    it(`V${version}: a callback other than the pinned one is refused (AccessDenied, Policy Condition failed)`, async () => {
      const fields = signedFields(version, [{ bucket: BUCKET }, { callback: callback() }]);
      const swapped = Buffer.from(JSON.stringify({ callbackUrl: 'http://127.0.0.1:1/evil', callbackBody: 'a=b' })).toString('base64');
      const response = await post({ key: 'uploads/swapped.txt', ...fields, callback: swapped }, 'x');
      assert.equal(response.status, 403);
      const xml = await response.text();
      assert.match(xml, /<Code>AccessDenied<\/Code>/);
      assert.match(xml, /Invalid according to Policy: Policy Condition failed: \{"callback"/);
      await assert.rejects(client().head('uploads/swapped.txt'), (e: { status: number }) => e.status === 404);
    });

    it(`V${version}: a file over content-length-range → 400 EntityTooLarge, nothing stored`, async () => {
      const fields = signedFields(version, [['content-length-range', 1, 10]]);
      const response = await post({ key: 'uploads/big.txt', ...fields }, 'more than ten bytes');
      assert.equal(response.status, 400);
      const xml = await response.text();
      assert.match(xml, /<Code>EntityTooLarge<\/Code>/);
      assert.match(xml, /<Message>Your proposed upload exceeds the maximum allowed size\.<\/Message>/);
      await assert.rejects(client().head('uploads/big.txt'), (e: { status: number }) => e.status === 404);
    });
  }

  it('a wrong signature → 403 SignatureDoesNotMatch; an expired policy → 403 Policy expired; no key → 400', async () => {
    const fields = signedFields(1, [{ bucket: BUCKET }]);
    const forged = await post({ key: 'uploads/a.txt', ...fields, Signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }, 'x');
    assert.equal(forged.status, 403);
    assert.match(await forged.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    const expired = client().calculatePostSignature({ expiration: '2020-01-01T00:00:00.000Z', conditions: [{ bucket: BUCKET }] }) as Record<string, string>;
    const late = await post({ key: 'uploads/a.txt', ...expired }, 'x');
    assert.equal(late.status, 403);
    assert.match(await late.text(), /<Message>Invalid according to Policy: Policy expired\.<\/Message>/);
    const keyless = await post({ ...fields }, 'x');
    assert.equal(keyless.status, 400);
    assert.match(await keyless.text(), /<Code>InvalidArgument<\/Code>/);
  });

  it('success_action_status 201 answers OSS’s PostResponse XML; the default is 204', async () => {
    const fields = signedFields(1, [{ bucket: BUCKET }]);
    const created = await post({ key: 'uploads/201.txt', ...fields, success_action_status: '201' }, 'x');
    assert.equal(created.status, 201);
    assert.match(await created.text(), /<PostResponse>[\s\S]*<Key>uploads\/201\.txt<\/Key>[\s\S]*<ETag>"[0-9A-F]{32}"<\/ETag>/);
    const plain = await post({ key: 'uploads/204.txt', ...fields }, 'x');
    assert.equal(plain.status, 204);
    assert.match(plain.headers.get('etag') ?? '', /^"[0-9A-F]{32}"$/);
  });
});

describe('upload-policy\'s policy and presigned PUT against the local OSS', () => {
  const JWT_SECRET = 'j'.repeat(40);
  const TOKEN_SECRET = 't'.repeat(48);
  const ENV: Record<string, string> = {
    OSS_ALLOWED_BUCKETS: BUCKET,
    UPLOAD_BUCKET: BUCKET,
    UPLOAD_REGION: 'cn-hangzhou',
    UPLOAD_MAX_BYTES: '64',
    UPLOAD_JWT_SECRET: JWT_SECRET,
    UPLOAD_TOKEN_SECRET: TOKEN_SECRET,
    UPLOAD_ALLOWED_ORIGINS: '*',
    OSS_CALLBACK_LOG: 'off',
  };
  const saved: Record<string, string | undefined> = {};
  let handler: (event: Buffer, context: unknown) => Promise<{ statusCode: number; body: string }>;
  let resetSettings: () => void;
  let signJwt: (sub: string) => Promise<string>;

  before(async () => {
    const env = { ...ENV, UPLOAD_URL: `${emulator.url}/{bucket}`, UPLOAD_CALLBACK_BASE_URL: `${callbackBase}/jobs` };
    for (const [name, value] of Object.entries(env)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    const fn = await import('../../functions/upload-policy/index.js');
    handler = fn.handler as unknown as typeof handler;
    resetSettings = (await import('../../functions/upload-policy/settings.js')).resetSettings;
    resetSettings();
    const { SignJWT } = await import('jose');
    signJwt = (sub) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
  });
  after(() => {
    for (const [name, value] of Object.entries(saved)) if (value === undefined) delete process.env[name]; else process.env[name] = value;
    resetSettings?.();
  });

  interface Policy {
    url: string;
    key: string;
    fields: Record<string, string>;
    maxBytes: number;
    put: { url: string; method: string; headers: Record<string, string> };
  }

  /** What upload-policy answers a signed-in user (its real handler, with the local key pair as its credentials). */
  async function policyFor(owner: string, request: { job: string; filename: string; contentType: string; size: number }): Promise<Policy> {
    const event = {
      version: 'v1', rawPath: '/', isBase64Encoded: false, queryParameters: {},
      body: JSON.stringify(request),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await signJwt(owner)}` },
      requestContext: { requestId: 'req-1', http: { method: 'POST', path: '/', sourceIp: '127.0.0.1' } },
    };
    const result = await handler(Buffer.from(JSON.stringify(event)), { requestId: 'req-1', region: 'cn-hangzhou', credentials: KEY });
    assert.equal(result.statusCode, 200, result.body);
    return JSON.parse(result.body) as Policy;
  }

  function postForm(policy: Policy, fields: Record<string, string>, content: Buffer | string, type = policy.fields['Content-Type']!): Promise<Response> {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', new Blob([typeof content === 'string' ? Buffer.from(content) : new Uint8Array(content)], { type }), 'file');
    return fetch(policy.url, { method: 'POST', body: form });
  }

  /** A PUT with exactly these headers (fetch would choose Content-Length itself). */
  function put(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { method: 'PUT', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('the form as issued uploads once, with the pinned callback (upload token in its URL); a replay is 409 FileAlreadyExists', async () => {
    const policy = await policyFor('alice', { job: 'usage-quota', filename: 'note.txt', contentType: 'text/plain', size: 11 });
    assert.equal(policy.url, `${emulator.url}/${BUCKET}`);
    const calls = received.length;
    const first = await postForm(policy, policy.fields, 'hello, oss!');
    assert.equal(first.status, 200, await first.clone().text());
    const reply = (await first.json()) as { ok: boolean; got: string };
    const call = received.at(-1)!;
    assert.equal(received.length, calls + 1);
    assert.equal(call.verified, true);
    const callbackUrl = new URL(call.path, callbackBase);
    assert.equal(callbackUrl.pathname, '/jobs/usage-quota');
    assert.match(callbackUrl.searchParams.get('upload_token') ?? '', /^ut1\./);
    const body = new URLSearchParams(reply.got);
    assert.equal(body.get('object'), policy.key);
    assert.equal(body.get('size'), '11');
    assert.equal(body.get('x:owner'), 'alice');
    assert.equal(body.get('bucket'), BUCKET);

    const replay = await postForm(policy, policy.fields, 'replayed!!!');
    assert.equal(replay.status, 409);
    const xml = await replay.text();
    assert.match(xml, /<Code>FileAlreadyExists<\/Code>/);
    assert.match(xml, /<Message>The object you specified already exists and can not be overwritten\.<\/Message>/);
    assert.equal(received.length, calls + 1, 'no second callback');
    assert.equal((await client().get(policy.key)).content.toString(), 'hello, oss!');
  });

  it('every pinned condition is enforced: forbid-overwrite, success_action_status, callback, Content-Type, key, size', async () => {
    const policy = await policyFor('bob', { job: 'usage-quota', filename: 'a.txt', contentType: 'text/plain', size: 5 });
    const otherCallback = Buffer.from(JSON.stringify({ callbackUrl: `${callbackBase}/evil`, callbackBody: 'object=${object}' })).toString('base64');
    const { 'x-oss-forbid-overwrite': _forbid, ...withoutForbid } = policy.fields;
    const cases: [string, Record<string, string>, RegExp][] = [
      ['no x-oss-forbid-overwrite', withoutForbid, /\["eq","\$x-oss-forbid-overwrite","true"\]/],
      ['x-oss-forbid-overwrite false', { ...policy.fields, 'x-oss-forbid-overwrite': 'false' }, /\["eq","\$x-oss-forbid-overwrite","true"\]/],
      ['success_action_status 204', { ...policy.fields, success_action_status: '204' }, /\["eq","\$success_action_status","200"\]/],
      ['another callback', { ...policy.fields, callback: otherCallback }, /\{"callback":"/],
      ['another Content-Type', { ...policy.fields, 'Content-Type': 'text/html' }, /\["eq","\$Content-Type","text\/plain"\]/],
      ['another key', { ...policy.fields, key: 'uploads/usage-quota/mallory/a.txt' }, /\["eq","\$key","uploads\/usage-quota\/bob\//],
    ];
    for (const [what, fields, condition] of cases) {
      const response = await postForm(policy, fields, 'hello');
      const xml = await response.text();
      assert.equal(response.status, 403, `${what}: ${xml}`);
      assert.match(xml, /<Code>AccessDenied<\/Code>/, what);
      assert.match(xml, /Invalid according to Policy: Policy Condition failed: /, what);
      assert.match(xml, condition, what);
    }
    const big = await postForm(policy, policy.fields, 'x'.repeat(policy.maxBytes + 1));
    assert.equal(big.status, 400);
    assert.match(await big.text(), /<Code>EntityTooLarge<\/Code>[\s\S]*<MaxSizeAllowed>64<\/MaxSizeAllowed>/);
    await assert.rejects(client().head(policy.key), (e: { status: number }) => e.status === 404, 'nothing stored by a refused form');
    assert.ok(!received.some((r) => r.path.startsWith('/evil')));
  });

  it('the presigned PUT it returns uploads with the callback (and callback-var), exact length only, once', async () => {
    const content = Buffer.from('put by URL');
    const policy = await policyFor('carol', { job: 'usage-quota', filename: 'put.txt', contentType: 'text/plain', size: content.length });
    const calls = received.length;
    const ok = await put(policy.put.url, policy.put.headers, content);
    assert.equal(ok.status, 200, ok.text);
    const call = received.at(-1)!;
    assert.equal(received.length, calls + 1);
    assert.equal(call.verified, true);
    assert.equal(new URL(call.path, callbackBase).pathname, '/jobs/usage-quota');
    const body = new URLSearchParams((JSON.parse(ok.text) as { got: string }).got);
    assert.equal(body.get('object'), policy.key);
    assert.equal(body.get('x:owner'), 'carol');
    assert.equal(body.get('size'), String(content.length));

    const replay = await put(policy.put.url, policy.put.headers, content);
    assert.equal(replay.status, 409);
    assert.match(replay.text, /<Code>FileAlreadyExists<\/Code>/);
    // Another length, another type, or no forbid-overwrite header: not what was signed.
    const other = await policyFor('carol', { job: 'usage-quota', filename: 'put2.txt', contentType: 'text/plain', size: content.length });
    const { 'x-oss-forbid-overwrite': _f, ...noForbid } = other.put.headers;
    for (const [what, headers, bytes] of [
      ['a longer body', { ...other.put.headers, 'content-length': String(content.length + 5) }, Buffer.concat([content, Buffer.from('extra')])],
      ['another type', { ...other.put.headers, 'content-type': 'text/html' }, content],
      ['no x-oss-forbid-overwrite', noForbid, content],
    ] as const) {
      const refused = await put(other.put.url, headers, bytes);
      assert.equal(refused.status, 403, `${what}: ${refused.text}`);
      assert.match(refused.text, /<Code>SignatureDoesNotMatch<\/Code>/, what);
    }
    assert.equal(received.length, calls + 1);
  });

  it('npm start\'s event targets: each job gets the events of its own key space (s.yaml\'s filters), nothing else', async () => {
    const got: [string, string, string, number][] = [];
    const jobs = ['record-upload', 'image-upload', 'usage-quota', 'media-job'];
    const functions = jobs.map((name) => ({
      kind: 'callback',
      name,
      handler: async (event: Buffer, context: { function: { name: string }; retryCount: number }) => {
        for (const e of (JSON.parse(event.toString()) as { events: OssEventRecord[] }).events) got.push([name, e.oss.object.key, context.function.name, context.retryCount]);
      },
    })) as unknown as AnyLoadedFunction[];
    // media-job's filter moved by its settings, as `export MEDIA_JOB_EVENT_PREFIX=videos/` moves its trigger.
    const targets = functionEventTargets(functions, { region: 'cn-hangzhou', accountId: '1234567890123456', credentials: KEY }, { MEDIA_JOB_EVENT_PREFIX: 'videos/', MEDIA_JOB_EVENT_SUFFIX: '.mp4' });
    assert.deepEqual(targets.map((t) => [t.name, t.prefix, t.suffix]), [
      ['record-upload', 'uploads/record-upload/', ''], ['image-upload', 'uploads/image-upload/', ''], ['usage-quota', 'uploads/usage-quota/', ''], ['media-job', 'videos/', '.mp4'],
    ]);
    const local = await startOssEmulator({ port: 0, dataDir: join(tmp, 'jobs-data'), buckets: new Set([BUCKET]), credentials: KEY, region: 'cn-hangzhou', eventTargets: targets });
    try {
      const keys: Record<string, string> = {};
      for (const job of jobs) {
        const policy = await policyFor('dora', { job, filename: 'a.png', contentType: 'image/png', size: 4 });
        const posted = await postForm({ ...policy, url: policy.url.replace(emulator.url, local.url) }, policy.fields, 'png?');
        assert.equal(posted.status, 200, `${job}: ${await posted.text()}`);
        keys[job] = policy.key;
      }
      const direct = new OSS({ endpoint: local.url, region: 'oss-cn-hangzhou', bucket: BUCKET, ...KEY });
      for (const key of ['videos/a.mp4', 'videos/a.mov', 'elsewhere/a.png']) await direct.put(key, Buffer.from(key));
      await direct.delete(keys['usage-quota']);
      await local.eventsIdle();
      assert.deepEqual(got.sort(), [
        ['image-upload', keys['image-upload']!, 'image-upload', 0],
        ['media-job', 'videos/a.mp4', 'media-job', 0],
        ['record-upload', keys['record-upload']!, 'record-upload', 0],
        ['usage-quota', keys['usage-quota']!, 'usage-quota', 0],
        ['usage-quota', keys['usage-quota']!, 'usage-quota', 0],
      ]);
      // media-job's own upload-policy key is outside its moved prefix: no events (move UPLOAD_KEY_PREFIX with it).
      assert.ok(keys['media-job']!.startsWith('uploads/media-job/dora/'));
    } finally {
      await local.close();
    }
  });
});
