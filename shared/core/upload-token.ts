/**
 * The upload token: what the upload-policy function hands an uploader together with its policy, and
 * what a callback job verifies to learn who uploaded. It binds one owner to one object:
 *
 *   ut1.<base64url(JSON {b: bucket, k: key, o: owner, j: job, e: expiry (epoch s)})>.<base64url(HMAC-SHA256)>
 *
 * The HMAC key is UPLOAD_TOKEN_SECRET, shared by the upload-policy function and the callback
 * functions, and never sent anywhere. The token travels in the callback URL's query
 * (`?upload_token=…`), which the policy pins and OSS signs, so an uploader can neither change nor
 * drop it without the callback being refused. A copied token is worth nothing elsewhere: it names
 * one bucket, one key and one job, and the object the callback names is checked with OSS.
 *
 * Expiry: `e` is when the policy stops accepting uploads; OSS checks that when the upload starts, and
 * a large upload may call back long after. A callback is accepted until `e + graceSeconds`
 * (UPLOAD_TOKEN_GRACE_S, default one hour).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const UPLOAD_TOKEN_PREFIX = 'ut1';
/** The query parameter of the callback URL that carries the token. */
export const UPLOAD_TOKEN_PARAM = 'upload_token';
export const DEFAULT_UPLOAD_TOKEN_GRACE_S = 3600;
/** A secret shorter than this is refused: HMAC-SHA256 wants at least 32 random bytes. */
export const MIN_UPLOAD_TOKEN_SECRET_BYTES = 32;

export interface UploadTokenClaims {
  bucket: string;
  key: string;
  owner: string;
  /** The callback function (job name) the upload is for. */
  job: string;
  /** Epoch seconds: the end of the policy's validity. */
  expiresAt: number;
}

export type UploadTokenCheck =
  | { ok: true; claims: UploadTokenClaims }
  | { ok: false; reason: 'malformed' | 'signature' | 'expired' | 'object' | 'job'; message: string };

function mac(secret: string | Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(`${UPLOAD_TOKEN_PREFIX}.${payload}`).digest();
}

export function assertTokenSecret(secret: string | Buffer | undefined): asserts secret is string | Buffer {
  if (secret === undefined || Buffer.byteLength(secret) < MIN_UPLOAD_TOKEN_SECRET_BYTES) {
    throw new Error(`UPLOAD_TOKEN_SECRET must be at least ${MIN_UPLOAD_TOKEN_SECRET_BYTES} bytes (for example: openssl rand -base64 48)`);
  }
}

export function signUploadToken(claims: UploadTokenClaims, secret: string | Buffer): string {
  assertTokenSecret(secret);
  const payload = Buffer.from(
    JSON.stringify({ b: claims.bucket, k: claims.key, o: claims.owner, j: claims.job, e: claims.expiresAt }),
  ).toString('base64url');
  return `${UPLOAD_TOKEN_PREFIX}.${payload}.${mac(secret, payload).toString('base64url')}`;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Checks a token against the object OSS vouched for and the job that received the callback.
 * Never throws; the message names the likely cause and no secret.
 */
export function verifyUploadToken(
  token: string,
  expected: { bucket: string; key: string; job: string },
  secret: string | Buffer,
  options: { now?: number; graceSeconds?: number } = {},
): UploadTokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== UPLOAD_TOKEN_PREFIX || !BASE64URL.test(parts[1]!) || !BASE64URL.test(parts[2]!)) {
    return { ok: false, reason: 'malformed', message: `the upload token is not "${UPLOAD_TOKEN_PREFIX}.<claims>.<mac>": it was not issued by the upload-policy function` };
  }
  const [, payload, given] = parts as [string, string, string];
  const want = mac(secret, payload);
  const got = Buffer.from(given, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return { ok: false, reason: 'signature', message: 'the upload token was not signed with UPLOAD_TOKEN_SECRET: forged, altered, or issued under another secret' };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed', message: 'the upload token claims are not JSON' };
  }
  const c = raw as Record<string, unknown>;
  if (typeof c.b !== 'string' || typeof c.k !== 'string' || typeof c.o !== 'string' || typeof c.j !== 'string' || !Number.isSafeInteger(c.e)) {
    return { ok: false, reason: 'malformed', message: 'the upload token claims lack bucket, key, owner, job or expiry' };
  }
  const claims: UploadTokenClaims = { bucket: c.b, key: c.k, owner: c.o, job: c.j, expiresAt: c.e as number };
  if (claims.bucket !== expected.bucket || claims.key !== expected.key) {
    return { ok: false, reason: 'object', message: `the upload token was issued for another object (${claims.bucket}/${claims.key}): a token copied from another upload` };
  }
  if (claims.job !== expected.job) {
    return { ok: false, reason: 'job', message: `the upload token was issued for ${claims.job}, not ${expected.job}` };
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const grace = options.graceSeconds ?? DEFAULT_UPLOAD_TOKEN_GRACE_S;
  if (now > claims.expiresAt + grace) {
    return { ok: false, reason: 'expired', message: `the upload token expired at ${new Date(claims.expiresAt * 1000).toISOString()} (plus ${grace} s of grace for the upload itself)` };
  }
  return { ok: true, claims };
}
