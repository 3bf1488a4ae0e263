import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CallbackError,
  checkKeyUrl,
  createKeyResolver,
  fetchPemOverHttps,
  loadTrustedKeysFile,
  MAX_KEY_VERSION,
  PINNED_KEY_URL_PATH,
  pinnedPublicKey,
} from '../../../shared/protocol/index.js';
import { isCode } from '../../helpers/errors.js';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/keys/${name}`, import.meta.url), 'utf8');
const DEV_PUBLIC_PEM = fixture('dev-public.pem');
const DEV_PRIVATE_PEM = fixture('dev-private.pem');
const DEV_KEY_URL = 'http://127.0.0.1/oss-callback-dev-key.pem';


/** A fake fetchPem that records its calls. */
function fakeFetch(impl: (url: string, signal: AbortSignal) => Promise<string>) {
  const calls: string[] = [];
  const fetchPem = (url: string, signal: AbortSignal): Promise<string> => {
    calls.push(url);
    return impl(url, signal);
  };
  return { calls, fetchPem };
}

const neverFetch = () =>
  fakeFetch(async () => {
    throw new Error('fetchPem must not be called');
  });

describe('checkKeyUrl', () => {
  const allowed = [
    'http://gosspublic.alicdn.com/callback_pub_key_v1.pem',
    'https://gosspublic.alicdn.com/callback_pub_key_v1.pem',
    'https://gosspublic.alicdn.com/callback_pub_key_v2.pem',
    'https://gosspublic.alicdn.com/callback_pub_key_v99.pem',
  ];
  for (const url of allowed) {
    it(`allows ${url}`, () => {
      const parsed = checkKeyUrl(url);
      assert.equal(parsed.hostname, 'gosspublic.alicdn.com');
    });
  }

  const forbidden: [url: string, why: RegExp][] = [
    ['https://evil.com/callback_pub_key_v1.pem', /points at evil\.com, not gosspublic\.alicdn\.com: a forged callback or a test key; for local keys use OSS_PUBLIC_KEYS_FILE/],
    ['https://gosspublic.alicdn.com.evil.com/callback_pub_key_v1.pem', /points at gosspublic\.alicdn\.com\.evil\.com/],
    ['https://evil.com/gosspublic.alicdn.com/callback_pub_key_v1.pem', /points at evil\.com/],
    ['https://evil.com/callback_pub_key_v1.pem?gosspublic.alicdn.com', /points at evil\.com/],
    ['https://gosspublic.alicdn.com@evil.com/callback_pub_key_v1.pem', /user info.*real host is evil\.com/],
    ['https://user:pass@gosspublic.alicdn.com/callback_pub_key_v1.pem', /user info/],
    ['https://evil.com\\@gosspublic.alicdn.com/callback_pub_key_v1.pem', /backslash/],
    ['https://evil.com#@gosspublic.alicdn.com/callback_pub_key_v1.pem', /points at evil\.com/],
    ['https://evil.com?@gosspublic.alicdn.com/callback_pub_key_v1.pem', /points at evil\.com/],
    ['https://gosspublic.alicdn.com:443/callback_pub_key_v1.pem', /port/],
    ['http://gosspublic.alicdn.com:80/callback_pub_key_v1.pem', /port/],
    ['https://gosspublic.alicdn.com:8443/callback_pub_key_v1.pem', /port/],
    ['https://gosspublic.alicdn.com:/callback_pub_key_v1.pem', /port/],
    ['https://47.110.23.10/callback_pub_key_v1.pem', /points at 47\.110\.23\.10/],
    ['https://[::1]/callback_pub_key_v1.pem', /points at \[::1\]/],
    ['https://0x7f000001/callback_pub_key_v1.pem', /points at 0x7f000001/],
    ['http://127.0.0.1/oss-callback-dev-key.pem', /points at 127\.0\.0\.1/],
    ['ftp://gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['file:///callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['file://gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['//gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['https:gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['https:/gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['HTTPS://gosspublic.alicdn.com/callback_pub_key_v1.pem', /lower case/],
    ['hTtP://gosspublic.alicdn.com/callback_pub_key_v1.pem', /lower case/],
    ['https://GOSSPUBLIC.alicdn.com/callback_pub_key_v1.pem', /points at GOSSPUBLIC\.alicdn\.com/],
    ['https://g\u043esspublic.alicdn.com/callback_pub_key_v1.pem', /non-ASCII/], // Cyrillic о
    ['https://gosspublic.alicdn.com\u3002/callback_pub_key_v1.pem', /non-ASCII/], // ideographic full stop
    ['https://gosspublic\uff0ealicdn.com/callback_pub_key_v1.pem', /non-ASCII/], // fullwidth full stop
    ['https://xn--gsspublic-9ya.alicdn.com/callback_pub_key_v1.pem', /points at xn--/],
    ['https://gosspublic.alicdn.com./callback_pub_key_v1.pem', /trailing dot/],
    ['https://goss\tpublic.alicdn.com/callback_pub_key_v1.pem', /control/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v1.pem\n', /control/],
    [' https://gosspublic.alicdn.com/callback_pub_key_v1.pem', /spaces/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v1.pem?x=1', /query/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v1.pem?', /query/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v1.pem#x', /fragment/],
    ['https://gosspublic.alicdn.com/%63allback_pub_key_v1.pem', /percent/],
    ['https://gosspublic%2ealicdn.com/callback_pub_key_v1.pem', /percent/],
    ['https://gosspublic.alicdn.com/callback_pub_key/../evil.pem', /path/],
    ['https://gosspublic.alicdn.com/other.pem', /path/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v1.txt', /path/],
    // Only OSS's key naming: invented names are refused without a fetch.
    ['https://gosspublic.alicdn.com/callback_pub_key.pem', /OSS's key naming \/callback_pub_key_v<1-99>\.pem/],
    ['https://gosspublic.alicdn.com/callback_pub_key-2024_x.1.pem', /key naming/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v0.pem', /key naming/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v01.pem', /key naming/],
    ['https://gosspublic.alicdn.com/callback_pub_key_v100.pem', /key naming/],
    ['https://gosspublic.alicdn.com/callback_pub_key_x1.pem', /key naming/],
    ['https://gosspublic.alicdn.com/dir/callback_pub_key_v1.pem', /path/],
    ['https://gosspublic.alicdn.com', /path/],
    ['https://gosspublic.alicdn.com/', /path/],
    ['javascript:alert(1)//gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['data:text/plain,gosspublic.alicdn.com/callback_pub_key_v1.pem', /http:\/\/ or https:\/\//],
    ['', /empty/],
    [`https://gosspublic.alicdn.com/callback_pub_key_${'a'.repeat(3000)}.pem`, /characters long/],
  ];
  for (const [url, why] of forbidden) {
    it(`refuses ${JSON.stringify(url.length > 80 ? `${url.slice(0, 80)}…` : url)}`, async () => {
      assert.throws(() => checkKeyUrl(url), isCode('PublicKeyUrlForbidden', why));
      const fetch = neverFetch();
      const resolver = createKeyResolver({ fetchPem: fetch.fetchPem });
      await assert.rejects(resolver.resolve(url), isCode('PublicKeyUrlForbidden', why));
      assert.deepEqual(fetch.calls, []);
    });
  }
});

describe('createKeyResolver', () => {
  it('serves the pinned key over http and https without the network', async () => {
    const fetch = neverFetch();
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem });
    const viaHttp = await resolver.resolve(`http://gosspublic.alicdn.com${PINNED_KEY_URL_PATH}`);
    const viaHttps = await resolver.resolve(`https://gosspublic.alicdn.com${PINNED_KEY_URL_PATH}`);
    assert.ok(viaHttp.equals(pinnedPublicKey()));
    assert.ok(viaHttps.equals(pinnedPublicKey()));
    assert.equal(viaHttp.asymmetricKeyDetails?.modulusLength, 512);
    assert.equal(viaHttp.asymmetricKeyDetails?.publicExponent, 65537n);
    assert.deepEqual(fetch.calls, []);
  });

  it('fetches another allowed key once, over https, and caches it', async () => {
    const fetch = fakeFetch(async () => DEV_PUBLIC_PEM);
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem });
    const first = await resolver.resolve('http://gosspublic.alicdn.com/callback_pub_key_v2.pem');
    const second = await resolver.resolve('https://gosspublic.alicdn.com/callback_pub_key_v2.pem');
    assert.equal(first, second);
    assert.equal(first.asymmetricKeyDetails?.modulusLength, 1024);
    assert.deepEqual(fetch.calls, ['https://gosspublic.alicdn.com/callback_pub_key_v2.pem']);
  });

  it('shares one in-flight fetch between concurrent resolves', async () => {
    let release!: (pem: string) => void;
    const fetch = fakeFetch(() => new Promise<string>((resolve) => (release = resolve)));
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem });
    const pending = Array.from({ length: 5 }, () => resolver.resolve('https://gosspublic.alicdn.com/callback_pub_key_v3.pem'));
    await new Promise((resolve) => setImmediate(resolve));
    release(DEV_PUBLIC_PEM);
    const keys = await Promise.all(pending);
    assert.equal(fetch.calls.length, 1);
    for (const key of keys) assert.equal(key, keys[0]);
  });

  it('after a failure, fails fast during the backoff, then fetches again', async () => {
    let attempt = 0;
    const fetch = fakeFetch(async () => {
      attempt++;
      if (attempt === 1) throw new Error('HTTP status 404');
      return DEV_PUBLIC_PEM;
    });
    const url = 'https://gosspublic.alicdn.com/callback_pub_key_v4.pem';
    const backingOff = createKeyResolver({ fetchPem: fetch.fetchPem });
    const failure = isCode('PublicKeyUnavailable', /https:\/\/gosspublic\.alicdn\.com\/callback_pub_key_v4\.pem: HTTP status 404/);
    await assert.rejects(backingOff.resolve(url), failure);
    await assert.rejects(backingOff.resolve(url), failure);
    assert.equal(fetch.calls.length, 1, 'no second fetch during the backoff');

    attempt = 0;
    const retrying = createKeyResolver({ fetchPem: fetch.fetchPem, failureBackoffMs: 0 });
    await assert.rejects(retrying.resolve(url), failure);
    const key = await retrying.resolve(url);
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(fetch.calls.length, 3);
  });

  it('a stranger naming every invented key path cannot starve a real new one (per-path budget, no shared one)', async () => {
    const published = new Map([['https://gosspublic.alicdn.com/callback_pub_key_v2.pem', DEV_PUBLIC_PEM]]);
    const fetch = fakeFetch(async (url) => {
      const pem = published.get(url);
      if (pem === undefined) throw new Error('HTTP status 404');
      return pem;
    });
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem });
    // Invented names outside OSS's naming are refused before any fetch…
    for (let i = 0; i < 50; i++) {
      await assert.rejects(resolver.resolve(`https://gosspublic.alicdn.com/callback_pub_key_x${i}.pem`), isCode('PublicKeyUrlForbidden'));
    }
    assert.equal(fetch.calls.length, 0);
    // …and every invented version costs one fetch, then backs off on its own.
    for (let v = 3; v <= MAX_KEY_VERSION; v++) {
      await assert.rejects(resolver.resolve(`https://gosspublic.alicdn.com/callback_pub_key_v${v}.pem`), isCode('PublicKeyUnavailable', /HTTP status 404/));
      await assert.rejects(resolver.resolve(`http://gosspublic.alicdn.com/callback_pub_key_v${v}.pem`), isCode('PublicKeyUnavailable', /HTTP status 404/));
    }
    assert.equal(fetch.calls.length, MAX_KEY_VERSION - 2, 'one fetch per invented version, none during its backoff');
    // The real new key path is still fetched, and verifies.
    const key = await resolver.resolve('https://gosspublic.alicdn.com/callback_pub_key_v2.pem');
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(fetch.calls.at(-1), 'https://gosspublic.alicdn.com/callback_pub_key_v2.pem');
  });

  it('a key path a stranger named before OSS published it is fetched again after the backoff', async () => {
    let published = false;
    const fetch = fakeFetch(async () => {
      if (!published) throw new Error('HTTP status 404');
      return DEV_PUBLIC_PEM;
    });
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem, failureBackoffMs: 0 });
    const url = 'https://gosspublic.alicdn.com/callback_pub_key_v3.pem';
    await assert.rejects(resolver.resolve(url), isCode('PublicKeyUnavailable', /HTTP status 404/));
    published = true;
    assert.equal((await resolver.resolve(url)).asymmetricKeyType, 'rsa');
    assert.equal(fetch.calls.length, 2);
  });

  it('concurrent resolves share the failure too', async () => {
    let fail!: (error: Error) => void;
    const fetch = fakeFetch(() => new Promise<string>((_, reject) => (fail = reject)));
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem });
    const url = 'https://gosspublic.alicdn.com/callback_pub_key_v5.pem';
    const pending = [resolver.resolve(url), resolver.resolve(url)];
    await new Promise((resolve) => setImmediate(resolve));
    fail(new Error('ECONNRESET'));
    for (const p of pending) await assert.rejects(p, isCode('PublicKeyUnavailable', /ECONNRESET/));
    assert.equal(fetch.calls.length, 1);
  });

  it('honours the timeout, and aborts the fetch signal', async () => {
    let sawAbort = false;
    const fetch = fakeFetch(
      (_url, signal) =>
        new Promise<string>((_, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(signal.reason);
          });
        }),
    );
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem, fetchTimeoutMs: 30 });
    const started = Date.now();
    await assert.rejects(
      resolver.resolve('https://gosspublic.alicdn.com/callback_pub_key_v6.pem'),
      isCode('PublicKeyUnavailable', /callback_pub_key_v6\.pem: timed out after 30 ms/),
    );
    assert.ok(Date.now() - started < 1000);
    assert.ok(sawAbort);
  });

  it('times out even when the fetcher ignores its signal', async () => {
    const fetch = fakeFetch(() => new Promise<string>(() => {}));
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem, fetchTimeoutMs: 30 });
    await assert.rejects(
      resolver.resolve('https://gosspublic.alicdn.com/callback_pub_key_v7.pem'),
      isCode('PublicKeyUnavailable', /timed out after 30 ms/),
    );
  });

  it('refuses a fetched document that is not a public key PEM', async () => {
    for (const [body, why] of [
      ['<html>not found</html>', /not a PEM public key/],
      [DEV_PRIVATE_PEM, /private key/],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', /unparsable/],
    ] as const) {
      const resolver = createKeyResolver({ fetchPem: async () => body });
      await assert.rejects(
        resolver.resolve('https://gosspublic.alicdn.com/callback_pub_key_v8.pem'),
        isCode('PublicKeyUnavailable', why),
      );
    }
  });

  it('gives up when the caller aborts, but the shared fetch still completes and is cached', async () => {
    let release!: (pem: string) => void;
    const fetch = fakeFetch(() => new Promise<string>((resolve) => (release = resolve)));
    const resolver = createKeyResolver({ fetchPem: fetch.fetchPem });
    const url = 'https://gosspublic.alicdn.com/callback_pub_key_v9.pem';
    const controller = new AbortController();
    const waiting = resolver.resolve(url, controller.signal);
    controller.abort();
    await assert.rejects(waiting, isCode('DeadlineExceeded'));
    const deadline = new CallbackError('DeadlineExceeded', 'the 4 s deadline passed');
    await assert.rejects(resolver.resolve(url, AbortSignal.abort(deadline)), (error) => error === deadline);
    release(DEV_PUBLIC_PEM);
    const key: KeyObject = await resolver.resolve(url);
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(fetch.calls.length, 1);
  });

  it('uses trusted keys by exact URL, for any URL, without fetching', async () => {
    const fetch = neverFetch();
    const resolver = createKeyResolver({ trustedKeys: { [DEV_KEY_URL]: DEV_PUBLIC_PEM }, fetchPem: fetch.fetchPem });
    const key = await resolver.resolve(DEV_KEY_URL);
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 1024);
    await assert.rejects(resolver.resolve(`${DEV_KEY_URL}/`), isCode('PublicKeyUrlForbidden'));
    await assert.rejects(resolver.resolve('constructor'), isCode('PublicKeyUrlForbidden'));
    await assert.rejects(resolver.resolve('__proto__'), isCode('PublicKeyUrlForbidden'));
    assert.deepEqual(fetch.calls, []);
  });

  it('reports a trusted key that is not a public key', async () => {
    const resolver = createKeyResolver({ trustedKeys: { [DEV_KEY_URL]: 'nope' } });
    await assert.rejects(resolver.resolve(DEV_KEY_URL), isCode('PublicKeyUnavailable', /trusted key configured for/));
  });
});

describe('loadTrustedKeysFile', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'oss-keys-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('loads the committed development key list', () => {
    const keys = loadTrustedKeysFile(fileURLToPath(new URL('../../fixtures/keys/public-keys.json', import.meta.url)));
    assert.deepEqual(Object.keys(keys), [DEV_KEY_URL]);
    assert.equal(keys[DEV_KEY_URL], DEV_PUBLIC_PEM);
  });

  const bad: [name: string, text: string | null, why: RegExp][] = [
    ['missing.json', null, /unreadable/],
    ['invalid.json', '{"a":', /not valid JSON/],
    ['array.json', '[]', /must hold a JSON object/],
    ['string.json', '"x"', /must hold a JSON object/],
    ['null.json', 'null', /must hold a JSON object/],
    ['number-value.json', '{"http://k/": 5}', /"http:\/\/k\/".*expected a PEM string, got number/],
    ['garbage-value.json', '{"http://k/": "hello"}', /not a PEM public key/],
    ['private-value.json', JSON.stringify({ 'http://k/': DEV_PRIVATE_PEM }), /private key/],
  ];
  for (const [name, text, why] of bad) {
    it(`refuses ${name}`, () => {
      const path = text === null ? join(dir, name) : write(name, text);
      assert.throws(
        () => loadTrustedKeysFile(path),
        (error: unknown) => {
          assert.ok(error instanceof Error && !(error instanceof CallbackError));
          assert.match(error.message, /OSS_PUBLIC_KEYS_FILE/);
          assert.match(error.message, why);
          return true;
        },
      );
    });
  }
});

describe('fetchPemOverHttps', () => {
  const cert = fixture('tls-localhost-cert.pem');
  const server = createServer({ cert, key: fixture('tls-localhost-key.pem') }, (req, res) => {
    if (req.url === '/key.pem') res.end(DEV_PUBLIC_PEM);
    else if (req.url === '/big.pem') res.end('x'.repeat(20_000));
    else if (req.url === '/slow.pem') setTimeout(() => res.end(DEV_PUBLIC_PEM), 5_000).unref();
    else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  let base = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const signal = () => new AbortController().signal;

  it('downloads a PEM', async () => {
    assert.equal(await fetchPemOverHttps(`${base}/key.pem`, signal(), { ca: cert }), DEV_PUBLIC_PEM);
  });
  it('refuses a status other than 200', async () => {
    await assert.rejects(fetchPemOverHttps(`${base}/nope.pem`, signal(), { ca: cert }), /HTTP status 404/);
  });
  it('stops reading after 16 KB', async () => {
    await assert.rejects(fetchPemOverHttps(`${base}/big.pem`, signal(), { ca: cert }), /over 16384 bytes/);
  });
  it('honours the signal', async () => {
    const started = Date.now();
    await assert.rejects(fetchPemOverHttps(`${base}/slow.pem`, AbortSignal.timeout(50), { ca: cert }));
    assert.ok(Date.now() - started < 2000);
  });
  it('checks the certificate', async () => {
    await assert.rejects(fetchPemOverHttps(`${base}/key.pem`, signal()), /self-signed certificate/);
  });
  it('only speaks https', async () => {
    await assert.rejects(fetchPemOverHttps('http://127.0.0.1/key.pem', signal()), /only https|but https/);
  });
});
