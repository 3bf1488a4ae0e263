/**
 * The object check's HeadObject (shared/core/oss-head.ts) against the local OSS emulator, which
 * verifies V4 signatures exactly: the three addressings, keys OSS users really have, OSS's facts,
 * 404 → null, refused credentials; and, with loopback servers, what the emulator cannot do (a silent
 * OSS, a refused port, an abort).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { headObject, type HeadOptions } from '../../shared/core/oss-head.js';
import { CallbackError } from '../../shared/protocol/errors.js';
import { DEFAULT_CREDENTIALS, type OssEmulator, startOssEmulator } from '../../shared/testing/oss-emulator/index.js';
import { closedPort } from '../helpers/oss-head-server.js';

interface Client {
  put(name: string, body: Buffer, options?: object): Promise<{ res: { headers: Record<string, string> } }>;
}
const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => Client;

const KEYS = ['photos/cat.jpg', 'odd/sp ace/plus+/100%/q?x=1#frag/猫 1.png', 'a%2Fb/%20', "x/!'()*~._-"];
let emulator: OssEmulator;
const etags = new Map<string, string>();

before(async () => {
  emulator = await startOssEmulator({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'oss-cb-head-')), buckets: new Set(['examplebucket']) });
  const client = new OSS({ endpoint: emulator.url, region: 'oss-cn-hangzhou', bucket: 'examplebucket', ...DEFAULT_CREDENTIALS });
  for (const key of KEYS) {
    const put = await client.put(key, Buffer.from(`body of ${key}`), { headers: { 'Content-Type': 'image/png' } });
    etags.set(key, put.res.headers.etag!.replace(/"/g, ''));
  }
});
after(() => emulator?.close());

const options = (extra: Partial<HeadOptions> = {}): HeadOptions => ({ endpoint: emulator.url, region: 'cn-hangzhou', pathStyle: false, credentials: DEFAULT_CREDENTIALS, timeoutMs: 5000, ...extra });

describe('headObject against the local OSS (V4 verified)', () => {
  for (const [label, extra] of [
    ['IP endpoint (virtual host in Host)', {}],
    ['path-style on the IP', { pathStyle: true }],
    ['path-style on a host name', { pathStyle: true, endpoint: 'localhost' }],
  ] as const) {
    it(`${label}: OSS's facts for every key`, async () => {
      for (const key of KEYS) {
        const endpoint = 'endpoint' in extra ? emulator.url.replace('127.0.0.1', 'localhost') : emulator.url;
        const facts = await headObject({ bucket: 'examplebucket', key }, options({ ...extra, endpoint }));
        assert.ok(facts, key);
        assert.equal(facts.etag, etags.get(key), key);
        assert.equal(facts.size, Buffer.byteLength(`body of ${key}`), key);
        assert.equal(facts.contentType, 'image/png', key);
        assert.match(facts.crc64 ?? '', /^\d+$/, key);
        assert.ok(facts.lastModified instanceof Date, key);
        assert.match(facts.requestId ?? '', /^[0-9A-F]{24}$/, key);
      }
    });
  }

  it('a key that does not exist, or a near miss of one: null', async () => {
    assert.equal(await headObject({ bucket: 'examplebucket', key: 'photos/none.jpg' }, options()), null);
    assert.equal(await headObject({ bucket: 'examplebucket', key: 'odd/sp ace/plus /100%/q?x=1#frag/猫 1.png' }, options()), null);
    assert.equal(await headObject({ bucket: 'examplebucket', key: 'photos/cat.jpg/' }, options()), null);
  });

  it('refused credentials: OssAccessDenied naming the credentials, never the secret', async () => {
    const error = await headObject({ bucket: 'examplebucket', key: 'photos/cat.jpg' }, options({ credentials: { accessKeyId: DEFAULT_CREDENTIALS.accessKeyId, accessKeySecret: 'wrong-secret' } })).catch((e: unknown) => e);
    assert.ok(error instanceof CallbackError);
    assert.equal(error.code, 'OssAccessDenied');
    assert.match(error.message, /SignatureDoesNotMatch 403/);
    assert.match(error.message, /credentials/);
    assert.doesNotMatch(error.message, /wrong-secret/);
  });
});

describe('headObject when OSS fails', () => {
  it('a refused port: OssUnavailable naming ECONNREFUSED', async () => {
    const port = await closedPort();
    const error = await headObject({ bucket: 'examplebucket', key: 'a' }, options({ endpoint: `http://127.0.0.1:${port}` })).catch((e: unknown) => e);
    assert.ok(error instanceof CallbackError);
    assert.equal(error.code, 'OssUnavailable');
    assert.match(error.message, /ECONNREFUSED/);
  });

  it('a silent OSS: OssUnavailable at the timeout; an abort rejects with the signal reason', async () => {
    const hanging = new Set<ServerResponse>();
    const server = createServer((req, res) => {
      req.resume();
      hanging.add(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const timedOut = await headObject({ bucket: 'examplebucket', key: 'a' }, options({ endpoint, timeoutMs: 50 })).catch((e: unknown) => e);
      assert.ok(timedOut instanceof CallbackError);
      assert.equal(timedOut.code, 'OssUnavailable');
      assert.match(timedOut.message, /within 50 ms \(OSS_HEAD_TIMEOUT_MS\)/);
      const controller = new AbortController();
      const reason = new CallbackError('DeadlineExceeded', 'deadline');
      const pending = headObject({ bucket: 'examplebucket', key: 'a' }, options({ endpoint, signal: controller.signal }));
      setImmediate(() => controller.abort(reason));
      await assert.rejects(pending, (e) => e === reason);
    } finally {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close();
    }
  });
});
