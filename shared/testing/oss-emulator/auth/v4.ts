/**
 * OSS signature version 4 (OSS4-HMAC-SHA256), as OSS verifies it and ali-oss signs it
 * (`authorizationV4: true`, and `signatureUrlV4` for presigned URLs):
 *
 *   header:  Authorization: OSS4-HMAC-SHA256 Credential=<ak>/<yyyymmdd>/<region>/oss/aliyun_v4_request,
 *            [AdditionalHeaders=<h1;h2>,]Signature=<hex>        (x-oss-date: yyyymmddTHHMMSSZ)
 *   query:   x-oss-signature-version, x-oss-credential, x-oss-date, x-oss-expires, x-oss-signature
 *            [, x-oss-additional-headers]
 *
 *   CanonicalRequest = VERB \n URI-encoded "/bucket/key" ("/" kept) \n canonical query (every
 *     parameter but x-oss-signature, encoded, sorted; a parameter without a value is its name alone) \n
 *     canonical headers (content-type, content-md5, x-oss-* and the additional headers, "k:v\n" each) \n
 *     additional header names ";"-joined \n x-oss-content-sha256 (or UNSIGNED-PAYLOAD)
 *   StringToSign = "OSS4-HMAC-SHA256" \n x-oss-date \n <yyyymmdd>/<region>/oss/aliyun_v4_request \n hex(SHA-256(CanonicalRequest))
 *   SigningKey = HMAC chain over "aliyun_v4"+secret, yyyymmdd, region, "oss", "aliyun_v4_request"
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ERRORS, OssError, signatureMismatch } from '../xml.js';
import { type AuthContext, type Authenticated, queryValue, type SignedRequest } from './request.js';

export const V4_ALGORITHM = 'OSS4-HMAC-SHA256';

/** encodeURIComponent plus `!'()*`, as OSS (and ali-oss's encodeString) encode for V4. */
export function v4Encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function v4SigningKey(secret: string, day: string, region: string): Buffer {
  const date = createHmac('sha256', `aliyun_v4${secret}`).update(day).digest();
  const inRegion = createHmac('sha256', date).update(region).digest();
  const product = createHmac('sha256', inRegion).update('oss').digest();
  return createHmac('sha256', product).update('aliyun_v4_request').digest();
}

/** hex(HMAC-SHA256(SigningKey, stringToSign)): also the PostObject V4 signature over the base64 policy. */
export function v4Signature(secret: string, day: string, region: string, stringToSign: string): string {
  return createHmac('sha256', v4SigningKey(secret, day, region)).update(stringToSign, 'utf8').digest('hex');
}

export function v4CanonicalRequest(request: SignedRequest, additionalHeaders: readonly string[], excludeQuery: ReadonlySet<string> = new Set()): string {
  const uri = v4Encode(request.bucket === undefined ? '/' : `/${request.bucket}/${request.key}`).replace(/%2F/g, '/');
  const query = request.query
    .filter(([name]) => !excludeQuery.has(name))
    .map(([k, v]) => [v4Encode(k), v === '' ? '' : v4Encode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .join('&');
  const h = request.headers;
  const names = new Set(additionalHeaders);
  for (const name of Object.keys(h)) if (name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')) names.add(name);
  const headers = [...names]
    .sort()
    .map((name) => `${name}:${(h[name] ?? '').trim()}\n`)
    .join('');
  return [request.method.toUpperCase(), uri, query, headers, additionalHeaders.join(';'), h['x-oss-content-sha256'] ?? 'UNSIGNED-PAYLOAD'].join('\n');
}

export function v4StringToSign(date: string, scope: string, canonicalRequest: string): string {
  return `${V4_ALGORITHM}\n${date}\n${scope}\n${createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')}`;
}

/** yyyymmddTHHMMSSZ → milliseconds. */
export function parseV4Date(text: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
}

export interface ParsedCredential {
  accessKeyId: string;
  day: string;
  region: string;
}

/** `<ak>/<yyyymmdd>/<region>/oss/aliyun_v4_request`. */
export function parseCredential(text: string, context: AuthContext): ParsedCredential {
  const parts = text.split('/');
  if (parts.length !== 5 || parts[3] !== 'oss' || parts[4] !== 'aliyun_v4_request' || !/^\d{8}$/.test(parts[1]!)) {
    throw new OssError(400, 'InvalidArgument', 'Invalid credential in Authorization header.', { Credential: text }, 'expected <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request');
  }
  const [accessKeyId, day, region] = parts as [string, string, string];
  if (accessKeyId !== context.credentials.accessKeyId) throw ERRORS.invalidAccessKeyId(accessKeyId);
  if (region !== context.region) {
    throw new OssError(400, 'InvalidArgument', 'Invalid signing region in Authorization header.', { Region: region, ExpectedRegion: context.region }, `the local OSS is in ${context.region} (OSS_EMULATOR_REGION / FC_REGION)`);
  }
  return { accessKeyId, day, region };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function check(request: SignedRequest, credential: ParsedCredential, date: string, provided: string, additional: string[], exclude: Set<string>, context: AuthContext): void {
  const scope = `${credential.day}/${credential.region}/oss/aliyun_v4_request`;
  const canonical = v4CanonicalRequest(request, additional, exclude);
  const stringToSign = v4StringToSign(date, scope, canonical);
  const expected = v4Signature(context.credentials.accessKeySecret, credential.day, credential.region, stringToSign);
  if (!same(provided, expected)) throw signatureMismatch(credential.accessKeyId, provided, stringToSign, { CanonicalRequest: canonical });
}

function additionalHeaderList(text: string | undefined, request: SignedRequest): string[] {
  if (!text) return [];
  const names = text.split(';').map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  for (const name of names) {
    if (request.headers[name] === undefined) throw new OssError(400, 'InvalidArgument', `Additional header ${name} is not in the request.`);
  }
  return names;
}

export function verifyV4Header(request: SignedRequest, authorization: string, context: AuthContext): Authenticated {
  const rest = authorization.trim().slice(V4_ALGORITHM.length).trim();
  const fields = new Map<string, string>();
  for (const part of rest.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credentialText = fields.get('Credential');
  const provided = fields.get('Signature');
  if (!credentialText || !provided) throw new OssError(400, 'InvalidArgument', 'Authorization header is invalid.', { Authorization: authorization }, 'V4 needs Credential= and Signature=');
  const credential = parseCredential(credentialText, context);
  const date = request.headers['x-oss-date'] ?? '';
  const time = parseV4Date(date);
  if (!Number.isFinite(time) || Math.abs(context.now - time) > 15 * 60 * 1000) throw ERRORS.skewed(date, new Date(context.now).toISOString());
  if (!date.startsWith(credential.day)) throw new OssError(400, 'InvalidArgument', 'Invalid signing date in Authorization header.', { Credential: credentialText, 'x-oss-date': date });
  check(request, credential, date, provided, additionalHeaderList(fields.get('AdditionalHeaders'), request), new Set(), context);
  return { scheme: 'v4', via: 'header', accessKeyId: credential.accessKeyId };
}

export function verifyV4Query(request: SignedRequest, context: AuthContext): Authenticated {
  const version = queryValue(request, 'x-oss-signature-version');
  if (version !== V4_ALGORITHM) throw new OssError(400, 'InvalidArgument', 'Unsupported signature version.', { 'x-oss-signature-version': version ?? '' });
  const credentialText = queryValue(request, 'x-oss-credential') ?? '';
  const date = queryValue(request, 'x-oss-date') ?? '';
  const expires = queryValue(request, 'x-oss-expires') ?? '';
  const provided = queryValue(request, 'x-oss-signature') ?? '';
  if (!credentialText || !date || !provided) {
    throw new OssError(400, 'InvalidArgument', 'Query-string authentication version 4 requires the x-oss-credential, x-oss-date and x-oss-signature parameters.');
  }
  const credential = parseCredential(credentialText, context);
  const time = parseV4Date(date);
  if (!Number.isFinite(time) || !date.startsWith(credential.day)) throw new OssError(400, 'InvalidArgument', 'Invalid x-oss-date.', { 'x-oss-date': date });
  const seconds = /^\d+$/.test(expires) ? Number(expires) : 3600;
  if (seconds > 7 * 24 * 3600) throw new OssError(400, 'InvalidArgument', 'x-oss-expires must be at most 604800 seconds.', { 'x-oss-expires': expires });
  if (time > context.now + 15 * 60 * 1000) throw ERRORS.skewed(date, new Date(context.now).toISOString());
  if (time + seconds * 1000 < context.now) throw ERRORS.expired(new Date(time + seconds * 1000).toISOString(), new Date(context.now).toISOString());
  check(request, credential, date, provided, additionalHeaderList(queryValue(request, 'x-oss-additional-headers'), request), new Set(['x-oss-signature']), context);
  return { scheme: 'v4', via: 'query', accessKeyId: credential.accessKeyId };
}
