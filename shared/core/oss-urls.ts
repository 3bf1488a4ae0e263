/**
 * URLs of stored OSS objects, and of their processed variants (OSS image processing:
 * `<object URL>?x-oss-process=image/resize,w_320`).
 *
 * The object key goes into the path one segment at a time, each RFC 3986-encoded (`/` separates
 * segments and stays; everything else outside A-Z a-z 0-9 - . _ ~ is percent-encoded as UTF-8), so
 * `photos/2026/cat 1+2.jpg` → `photos/2026/cat%201%2B2.jpg`. A key with a `.` or `..` segment cannot
 * be addressed by a URL (clients resolve those segments, even percent-encoded), so it is refused.
 */
import { configurationError } from '../protocol/errors.js';

const DOT_SEGMENT = /(^|\/)\.{1,2}(\/|$)/;

export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Whether a key can be addressed by a URL path (no `.` or `..` segment). */
export function isAddressableKey(key: string): boolean {
  return !DOT_SEGMENT.test(key);
}

/** `a b/c+d.jpg` → `a%20b/c%2Bd.jpg`. Throws for a key with a `.` or `..` segment. */
export function encodeObjectKey(key: string): string {
  if (!isAddressableKey(key)) throw new Error(`the object key ${JSON.stringify(key)} has a "." or ".." segment, which a URL cannot address`);
  return key.split('/').map(encodeSegment).join('/');
}

/**
 * The public base URL for a bucket: `template` may contain `{bucket}` and `{region}`, e.g.
 * `https://{bucket}.oss-{region}.aliyuncs.com` or `https://img.example.com`. No trailing slash.
 */
export function publicBaseUrl(template: string, bucket: string, region: string | undefined, variable = 'the public base URL'): string {
  if (template.includes('{region}') && !region) {
    throw configurationError(`${variable}=${template} needs the region, which is unknown here (FC_REGION is not set): set FC_REGION or a base URL without {region}`);
  }
  return template.replace(/\{bucket\}/g, bucket).replace(/\{region\}/g, region ?? '').replace(/\/+$/, '');
}

/** The `x-oss-process` value in a query: percent-encoded, but `/` and `,` kept readable (OSS accepts both forms). */
export function encodeProcess(process: string): string {
  return encodeURIComponent(process).replace(/%2F/gi, '/').replace(/%2C/gi, ',');
}

/** `<base>/<encoded key>[?x-oss-process=<process>]`. */
export function objectUrl(base: string, key: string, process?: string): string {
  const url = `${base.replace(/\/+$/, '')}/${encodeObjectKey(key)}`;
  return process ? `${url}?x-oss-process=${encodeProcess(process)}` : url;
}

export interface Variant {
  name: string;
  /** An OSS processing instruction, e.g. `image/resize,w_320` or `style/thumb`. */
  process: string;
}

const VARIANT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
const PROCESS = /^(image|style|video)\/[^\s?&#]+$/;

/** `thumb=image/resize,w_320;medium=image/resize,w_1024` → variants, in order. Throws an Error naming the bad part. */
export function parseVariants(raw: string): Variant[] {
  const variants: Variant[] = [];
  for (const part of raw.split(';').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    const process = part.slice(eq + 1).trim();
    if (eq < 1 || !VARIANT_NAME.test(name) || !PROCESS.test(process)) {
      throw new Error(`${JSON.stringify(part)} is not <name>=<image/… | style/…> (a name of letters, digits, _ and -, then an OSS process instruction)`);
    }
    if (variants.some((v) => v.name === name)) throw new Error(`variant ${JSON.stringify(name)} is listed twice`);
    variants.push({ name, process });
  }
  return variants;
}
