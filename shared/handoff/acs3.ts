/**
 * ACS3-HMAC-SHA256, the V3 request signature of Alibaba Cloud OpenAPI, which the FC 3.0 API
 * (2023-03-30) uses. Written from the published algorithm and checked against the test vector of
 * Alibaba Cloud's own OpenAPI utility (test/unit/jobs/handoff-signing.test.ts):
 *
 *   CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n
 *                      SignedHeaders \n HashedRequestPayload
 *   StringToSign     = "ACS3-HMAC-SHA256" \n hex(sha256(CanonicalRequest))
 *   Signature        = hex(hmac-sha256(AccessKeySecret, StringToSign))
 *   Authorization    = ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<a;b;c>,Signature=<hex>
 *
 * - CanonicalURI: the path as sent (already percent-encoded), `/` kept;
 * - CanonicalQueryString: keys sorted, `key=percent-encoded value`, a key with an empty value alone,
 *   joined with `&`;
 * - CanonicalHeaders: `host`, `content-type` and every `x-acs-*` header, names lower-cased, values
 *   trimmed (repeated names: values sorted and joined with `,`), sorted by name, each `name:value\n`;
 *   SignedHeaders lists those names joined with `;`;
 * - HashedRequestPayload: hex(sha256(body)), also sent as `x-acs-content-sha256`.
 */
import { createHash, createHmac } from 'node:crypto';

export const ACS3 = 'ACS3-HMAC-SHA256';

export interface Acs3Request {
  method: string;
  /** Percent-encoded path, as sent. */
  pathname: string;
  /** Decoded query parameters. */
  query: Readonly<Record<string, string>>;
  headers: Readonly<Record<string, string>>;
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** RFC 3986 percent-encoding, the way the OpenAPI SDKs encode query values and path segments. */
export function acsEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalQueryString(query: Readonly<Record<string, string>>): string {
  return Object.keys(query)
    .sort()
    .map((key) => (query[key] ? `${key}=${acsEncode(query[key]!)}` : key))
    .join('&');
}

export function canonicalHeaders(headers: Readonly<Record<string, string>>): { canonical: string; signed: string[] } {
  const values = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-acs-') || lower === 'host' || lower === 'content-type') {
      values.set(lower, [...(values.get(lower) ?? []), (value ?? '').trim()]);
    }
  }
  const signed = [...values.keys()].sort();
  return { canonical: signed.map((name) => `${name}:${values.get(name)!.sort().join(',')}\n`).join(''), signed };
}

export function acs3StringToSign(request: Acs3Request, hashedPayload: string): { stringToSign: string; signedHeaders: string[] } {
  const { canonical, signed } = canonicalHeaders(request.headers);
  const canonicalRequest = [request.method.toUpperCase(), request.pathname, canonicalQueryString(request.query), canonical, signed.join(';'), hashedPayload].join('\n');
  return { stringToSign: `${ACS3}\n${sha256Hex(canonicalRequest)}`, signedHeaders: signed };
}

export function acs3Signature(accessKeySecret: string, stringToSign: string): string {
  return createHmac('sha256', accessKeySecret).update(stringToSign, 'utf8').digest('hex');
}

/** The Authorization header value for `request` (whose headers are the ones that will be sent). */
export function acs3Authorization(request: Acs3Request, hashedPayload: string, accessKeyId: string, accessKeySecret: string): string {
  const { stringToSign, signedHeaders } = acs3StringToSign(request, hashedPayload);
  return `${ACS3} Credential=${accessKeyId},SignedHeaders=${signedHeaders.join(';')},Signature=${acs3Signature(accessKeySecret, stringToSign)}`;
}

/** `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` → its parts, or undefined. */
export function parseAcs3Authorization(value: string | undefined): { accessKeyId: string; signedHeaders: string[]; signature: string } | undefined {
  const match = /^ACS3-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]*),\s*Signature=([0-9a-f]+)$/i.exec(value?.trim() ?? '');
  if (!match) return undefined;
  return { accessKeyId: match[1]!, signedHeaders: match[2]!.split(';').filter(Boolean), signature: match[3]!.toLowerCase() };
}
