import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CallbackError,
  createKeyResolver,
  decodeBase64Strict,
  loadTrustedKeysFile,
  stringToSign,
  verifyCallbackSignature,
  type SignedRequest,
} from '../../../shared/protocol/index.js';
import { generateTestKeyPair, signCallback } from '../../../shared/testing/sign.js';
import { isCode } from '../../helpers/errors.js';


const b64 = (text: string): string => Buffer.from(text).toString('base64');

/** A resolver that proves no network is used. */
function offlineResolver(trustedKeys?: Record<string, string>) {
  let fetches = 0;
  const keys = createKeyResolver({
    trustedKeys,
    fetchPem: async () => {
      fetches++;
      throw new Error('no network in this test');
    },
  });
  return { keys, fetches: () => fetches };
}

// §7.3: the official documentation vector, signed by OSS's key.
const OFFICIAL: SignedRequest = {
  rawPath: '/index.php',
  rawQuery: 'id=1&index=2',
  headers: {
    authorization: 'kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA==',
    'x-oss-pub-key-url': 'aHR0cDovL2dvc3NwdWJsaWMuYWxpY2RuLmNvbS9jYWxsYmFja19wdWJfa2V5X3YxLnBlbQ==',
  },
  body: Buffer.from('bucket=yonghu-test'),
};

describe('stringToSign', () => {
  it('matches the official vector and its MD5', () => {
    const data = stringToSign('/index.php', 'id=1&index=2', Buffer.from('bucket=yonghu-test'));
    assert.equal(data.toString('utf8'), '/index.php?id=1&index=2\nbucket=yonghu-test');
    assert.equal(createHash('md5').update(data).digest('hex'), '5b74fc97cc385b45c6c8b7782d5a2140');
  });
  it('adds "?" for an empty query and nothing for no query', () => {
    assert.equal(stringToSign('/cb', '', Buffer.from('b')).toString(), '/cb?\nb');
    assert.equal(stringToSign('/cb', null, Buffer.from('b')).toString(), '/cb\nb');
  });
  it('decodes the path byte-wise but leaves the query raw', () => {
    const data = stringToSign('/a+b/%E4%B8%AD%2B%zz', 'x=%2F+y', Buffer.from([0xff]));
    assert.deepEqual(data, Buffer.concat([Buffer.from('/a+b/中+%zz?x=%2F+y\n'), Buffer.from([0xff])]));
  });
});

describe('verifyCallbackSignature: official vector (pinned key, no network)', () => {
  it('verifies', async () => {
    const { keys, fetches } = offlineResolver();
    const result = await verifyCallbackSignature(OFFICIAL, keys);
    assert.deepEqual(result, { keyUrl: 'http://gosspublic.alicdn.com/callback_pub_key_v1.pem', query: 'id=1&index=2' });
    assert.equal(fetches(), 0);
  });
  it('verifies when the key URL says https (the key URL is not signed)', async () => {
    const { keys, fetches } = offlineResolver();
    const request = {
      ...OFFICIAL,
      headers: { ...OFFICIAL.headers, 'x-oss-pub-key-url': b64('https://gosspublic.alicdn.com/callback_pub_key_v1.pem') },
    };
    const result = await verifyCallbackSignature(request, keys);
    assert.equal(result.keyUrl, 'https://gosspublic.alicdn.com/callback_pub_key_v1.pem');
    assert.equal(fetches(), 0);
  });
  it('refuses the altered body of the later doc revision (bucket=examplebucket)', async () => {
    const { keys } = offlineResolver();
    await assert.rejects(
      verifyCallbackSignature({ ...OFFICIAL, body: Buffer.from('bucket=examplebucket') }, keys),
      isCode('SignatureInvalid'),
    );
  });
  it('refuses the same request with the query dropped or reordered', async () => {
    const { keys } = offlineResolver();
    await assert.rejects(verifyCallbackSignature({ ...OFFICIAL, rawQuery: null }, keys), isCode('SignatureInvalid'));
    await assert.rejects(verifyCallbackSignature({ ...OFFICIAL, rawQuery: 'index=2&id=1' }, keys), isCode('SignatureInvalid'));
  });
  it('falls back to altQueries in order and returns the one that verified', async () => {
    const { keys } = offlineResolver();
    const result = await verifyCallbackSignature(
      { ...OFFICIAL, rawQuery: 'index=2&id=1', altQueries: [null, '', 'id=1&index=2', 'id=1&index=3'] },
      keys,
    );
    assert.equal(result.query, 'id=1&index=2');
  });
  it('refuses the official signature with non-canonical base64 (strict decoding)', async () => {
    const { keys } = offlineResolver();
    const authorization = OFFICIAL.headers.authorization!.replace(/A==$/, 'B==');
    await assert.rejects(
      verifyCallbackSignature({ ...OFFICIAL, headers: { ...OFFICIAL.headers, authorization } }, keys),
      isCode('SignatureInvalid', /truncated or altered/),
    );
  });
});

interface DevCase {
  name: string;
  rawPath: string;
  rawQuery: string | null;
  contentType: string;
  body: string;
  headers: { authorization: string; 'x-oss-pub-key-url': string };
}
const devCases: DevCase[] = JSON.parse(
  readFileSync(new URL('../../fixtures/protocol/dev-signed.json', import.meta.url), 'utf8'),
);
const devCase = (name: string): DevCase => {
  const found = devCases.find((c) => c.name === name);
  assert.ok(found, `fixture ${name}`);
  return found;
};
const bodyBytes = (body: string): Buffer =>
  body.startsWith('base64:') ? Buffer.from(body.slice(7), 'base64') : Buffer.from(body, 'utf8');
const requestOf = (c: DevCase, overrides: Partial<SignedRequest> = {}): SignedRequest => ({
  rawPath: c.rawPath,
  rawQuery: c.rawQuery,
  headers: { ...c.headers, 'content-type': c.contentType },
  body: bodyBytes(c.body),
  ...overrides,
});
const DEV_KEYS_FILE = fileURLToPath(new URL('../../fixtures/keys/public-keys.json', import.meta.url));
const DEV_PRIVATE_PEM = readFileSync(new URL('../../fixtures/keys/dev-private.pem', import.meta.url), 'utf8');
const DEV_KEY_URL = 'http://127.0.0.1/oss-callback-dev-key.pem';

describe('verifyCallbackSignature: dev-key fixtures', () => {
  const { keys, fetches } = offlineResolver(loadTrustedKeysFile(DEV_KEYS_FILE));

  for (const c of devCases) {
    it(`verifies "${c.name}"`, async () => {
      const result = await verifyCallbackSignature(requestOf(c), keys);
      assert.deepEqual(result, { keyUrl: DEV_KEY_URL, query: c.rawQuery });
      assert.equal(fetches(), 0);
    });
    it(`signCallback reproduces "${c.name}"`, () => {
      const headers = signCallback({
        privateKeyPem: DEV_PRIVATE_PEM,
        keyUrl: DEV_KEY_URL,
        rawPath: c.rawPath,
        rawQuery: c.rawQuery,
        body: bodyBytes(c.body),
      });
      assert.deepEqual(headers, c.headers);
    });
  }

  const equivalentPaths: [fixture: string, rawPath: string, verifies: boolean][] = [
    ['utf-8 path, no query', '/callbacks/%e4%b8%ad%e6%96%87.php', true],
    ['utf-8 path, no query', '/callbacks/中文.php', true],
    ['utf-8 path, no query', '/callbacks/%E4%B8%AD%E6%96%87%2Ephp', true],
    ['utf-8 path, no query', '/callbacks/%25E4%25B8%25AD%25E6%2596%2587.php', false],
    ['plus in path stays a plus', '/cb/a%2Bb', true],
    ['plus in path stays a plus', '/cb/a%2bb', true],
    ['plus in path stays a plus', '/cb/a%20b', false],
    ['plus in path stays a plus', '/cb/a b', false],
    ['escaped percent in path', '/cb/100%', true],
    ['escaped percent in path', '/cb/100%2525', false],
    ['invalid escapes kept literally', '/cb/%25zz/%254', true],
    ['invalid escapes kept literally', '/cb/zz/4', false],
  ];
  for (const [name, rawPath, verifies] of equivalentPaths) {
    it(`${verifies ? 'accepts' : 'refuses'} ${rawPath} for "${name}"`, async () => {
      const promise = verifyCallbackSignature(requestOf(devCase(name), { rawPath }), keys);
      if (verifies) await promise;
      else await assert.rejects(promise, isCode('SignatureInvalid'));
    });
  }

  it('signs the raw query: a decoded or re-encoded query does not verify', async () => {
    const c = devCase('raw query is signed undecoded');
    for (const rawQuery of ['token=abc/def&n=1', 'n=1&token=abc%2Fdef', 'token=abc%2fdef&n=1', null, '']) {
      await assert.rejects(verifyCallbackSignature(requestOf(c, { rawQuery }), keys), isCode('SignatureInvalid'));
    }
  });
  it('a bare "?" is signed: dropping it breaks the signature', async () => {
    await assert.rejects(
      verifyCallbackSignature(requestOf(devCase('bare question mark'), { rawQuery: null }), keys),
      isCode('SignatureInvalid'),
    );
    await assert.rejects(
      verifyCallbackSignature(requestOf(devCase('plus in path stays a plus'), { rawQuery: '' }), keys),
      isCode('SignatureInvalid'),
    );
  });
  it('tries altQueries after rawQuery when the platform hid the raw query', async () => {
    const c = devCase('query order matters (for altQueries)');
    const result = await verifyCallbackSignature(
      requestOf(c, { rawQuery: 'b=%2F&a=1', altQueries: ['b=/&a=1', 'a=1&b=/', 'a=1&b=%2F'] }),
      keys,
    );
    assert.equal(result.query, 'a=1&b=%2F');
    await assert.rejects(
      verifyCallbackSignature(requestOf(c, { rawQuery: 'b=%2F&a=1', altQueries: ['b=/&a=1'] }), keys),
      isCode('SignatureInvalid', /2 spellings of the query were tried/),
    );
  });
  it('a changed body does not verify', async () => {
    const c = devCase('json body');
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(c.body), null, 1));
    await assert.rejects(verifyCallbackSignature(requestOf(c, { body: reserialized }), keys), isCode('SignatureInvalid'));
  });
});

describe('verifyCallbackSignature: errors', () => {
  const { keys, fetches } = offlineResolver(loadTrustedKeysFile(DEV_KEYS_FILE));
  const good = devCase('utf-8 path, no query');

  it('SignatureMissing without Authorization', async () => {
    const { authorization: _, ...headers } = good.headers;
    await assert.rejects(
      verifyCallbackSignature(requestOf(good, { headers }), keys),
      isCode('SignatureMissing', /no Authorization header.*always sends both.*not an OSS callback.*proxy dropped.*Apache/),
    );
    await assert.rejects(
      verifyCallbackSignature(requestOf(good, { headers: { ...good.headers, authorization: '' } }), keys),
      isCode('SignatureMissing', /Authorization/),
    );
  });
  it('SignatureMissing without x-oss-pub-key-url', async () => {
    await assert.rejects(
      verifyCallbackSignature(requestOf(good, { headers: { authorization: good.headers.authorization } }), keys),
      isCode('SignatureMissing', /no x-oss-pub-key-url header/),
    );
    await assert.rejects(
      verifyCallbackSignature(requestOf(good, { headers: { ...good.headers, 'x-oss-pub-key-url': '  ' } }), keys),
      isCode('SignatureMissing', /x-oss-pub-key-url/),
    );
  });
  it('PublicKeyUrlForbidden for a key URL that is not strict base64', async () => {
    const url = b64('http://gosspublic.alicdn.com/callback_pub_key_v1.pem');
    for (const header of [url.replace(/=+$/, ''), `${url.slice(0, 10)} ${url.slice(10)}`, `${url.slice(0, 8)}-${url.slice(9)}`, '!!!!', 'a', 'aHR0cA=x']) {
      await assert.rejects(
        verifyCallbackSignature(requestOf(good, { headers: { ...good.headers, 'x-oss-pub-key-url': header } }), keys),
        isCode('PublicKeyUrlForbidden', /not strict base64/),
        header,
      );
    }
    // base64 of bytes that are not UTF-8
    await assert.rejects(
      verifyCallbackSignature(
        requestOf(good, { headers: { ...good.headers, 'x-oss-pub-key-url': Buffer.from([0xff, 0xfe, 0x41]).toString('base64') } }),
        keys,
      ),
      isCode('PublicKeyUrlForbidden'),
    );
  });
  it('PublicKeyUrlForbidden for a forged key URL, without fetching it', async () => {
    await assert.rejects(
      verifyCallbackSignature(
        requestOf(good, { headers: { ...good.headers, 'x-oss-pub-key-url': b64('https://evil.com/callback_pub_key_v1.pem') } }),
        keys,
      ),
      isCode('PublicKeyUrlForbidden', /points at evil\.com/),
    );
    assert.equal(fetches(), 0);
  });
  it('SignatureInvalid for an Authorization that is not strict base64', async () => {
    const sig = good.headers.authorization;
    const bad = [sig.slice(0, -1), sig.slice(1), `${sig}=`, `${sig.slice(0, 8)}_${sig.slice(9)}`, `OSS LTAI:${sig}`, `${sig.slice(0, 20)}\n${sig.slice(20)}`, 'x'.repeat(4096)];
    for (const authorization of bad) {
      await assert.rejects(
        verifyCallbackSignature(requestOf(good, { headers: { ...good.headers, authorization } }), keys),
        isCode('SignatureInvalid', /truncated or altered/),
      );
    }
  });
  it('SignatureInvalid (not a crash) for a signature of the wrong length', async () => {
    for (const bytes of [1, 64, 127, 129, 256]) {
      const authorization = Buffer.alloc(bytes, 7).toString('base64');
      await assert.rejects(
        verifyCallbackSignature(requestOf(good, { headers: { ...good.headers, authorization } }), keys),
        isCode('SignatureInvalid'),
      );
    }
  });
  it('SignatureInvalid names the likely causes and never echoes the signature', async () => {
    const other = generateTestKeyPair();
    const headers = signCallback({ privateKeyPem: other.privateKeyPem, keyUrl: DEV_KEY_URL, rawPath: good.rawPath, rawQuery: null, body: bodyBytes(good.body) });
    await assert.rejects(verifyCallbackSignature(requestOf(good, { headers }), keys), (error: unknown) => {
      isCode('SignatureInvalid')(error);
      const { message } = error as CallbackError;
      assert.match(message, /proxy or gateway rewrote the path or query/);
      assert.match(message, /"\/callbacks\/中文\.php"/);
      assert.match(message, /OSS_CALLBACK_PATH_MAP/);
      assert.match(message, /re-serialized/);
      assert.match(message, /signed with another key than the one at http:\/\/127\.0\.0\.1\/oss-callback-dev-key\.pem/);
      assert.ok(!message.includes(headers.authorization));
      assert.ok(!message.includes(headers.authorization.slice(0, 16)));
      return true;
    });
  });
  it('passes PublicKeyUnavailable through from the resolver', async () => {
    await assert.rejects(
      verifyCallbackSignature(
        requestOf(good, { headers: { ...good.headers, 'x-oss-pub-key-url': b64('https://gosspublic.alicdn.com/callback_pub_key_v2.pem') } }),
        keys,
      ),
      isCode('PublicKeyUnavailable', /no network in this test/),
    );
  });
});

describe('decodeBase64Strict', () => {
  it('accepts canonical padded base64', () => {
    assert.deepEqual(decodeBase64Strict('aGk='), Buffer.from('hi'));
    assert.deepEqual(decodeBase64Strict('aGky'), Buffer.from('hi2'));
    assert.deepEqual(decodeBase64Strict('aA=='), Buffer.from('h'));
  });
  it('refuses everything Buffer.from would quietly accept', () => {
    for (const text of ['', 'aGk', 'aGk==', 'aG k=', 'aGl=', 'aB==', 'a-8=', 'a_8=', '====', 'aGk=aGk=', '\naGk=']) {
      assert.equal(decodeBase64Strict(text), undefined, JSON.stringify(text));
    }
  });
});
