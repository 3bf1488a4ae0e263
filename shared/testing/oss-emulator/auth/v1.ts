/**
 * OSS signature version 1 (HMAC-SHA1), as OSS verifies it and ali-oss signs it:
 *
 *   header:  Authorization: OSS <AccessKeyId>:base64(HMAC-SHA1(secret, StringToSign))
 *   query:   ?OSSAccessKeyId=…&Expires=<unix seconds>&Signature=… (ali-oss signatureUrl)
 *
 *   StringToSign = VERB \n Content-MD5 \n Content-Type \n Date-or-Expires \n
 *                  CanonicalizedOSSHeaders (x-oss-* lower-case, trimmed, sorted, "k:v\n" each)
 *                  CanonicalizedResource ("/bucket/key" + the sub-resources OSS signs, sorted)
 *
 * The date line is x-oss-date when sent (ali-oss sends it, and browsers cannot set Date), else Date.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ERRORS, OssError, signatureMismatch } from '../xml.js';
import { type AuthContext, type Authenticated, queryValue, type SignedRequest } from './request.js';

/** The query parameters OSS includes in the V1 CanonicalizedResource (what its SDKs call sub-resources). */
export const SIGNED_SUBRESOURCES: ReadonlySet<string> = new Set([
  'acl', 'uploads', 'location', 'cors', 'logging', 'website', 'referer', 'lifecycle', 'delete', 'append', 'tagging', 'objectMeta',
  'uploadId', 'partNumber', 'security-token', 'position', 'img', 'style', 'styleName', 'replication', 'replicationProgress',
  'replicationLocation', 'cname', 'bucketInfo', 'comp', 'qos', 'live', 'status', 'vod', 'startTime', 'endTime', 'symlink',
  'x-oss-process', 'response-content-type', 'x-oss-traffic-limit', 'response-content-language', 'response-expires',
  'response-cache-control', 'response-content-disposition', 'response-content-encoding', 'udf', 'udfName', 'udfImage', 'udfId',
  'udfImageDesc', 'udfApplication', 'udfApplicationLog', 'restore', 'callback', 'callback-var', 'qosInfo', 'policy', 'stat',
  'encryption', 'versions', 'versioning', 'versionId', 'requestPayment', 'x-oss-request-payer', 'sequential', 'inventory',
  'inventoryId', 'continuation-token', 'asyncFetch', 'worm', 'wormId', 'wormExtend', 'withHashContext', 'x-oss-enable-md5',
  'x-oss-enable-sha1', 'x-oss-enable-sha256', 'x-oss-hash-ctx', 'x-oss-md5-ctx', 'transferAcceleration', 'regionList',
  'cloudboxes', 'x-oss-ac-source-ip', 'x-oss-ac-subnet-mask', 'x-oss-ac-vpc-id', 'x-oss-ac-forward-allow', 'metaQuery',
  'resourceGroup', 'rtc', 'x-oss-async-process', 'responseHeader',
]);

export function v1CanonicalResource(request: SignedRequest): string {
  let resource = request.bucket === undefined ? '/' : `/${request.bucket}/${request.key}`;
  const subresources = request.query.filter(([name]) => SIGNED_SUBRESOURCES.has(name)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (subresources.length > 0) resource += `?${subresources.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('&')}`;
  return resource;
}

export function v1StringToSign(request: SignedRequest, dateLine: string): string {
  const h = request.headers;
  const ossHeaders = Object.keys(h)
    .filter((name) => name.startsWith('x-oss-'))
    .sort()
    .map((name) => `${name}:${h[name]!.trim()}\n`)
    .join('');
  return `${request.method.toUpperCase()}\n${h['content-md5'] ?? ''}\n${h['content-type'] ?? ''}\n${dateLine}\n${ossHeaders}${v1CanonicalResource(request)}`;
}

export function v1Signature(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `Authorization: OSS ak:signature`. */
export function verifyV1Header(request: SignedRequest, authorization: string, context: AuthContext): Authenticated {
  const match = /^OSS ([^:\s]+):(\S+)$/.exec(authorization.trim());
  if (!match) throw new OssError(400, 'InvalidArgument', 'Authorization header is invalid.', { Authorization: authorization }, 'expected "OSS <AccessKeyId>:<Signature>"');
  const [, accessKeyId, provided] = match as unknown as [string, string, string];
  if (accessKeyId !== context.credentials.accessKeyId) throw ERRORS.invalidAccessKeyId(accessKeyId);
  const dateLine = request.headers['x-oss-date'] ?? request.headers.date ?? '';
  const time = Date.parse(dateLine);
  if (!Number.isFinite(time) || Math.abs(context.now - time) > 15 * 60 * 1000) {
    throw ERRORS.skewed(dateLine, new Date(context.now).toUTCString());
  }
  const stringToSign = v1StringToSign(request, dateLine);
  if (!same(provided, v1Signature(context.credentials.accessKeySecret, stringToSign))) throw signatureMismatch(accessKeyId, provided, stringToSign);
  return { scheme: 'v1', via: 'header', accessKeyId };
}

/** `?OSSAccessKeyId=…&Expires=…&Signature=…` (a presigned URL). */
export function verifyV1Query(request: SignedRequest, context: AuthContext): Authenticated {
  const accessKeyId = queryValue(request, 'OSSAccessKeyId') ?? '';
  const expires = queryValue(request, 'Expires') ?? '';
  const provided = queryValue(request, 'Signature') ?? '';
  if (!accessKeyId || !expires || !provided) {
    throw new OssError(400, 'InvalidArgument', 'Query-string authentication requires the Signature, Expires and OSSAccessKeyId parameters');
  }
  if (accessKeyId !== context.credentials.accessKeyId) throw ERRORS.invalidAccessKeyId(accessKeyId);
  if (!/^\d+$/.test(expires)) throw new OssError(400, 'InvalidArgument', 'Expires is not a number of seconds since the epoch.', { Expires: expires });
  if (Number(expires) * 1000 < context.now) throw ERRORS.expired(expires, new Date(context.now).toISOString());
  const stringToSign = v1StringToSign(request, expires);
  if (!same(provided, v1Signature(context.credentials.accessKeySecret, stringToSign))) throw signatureMismatch(accessKeyId, provided, stringToSign);
  return { scheme: 'v1', via: 'query', accessKeyId };
}
