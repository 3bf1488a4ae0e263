/**
 * The pipeline step after the bucket check: ask OSS about the object the signed body names, and
 * refuse a callback whose object does not exist (ObjectNotFound) or whose ETag differs (ObjectMismatch).
 * OSS stores the object first and then calls back, so a genuine callback always finds it. The facts
 * jobs record (size, ETag, Content-Type, CRC-64) are OSS's, not the body's.
 */
import { CallbackError } from '../protocol/errors.js';
import type { ObjectCheckConfig } from './config.js';
import { normalizeEtag, type VerifiedObject } from './object.js';
import { headObject } from './oss-head.js';
import { type PlatformContext, resolveAccount, resolveCredentials } from './platform.js';

export interface ClaimedObject {
  bucket: string;
  key: string;
  etag: string;
  /** What the body says, used only with OSS_VERIFY_OBJECTS=off. */
  size?: unknown;
  mimeType?: unknown;
  crc64?: unknown;
}

/** The endpoint a HEAD goes to: OSS_ENDPOINT, else the region's internal endpoint. */
export function ossEndpoint(config: ObjectCheckConfig, region: string | undefined): string {
  if (config.endpoint) return config.endpoint;
  if (!region) {
    throw new CallbackError('Internal', 'configuration error: the region is unknown (no FC context region, no FC_REGION): set OSS_ENDPOINT, or FC_REGION');
  }
  return `https://oss-${region}-internal.aliyuncs.com`;
}

/** The body's facts, for OSS_VERIFY_OBJECTS=off (what `verifyObject` gives then, without a promise). */
export function unverifiedObject(claim: ClaimedObject): VerifiedObject {
  const size = typeof claim.size === 'number' ? claim.size : Number(claim.size ?? Number.NaN);
  const object: VerifiedObject = { bucket: claim.bucket, key: claim.key, etag: normalizeEtag(claim.etag), size: Number.isSafeInteger(size) && size >= 0 ? size : 0, verifiedBy: 'unverified' };
  if (typeof claim.mimeType === 'string' && claim.mimeType !== '') object.contentType = claim.mimeType;
  if (typeof claim.crc64 === 'string' && claim.crc64 !== '') object.crc64 = claim.crc64;
  return object;
}

export async function verifyObject(
  claim: ClaimedObject,
  config: ObjectCheckConfig,
  options: { platform?: PlatformContext; deadline: number; signal: AbortSignal; log(fields: Record<string, unknown>): void },
): Promise<VerifiedObject> {
  if (config.verify === 'off') return unverifiedObject(claim);
  const region = resolveAccount(options.platform).region;
  const endpoint = ossEndpoint(config, region);
  const credentials = resolveCredentials(options.platform);
  if (!credentials) {
    throw new CallbackError(
      'Internal',
      'configuration error: no credentials to ask OSS about the object: give the function a role with oss:GetObject on the bucket (FC passes its credentials), or set ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    );
  }
  // The HEAD's own bound, inside what is left of the deadline (a little kept for recording and replying).
  const timeoutMs = Math.max(1, Math.min(config.headTimeoutMs, options.deadline - Date.now() - 100));
  const started = performance.now();
  const facts = await headObject(
    { bucket: claim.bucket, key: claim.key },
    { endpoint, region: region ?? 'cn-hangzhou', pathStyle: config.pathStyle, credentials, timeoutMs, signal: options.signal },
  );
  options.log({ headMs: Math.round((performance.now() - started) * 100) / 100, ...(facts?.requestId ? { headRequestId: facts.requestId } : {}) });
  const name = `${claim.bucket}/${claim.key}`;
  if (facts === null) {
    throw new CallbackError(
      'ObjectNotFound',
      `OSS has no object ${JSON.stringify(name)}: the callback names an object that does not exist (a forged callback from another account's upload, or the object was deleted before the callback arrived); nothing was recorded`,
    );
  }
  if (facts.etag !== normalizeEtag(claim.etag)) {
    throw new CallbackError(
      'ObjectMismatch',
      `the callback says object ${JSON.stringify(name)} has ETag ${JSON.stringify(claim.etag)}, but OSS says ${JSON.stringify(facts.etag)}: a forged callback, or a stale one (the object was overwritten since); nothing was recorded`,
    );
  }
  const object: VerifiedObject = { bucket: claim.bucket, key: claim.key, etag: facts.etag, size: facts.size, verifiedBy: 'head' };
  if (facts.contentType) object.contentType = facts.contentType;
  if (facts.crc64) object.crc64 = facts.crc64;
  if (facts.lastModified) object.lastModified = facts.lastModified;
  return object;
}
