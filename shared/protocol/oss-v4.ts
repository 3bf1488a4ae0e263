/**
 * OSS Signature Version 4 (`OSS4-HMAC-SHA256`): the two forms an upload needs, and header
 * authentication for the function's own requests (the HeadObject of shared/core/oss-head.ts):
 *
 *  - a PostObject policy: the string to sign is the base64 policy itself, exactly as sent in the
 *    `policy` form field; the signature is hex(HMAC-SHA256(signingKey, policyBase64));
 *  - a presigned URL (query signature): the canonical request (method, `/<bucket>/<key>`, the sorted
 *    RFC 3986-encoded query, the `content-type`/`content-md5`/`x-oss-*` headers plus any listed in
 *    `x-oss-additional-headers`, `UNSIGNED-PAYLOAD`) is hashed into the string to sign;
 *  - header authentication: the same canonical request (no query), sent as `Authorization`.
 *
 * signingKey = HMAC(HMAC(HMAC(HMAC("aliyun_v4" + secret, yyyymmdd), region), "oss"), "aliyun_v4_request").
 * Checked against the Go SDK v2 vector, a PostObject vector cross-checked with ali-oss 6.23
 * `signPostObjectPolicyV4`, and ali-oss's own canonical-request code (test/unit/protocol/oss-v4.test.ts).
 * Hand-written rather than ali-oss at run time: a few HMACs instead of requiring the whole client.
 */
import { createHash, createHmac } from 'node:crypto';

export const V4_ALGORITHM = 'OSS4-HMAC-SHA256';

export interface V4Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** STS security token: then `x-oss-security-token` goes into the policy / the URL. */
  securityToken?: string;
}

/** `yyyymmdd` and `yyyymmddTHHMMSSZ` (UTC) of a time. */
export function v4Dates(at: Date): { day: string; stamp: string } {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return { day: stamp.slice(0, 8), stamp };
}

/** The region OSS signs with: `oss-cn-hangzhou` and `cn-hangzhou` both give `cn-hangzhou`. */
export function signRegion(region: string): string {
  return region.replace(/^oss-/, '');
}

/** `<AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request` */
export function v4Credential(accessKeyId: string, day: string, region: string): string {
  return `${accessKeyId}/${day}/${signRegion(region)}/oss/aliyun_v4_request`;
}

/** The last signing key (it changes once a day per secret and region): four HMACs saved per request. */
let lastKey: { id: string; key: Buffer } | undefined;

export function v4SigningKey(accessKeySecret: string, day: string, region: string): Buffer {
  const id = `${accessKeySecret}\0${day}\0${region}`;
  if (lastKey?.id === id) return lastKey.key;
  const key = deriveSigningKey(accessKeySecret, day, region);
  lastKey = { id, key };
  return key;
}

function deriveSigningKey(accessKeySecret: string, day: string, region: string): Buffer {
  const date = createHmac('sha256', `aliyun_v4${accessKeySecret}`).update(day).digest();
  const inRegion = createHmac('sha256', date).update(signRegion(region)).digest();
  const service = createHmac('sha256', inRegion).update('oss').digest();
  return createHmac('sha256', service).update('aliyun_v4_request').digest();
}

/** The `x-oss-signature` of a PostObject policy: hex HMAC-SHA256 over the base64 policy string as sent. */
export function signPostPolicyV4(policyBase64: string, accessKeySecret: string, day: string, region: string): string {
  return createHmac('sha256', v4SigningKey(accessKeySecret, day, region)).update(policyBase64).digest('hex');
}

/** RFC 3986 percent-encoding, as OSS's canonical request wants it. */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface PresignInput {
  method: 'PUT' | 'GET' | 'HEAD';
  bucket: string;
  key: string;
  region: string;
  credentials: V4Credentials;
  at: Date;
  expiresSeconds: number;
  /** Query parameters that are part of the request (e.g. `callback`); all are signed. */
  queries?: Record<string, string>;
  /**
   * Headers the client must send exactly. `content-type`, `content-md5` and `x-oss-*` are always
   * signed; any other (e.g. `content-length`) is listed in `x-oss-additional-headers`.
   */
  headers?: Record<string, string>;
}

export interface PresignedUrl {
  /** Path and query to append to the endpoint's origin: `/<bucket>/<key>?…` (path-style) */
  pathAndQuery: string;
  /** `/<key>?…` for a virtual-hosted-style URL (`https://<bucket>.<endpoint>`). */
  objectPathAndQuery: string;
  /** The headers the client must send, lower-case names. */
  headers: Record<string, string>;
}

/** A V4 presigned URL (query signature) for one object. */
export function presignV4(input: PresignInput): PresignedUrl {
  const { day, stamp } = v4Dates(input.at);
  const headers = Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v.trim()]));
  const additional = Object.keys(headers)
    .filter((name) => !(name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')))
    .sort();
  const queries: Record<string, string> = {
    ...(input.queries ?? {}),
    ...(additional.length > 0 ? { 'x-oss-additional-headers': additional.join(';') } : {}),
    'x-oss-credential': v4Credential(input.credentials.accessKeyId, day, input.region),
    'x-oss-date': stamp,
    'x-oss-expires': String(input.expiresSeconds),
    'x-oss-signature-version': V4_ALGORITHM,
    ...(input.credentials.securityToken ? { 'x-oss-security-token': input.credentials.securityToken } : {}),
  };
  const query = Object.keys(queries)
    .sort()
    .map((name) => `${encodeRfc3986(name)}=${encodeRfc3986(queries[name]!)}`)
    .join('&');
  const canonicalHeaders = Object.keys(headers)
    .sort()
    .map((name) => `${name}:${headers[name]}\n`)
    .join('');
  const canonicalRequest = [
    input.method,
    encodeRfc3986(`/${input.bucket}/${input.key}`).replace(/%2F/g, '/'),
    query,
    canonicalHeaders,
    additional.join(';'),
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    V4_ALGORITHM,
    stamp,
    `${day}/${signRegion(input.region)}/oss/aliyun_v4_request`,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const signature = createHmac('sha256', v4SigningKey(input.credentials.accessKeySecret, day, input.region)).update(stringToSign).digest('hex');
  const signedQuery = `${query}&x-oss-signature=${signature}`;
  const objectPath = encodeRfc3986(input.key).replace(/%2F/g, '/');
  return {
    pathAndQuery: `/${encodeRfc3986(input.bucket)}/${objectPath}?${signedQuery}`,
    objectPathAndQuery: `/${objectPath}?${signedQuery}`,
    headers,
  };
}

export interface HeaderSignInput {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** The bucket and key the request is about (the canonical URI is always `/<bucket>/<key>`, whatever the addressing). */
  bucket: string;
  key: string;
  region: string;
  credentials: V4Credentials;
  at: Date;
  /** Headers to send besides the ones this adds; `content-type`, `content-md5` and `x-oss-*` are signed. */
  headers?: Record<string, string>;
}

/**
 * Header authentication (`Authorization: OSS4-HMAC-SHA256 Credential=…,Signature=…`) of one request:
 * returns the headers to send, i.e. the given ones (lower-case names) plus `x-oss-date`,
 * `x-oss-content-sha256: UNSIGNED-PAYLOAD`, `x-oss-security-token` (STS) and `authorization`.
 * No additional headers are signed (Host is not: the request may go to an IP with a virtual Host).
 * The same canonical request as ali-oss's `authorizationV4` (test/unit/protocol/oss-v4.test.ts).
 */
export function signRequestV4(input: HeaderSignInput): Record<string, string> {
  const { day, stamp } = v4Dates(input.at);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name.toLowerCase()] = value.trim();
  headers['x-oss-date'] = stamp;
  headers['x-oss-content-sha256'] = 'UNSIGNED-PAYLOAD';
  if (input.credentials.securityToken) headers['x-oss-security-token'] = input.credentials.securityToken;
  const canonicalHeaders = Object.keys(headers)
    .filter((name) => name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-'))
    .sort()
    .map((name) => `${name}:${headers[name]}\n`)
    .join('');
  const canonicalRequest = [
    input.method,
    encodeRfc3986(`/${input.bucket}/${input.key}`).replace(/%2F/g, '/'),
    '', // no query: an object request
    canonicalHeaders,
    '', // no additional headers
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    V4_ALGORITHM,
    stamp,
    `${day}/${signRegion(input.region)}/oss/aliyun_v4_request`,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  const signature = createHmac('sha256', v4SigningKey(input.credentials.accessKeySecret, day, input.region)).update(stringToSign).digest('hex');
  headers.authorization = `${V4_ALGORITHM} Credential=${v4Credential(input.credentials.accessKeyId, day, input.region)},Signature=${signature}`;
  return headers;
}

/** A key as a URL path: each `/`-separated segment percent-encoded (RFC 3986), the slashes kept. */
export function encodeKeyPath(key: string): string {
  return encodeRfc3986(key).replace(/%2F/g, '/');
}
