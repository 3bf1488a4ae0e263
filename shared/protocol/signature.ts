/**
 * Callback signature verification: RSASSA-PKCS1-v1_5 with MD5 over
 * `percentDecode(rawPath) + ("?" + rawQuery if there was a "?") + "\n" + body`.
 */
import { type KeyObject, verify } from 'node:crypto';
import type { SignedRequest } from './http.js';
import { CallbackError } from './errors.js';
import type { KeyResolver } from './keys.js';
import { percentDecodeBytes } from './path.js';

/** A 4096-bit signature is 684 base64 characters; anything far longer is not a signature. */
const MAX_AUTHORIZATION_LENGTH = 2048;
const MAX_KEY_URL_HEADER_LENGTH = 4096;
/** Stateless between calls (no streaming), so one instance serves every callback. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The exact bytes OSS signs. `rawQuery === ''` (a bare `?`) still adds the `?`; `null` adds nothing. */
export function stringToSign(rawPath: string, rawQuery: string | null, body: Buffer): Buffer {
  const path = decodedPath(rawPath);
  const query = rawQuery === null ? undefined : queryBytes(rawQuery);
  const length = path.length + (query === undefined ? 0 : query.length) + 1 + body.length;
  const data = Buffer.allocUnsafe(length);
  let at = path.copy(data, 0);
  if (query !== undefined) at += query.copy(data, at);
  data[at++] = 0x0a; // \n
  body.copy(data, at);
  return data;
}

// The last path and query seen, as bytes: a function serves one path, and its callbacks mostly one
// query, so the next callback skips re-encoding them. (Read only: they are copied into the data.)
let lastPath: string | undefined;
let lastPathBytes: Buffer = Buffer.alloc(0);
let lastQuery: string | undefined;
let lastQueryBytes: Buffer = Buffer.alloc(0);

function decodedPath(rawPath: string): Buffer {
  if (rawPath !== lastPath) {
    lastPathBytes = percentDecodeBytes(rawPath);
    lastPath = rawPath;
  }
  return lastPathBytes;
}

function queryBytes(rawQuery: string): Buffer {
  if (rawQuery !== lastQuery) {
    lastQueryBytes = Buffer.from(`?${rawQuery}`, 'utf8');
    lastQuery = rawQuery;
  }
  return lastQueryBytes;
}

/**
 * Strict base64: standard alphabet, padded, length a multiple of 4, canonical trailing bits.
 * Returns undefined for anything else (`Buffer.from(s, 'base64')` silently skips junk).
 */
export function decodeBase64Strict(text: string): Buffer | undefined {
  const length = text.length;
  if (length === 0 || length % 4 !== 0) return undefined;
  // Up to two `=` at the end only; every other character from the alphabet.
  const padding = text.charCodeAt(length - 1) !== 0x3d ? 0 : text.charCodeAt(length - 2) === 0x3d ? 2 : 1;
  for (let i = length - padding - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c >= 128 || SEXTET[c]! === 0xff) return undefined;
  }
  // Canonical: the bits the padding leaves unused are zero (`QR==` and `QQ==` would decode alike).
  if (padding > 0 && (SEXTET[text.charCodeAt(length - 1 - padding)]! & (padding === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  return Buffer.from(text, 'base64');
}

/** The value of each base64 alphabet character (ASCII code → 0..63), 0xff for any other. */
const SEXTET = (() => {
  const table = new Uint8Array(128).fill(0xff);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

function missing(header: string): CallbackError {
  return new CallbackError(
    'SignatureMissing',
    `the request has no ${header} header. OSS always sends both Authorization and x-oss-pub-key-url, ` +
      'so this is probably not an OSS callback, or a proxy dropped the header ' +
      '(Apache is known to drop Authorization unless told to pass it on, e.g. CGIPassAuth On)',
  );
}

function safeVerify(data: Buffer, key: Parameters<typeof verify>[2], signature: Buffer): boolean {
  try {
    return verify('md5', data, key, signature);
  } catch {
    return false; // e.g. a signature longer than the modulus: simply not valid
  }
}

function describePath(rawPath: string): string {
  const decoded = percentDecodeBytes(rawPath).toString('utf8');
  return JSON.stringify(decoded.length > 200 ? `${decoded.slice(0, 200)}…` : decoded);
}

export type { SignedRequest };

/** What a verified signature establishes. */
export interface VerifiedSignature {
  keyUrl: string;
  query: string | null;
}

/**
 * Checks the OSS signature of a callback. Resolves with the key URL used and the query spelling that
 * verified (`rawQuery` first, then each of `altQueries`). Rejects with `CallbackError`:
 * `SignatureMissing`, `PublicKeyUrlForbidden`, `PublicKeyUnavailable` (from the resolver) or
 * `SignatureInvalid`. The signature itself never appears in a message.
 */
export async function verifyCallbackSignature(req: SignedRequest, keys: KeyResolver, signal?: AbortSignal): Promise<VerifiedSignature> {
  return checkCallbackSignature(req, keys, signal);
}

/**
 * `verifyCallbackSignature` without a promise when it needs none: when the resolver has the key at
 * hand (`KeyResolver.cached`) the answer is immediate, and a refusal throws; otherwise it returns
 * the promise of the key's resolution and the check.
 */
export function checkCallbackSignature(
  req: SignedRequest,
  keys: KeyResolver,
  signal?: AbortSignal,
): VerifiedSignature | Promise<VerifiedSignature> {
  const authorization = (req.headers['authorization'] ?? '').trim();
  const keyUrlHeader = (req.headers['x-oss-pub-key-url'] ?? '').trim();
  if (authorization === '') throw missing('Authorization');
  if (keyUrlHeader === '') throw missing('x-oss-pub-key-url');

  const keyUrl = decodeKeyUrl(keyUrlHeader);
  const signature =
    authorization.length <= MAX_AUTHORIZATION_LENGTH ? decodeBase64Strict(authorization) : undefined;
  if (!signature) {
    throw new CallbackError(
      'SignatureInvalid',
      'the Authorization header is not strict base64: the signature was truncated or altered ' +
        '(OSS sends the bare base64 RSA signature, not "OSS ak:sig")',
    );
  }

  const key = keys.cached?.(keyUrl);
  if (key !== undefined) return checkWithKey(req, keyUrl, key, signature);
  return keys.resolve(keyUrl, signal).then((resolved) => checkWithKey(req, keyUrl, resolved, signature));
}

// The last x-oss-pub-key-url header and its URL: OSS sends the same one on every callback. (Strict
// base64 has one spelling per byte string, so equal headers decode to the same URL.)
let lastKeyUrlHeader: string | undefined;
let lastKeyUrl = '';

function decodeKeyUrl(header: string): string {
  if (header === lastKeyUrlHeader) return lastKeyUrl;
  const bytes = header.length <= MAX_KEY_URL_HEADER_LENGTH ? decodeBase64Strict(header) : undefined;
  let keyUrl: string | undefined;
  if (bytes) {
    try {
      keyUrl = UTF8.decode(bytes);
    } catch {
      keyUrl = undefined;
    }
  }
  if (keyUrl === undefined) {
    throw new CallbackError(
      'PublicKeyUrlForbidden',
      'the x-oss-pub-key-url header is not strict base64 of a UTF-8 URL: OSS sends base64("https://gosspublic.alicdn.com/…")',
    );
  }
  lastKeyUrlHeader = header;
  lastKeyUrl = keyUrl;
  return keyUrl;
}

function checkWithKey(req: SignedRequest, keyUrl: string, key: KeyObject, signature: Buffer): VerifiedSignature {
  if (safeVerify(stringToSign(req.rawPath, req.rawQuery, req.body), key, signature)) return { keyUrl, query: req.rawQuery };
  const candidates: (string | null)[] = [req.rawQuery];
  for (const alt of req.altQueries ?? []) if (!candidates.includes(alt)) candidates.push(alt);
  for (let i = 1; i < candidates.length; i++) {
    const query = candidates[i]!;
    if (safeVerify(stringToSign(req.rawPath, query, req.body), key, signature)) return { keyUrl, query };
  }

  const tried = candidates.length === 1 ? '' : ` (${candidates.length} spellings of the query were tried)`;
  throw new CallbackError(
    'SignatureInvalid',
    `the callback signature does not match the request${tried}. Likely causes: ` +
      `(1) a proxy or gateway rewrote the path or query: the path verified was ${describePath(req.rawPath)} ` +
      `${req.rawQuery === null ? 'without a query' : 'with its query string'}, but OSS signs the path and query of ` +
      'callbackUrl exactly as it sent them; if a proxy changes the path, map it back with OSS_CALLBACK_PATH_MAP; ' +
      '(2) the body was changed or re-serialized (parsed and re-encoded) before verification; ' +
      `(3) the callback was signed with another key than the one at ${keyUrl}.`,
  );
}
