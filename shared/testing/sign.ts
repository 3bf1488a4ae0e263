/**
 * Signing callbacks the way OSS does, with a key of our own. For tests and development tools only:
 * never import this from a function (nothing in production signs callbacks).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { stringToSign } from '../protocol/signature.js';

export interface TestKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** A fresh RSA key pair (PKCS#8 private, SPKI public, both PEM). OSS's own key is 512-bit; default 1024. */
export function generateTestKeyPair(modulusLength = 1024): TestKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength,
    publicExponent: 65537,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

export interface SignCallbackInput {
  privateKeyPem: string;
  /** The key URL to announce in `x-oss-pub-key-url` (it must resolve to the matching public key). */
  keyUrl: string;
  /** The path as sent on the wire (percent-encoded). */
  rawPath: string;
  /** The raw query after `?`; `''` for a bare `?`; `null` for no `?`. */
  rawQuery: string | null;
  body: Buffer | string;
}

/** The two headers OSS adds to a callback: base64 RSA-MD5 signature and base64 key URL. */
export function signCallback(input: SignCallbackInput): { authorization: string; 'x-oss-pub-key-url': string } {
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  const signature = sign('md5', stringToSign(input.rawPath, input.rawQuery, body), input.privateKeyPem);
  return {
    authorization: signature.toString('base64'),
    'x-oss-pub-key-url': Buffer.from(input.keyUrl, 'utf8').toString('base64'),
  };
}
