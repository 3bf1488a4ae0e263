/**
 * The object a callback is about, as OSS vouches for it, and the idempotency key derived from it.
 *
 * A valid callback signature proves only that OSS sent the body; the body is the uploader's template
 * after substitution and may hold constants. So the facts a job records come from OSS itself: a
 * HeadObject at callback time (`verifiedBy: 'head'`), or an OSS event (`'event'`, facts from the
 * event). With OSS_VERIFY_OBJECTS=off they come from the body (`'unverified'`).
 */
import * as crypto from 'node:crypto';

export interface VerifiedObject {
  bucket: string;
  key: string;
  /** The ETag without quotes, as OSS reports it (upper-case hex; `<hex>-<parts>` for multipart uploads). */
  etag: string;
  /** Bytes, from OSS (Content-Length of the HEAD, or the event's size). */
  size: number;
  contentType?: string;
  /** x-oss-hash-crc64ecma, decimal. */
  crc64?: string;
  lastModified?: Date;
  verifiedBy: 'head' | 'event' | 'unverified';
}

/** `"abc"`, `W/"abc"`, ` abc ` → `ABC`: one spelling for comparing ETags from headers, bodies and events. */
export function normalizeEtag(etag: string): string {
  // Already in the one spelling (OSS's own, upper-case hex): nothing to strip or change.
  if (CANONICAL_ETAG.test(etag)) return etag;
  return etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1').toUpperCase();
}

const CANONICAL_ETAG = /^[0-9A-F][0-9A-F-]*$/;

/**
 * The idempotency key of an upload: `obj:` + hex SHA-256 of `bucket \0 key \0 ETAG`. Derived from facts
 * OSS vouches for only, never from the body's request id: the same bucket, key and ETag are the same
 * upload, whether it arrives as a callback or as an OSS event, however often. (An identical re-upload
 * of the same bytes to the same key has the same ETag, so it counts as the same upload.)
 */
export function objectIdempotencyKey(object: Pick<VerifiedObject, 'bucket' | 'key' | 'etag'>): string {
  return `obj:${sha256Hex(`${object.bucket}\0${object.key}\0${normalizeEtag(object.etag)}`)}`;
}

/** Hex SHA-256 of a string (as UTF-8) or bytes: one-shot `crypto.hash` where Node has it (20.12+), about twice as fast as a Hash object. */
export const sha256Hex: (data: string | Buffer) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');
