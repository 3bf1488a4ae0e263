/**
 * Signed record-upload callbacks for the benchmarks: a fresh 512-bit RSA key (the size of OSS's own
 * key, so verification costs what it costs in production) and many distinct uploads, all signed
 * before a measurement starts so that the load generator does no crypto.
 */
import { createPrivateKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import type { CallbackRequest } from '../../shared/core/http.js';
import { createKeyResolver, type KeyResolver } from '../../shared/protocol/index.js';
import { stringToSign } from '../../shared/protocol/signature.js';
import { generateTestKeyPair } from '../../shared/testing/sign.js';
import { body, FORM, uploadValues } from '../../test/helpers/callbacks.js';

/** OSS's pinned key is 512-bit RSA; the benchmarks sign with a key of the same size. */
export const OSS_KEY_BITS = 512;
/**
 * A key URL of the shape OSS sends (its host, a `callback_pub_key_v<n>.pem` path), so that resolving it
 * goes through the same URL checks as a real callback. The resolver gets the PEM from an injected
 * fetcher once (never the network) and caches it, like a fetched OSS key.
 */
export const OSS_SHAPED_KEY_URL = 'https://gosspublic.alicdn.com/callback_pub_key_v98.pem';
/** A local key URL listed in an `OSS_PUBLIC_KEYS_FILE` (what `npm start` trusts). */
export const LOCAL_KEY_URL = 'http://127.0.0.1/oss-callback-bench-key.pem';

export interface BenchKey {
  privateKeyPem: string;
  publicKeyPem: string;
  /** Parsed once: parsing the PEM for every signature would cost about a millisecond each. */
  privateKey: KeyObject;
}

let key: BenchKey | undefined;
export function benchKey(): BenchKey {
  if (!key) {
    const pair = generateTestKeyPair(OSS_KEY_BITS);
    key = { ...pair, privateKey: createPrivateKey(pair.privateKeyPem) };
  }
  return key;
}

/** The resolver a deployed function uses, with the bench key standing in for a fetched OSS key. */
export function ossShapedResolver(): KeyResolver {
  const { publicKeyPem } = benchKey();
  return createKeyResolver({
    fetchPem: async (url) => {
      if (url !== OSS_SHAPED_KEY_URL) throw new Error(`unexpected key fetch ${url}`);
      return publicKeyPem;
    },
  });
}

/** An `OSS_PUBLIC_KEYS_FILE` in a fresh temporary folder that trusts the bench key at LOCAL_KEY_URL. */
export function localKeysFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'oss-cb-bench-keys-')), 'public-keys.json');
  writeFileSync(file, JSON.stringify({ [LOCAL_KEY_URL]: benchKey().publicKeyPem }));
  return file;
}

/** record-upload's form template plus one custom variable, as the README suggests. */
export const TEMPLATE = `${recordUpload.template.form}&x:owner=\${x:owner}`;

let serial = 0;
/**
 * One signed record-upload form callback for a distinct upload (its own OSS request id), as an
 * adapter hands it to the core; signed like shared/testing/sign.ts signs, with the parsed bench key.
 */
export function signedUpload(keyUrl: string, path = '/record-upload'): CallbackRequest {
  const n = ++serial;
  const payload = Buffer.from(
    body(
      TEMPLATE,
      uploadValues({
        object: `bench/${randomBytes(4).toString('hex')}/photo-${n}.jpg`,
        size: 1000 + (n % 100000),
        'x:owner': `user-${n % 97}`,
      }),
    ),
  );
  const signature = sign('md5', stringToSign(path, null, payload), benchKey().privateKey);
  return {
    method: 'POST',
    rawPath: path,
    rawQuery: null,
    headers: {
      'content-type': FORM,
      'content-length': String(payload.length),
      'x-oss-request-id': `BENCH${String(n).padStart(19, '0')}`,
      authorization: signature.toString('base64'),
      'x-oss-pub-key-url': Buffer.from(keyUrl, 'utf8').toString('base64'),
    },
    body: payload,
    requestId: `bench-${n}`,
    receivedAt: Date.now(),
  };
}

export function signedUploads(count: number, keyUrl: string, path?: string): CallbackRequest[] {
  return Array.from({ length: count }, () => signedUpload(keyUrl, path));
}
