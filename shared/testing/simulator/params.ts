/**
 * The callback parameters as an uploader sends them (`x-oss-callback`, `x-oss-callback-var`: base64
 * JSON, as SDKs such as ali-oss produce them; plain JSON is accepted too), checked the way OSS checks
 * them before it stores anything (protocol reference §2–§3). A refusal is an `InvalidArgument`.
 */
import { InvalidArgument } from './errors.js';
import { checkTemplate } from './template.js';

export const MAX_PARAMETER_BYTES = 5 * 1024;
export const MAX_CALLBACK_URLS = 5;
export const FORM_BODY_TYPE = 'application/x-www-form-urlencoded';
export const JSON_BODY_TYPE = 'application/json';
export type BodyType = typeof FORM_BODY_TYPE | typeof JSON_BODY_TYPE;

export interface CallbackUrl {
  /** As written in callbackUrl. */
  text: string;
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /** The path exactly as it goes on the wire (percent-encoded), and the query after `?` (null: no `?`). */
  rawPath: string;
  rawQuery: string | null;
  /** Characters that had to be percent-encoded because callbackUrl was not (OSS wants it encoded). */
  encodedForTheWire: boolean;
}

export interface CallbackParams {
  callbackUrl: string;
  urls: CallbackUrl[];
  callbackBody: string;
  callbackBodyType: BodyType;
  callbackHost: string | undefined;
  callbackSNI: boolean;
  /** Variables the template names, in order (`x:` ones included). */
  variables: string[];
  /** The callback JSON as decoded, for printing. */
  json: Record<string, unknown>;
  /** Things OSS accepts but that probably are not what the uploader meant. */
  warnings: string[];
}

/** Base64 of UTF-8 JSON, or the JSON itself. Returns the JSON text and the size OSS measures. */
function decodeParameter(value: string): { text: string | undefined; bytes: number } {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    // Plain JSON: measure what its base64 would be, which is what an SDK would send.
    return { text: trimmed, bytes: Buffer.from(trimmed, 'utf8').toString('base64').length };
  }
  const compact = trimmed.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return { text: undefined, bytes: compact.length };
  const bytes = Buffer.from(compact, 'base64');
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), bytes: compact.length };
  } catch {
    return { text: undefined, bytes: compact.length };
  }
}

function parseJsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The characters a request target may carry as they are: RFC 3986 unreserved, sub-delims, ":@/?%" . */
const WIRE_SAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/gu;

function encodeForWire(text: string): string {
  return text.replace(WIRE_SAFE, (c) => encodeURIComponent(c));
}

export function parseCallbackUrl(text: string): CallbackUrl {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`; // OSS's examples omit the scheme
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/i.exec(withScheme);
  const protocol = match?.[1]?.toLowerCase();
  if (!match || (protocol !== 'http' && protocol !== 'https')) {
    throw new InvalidArgument(`callbackUrl ${JSON.stringify(text)} is not an http:// or https:// URL`, { argumentName: 'callbackUrl', argumentValue: text });
  }
  const authority = match[2]!;
  if (authority.includes('@')) {
    throw new InvalidArgument(`callbackUrl ${JSON.stringify(text)} has user info before "@"`, { argumentName: 'callbackUrl', argumentValue: text });
  }
  if (authority.startsWith('[')) {
    throw new InvalidArgument(`callbackUrl ${JSON.stringify(text)}: OSS does not call IPv6 addresses back`, { argumentName: 'callbackUrl', argumentValue: text });
  }
  const colon = authority.lastIndexOf(':');
  const hostname = (colon >= 0 ? authority.slice(0, colon) : authority).toLowerCase();
  const portText = colon >= 0 ? authority.slice(colon + 1) : '';
  const port = portText === '' ? (protocol === 'https' ? 443 : 80) : Number(portText);
  if (!/^\d*$/.test(portText) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgument(`the port in callbackUrl ${JSON.stringify(text)} is not a number from 1 to 65535`, {
      ec: '0007-00000004',
      argumentName: 'callbackUrl',
      argumentValue: text,
    });
  }
  if (hostname === '') throw new InvalidArgument(`callbackUrl ${JSON.stringify(text)} has no host`, { argumentName: 'callbackUrl', argumentValue: text });
  const path = match[3] === '' ? '/' : match[3]!;
  const query = match[4] ?? null;
  const rawPath = encodeForWire(path);
  const rawQuery = query === null ? null : encodeForWire(query);
  return {
    text,
    protocol: `${protocol}:` as CallbackUrl['protocol'],
    hostname,
    port,
    rawPath,
    rawQuery,
    encodedForTheWire: rawPath !== path || rawQuery !== query,
  };
}

const PRIVATE_HOST = /^(localhost|.*\.localhost|127\.\d+\.\d+\.\d+|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+|169\.254\.\d+\.\d+|0\.0\.0\.0)$/i;

/** True for hosts OSS would refuse ("Private address is forbidden to callback."); the simulator allows them. */
export function isPrivateHost(hostname: string): boolean {
  return PRIVATE_HOST.test(hostname);
}

/** `x-oss-callback`: checks it as OSS does and returns it parsed. Throws `InvalidArgument`. */
export function parseCallback(value: string): CallbackParams {
  const { text, bytes } = decodeParameter(value);
  if (bytes > MAX_PARAMETER_BYTES) {
    throw new InvalidArgument(`the callback parameter is ${bytes} bytes; OSS allows at most 5 KB (${MAX_PARAMETER_BYTES} bytes)`, {
      ec: '0007-00000001',
      argumentName: 'callback',
    });
  }
  const json = parseJsonObject(text);
  if (!json) {
    throw new InvalidArgument('The callback configuration is not json format.', {
      ec: '0007-00000003',
      documented: true,
      argumentName: 'callback',
      argumentValue: value.length > 200 ? `${value.slice(0, 200)}…` : value,
    });
  }
  const warnings: string[] = [];

  const callbackUrl = json.callbackUrl;
  if (typeof callbackUrl !== 'string' || callbackUrl.trim() === '') {
    throw new InvalidArgument('callbackUrl is missing or empty: OSS needs the URL to call back', { argumentName: 'callbackUrl' });
  }
  const texts = callbackUrl.split(';').map((u) => u.trim()).filter((u) => u !== '');
  if (texts.length > MAX_CALLBACK_URLS) {
    throw new InvalidArgument(`callbackUrl lists ${texts.length} URLs; OSS allows at most ${MAX_CALLBACK_URLS}, separated by ";"`, {
      ec: '0007-00000005',
      argumentName: 'callbackUrl',
      argumentValue: callbackUrl,
    });
  }
  const urls = texts.map(parseCallbackUrl);
  for (const url of urls) {
    if (url.encodedForTheWire) {
      warnings.push(`callbackUrl ${JSON.stringify(url.text)} is not URL-encoded (OSS wants it encoded); sent as ${url.rawPath}${url.rawQuery === null ? '' : `?${url.rawQuery}`}`);
    }
  }

  const body = json.callbackBody;
  if (body === undefined || body === '') {
    throw new InvalidArgument('callbackBody is missing or empty', { ec: '0007-00000011', argumentName: 'callbackBody' });
  }
  if (typeof body !== 'string') {
    throw new InvalidArgument(`callbackBody must be a JSON string, got ${Array.isArray(body) ? 'an array' : typeof body}`, {
      argumentName: 'callbackBody',
    });
  }

  const type = json.callbackBodyType ?? FORM_BODY_TYPE;
  if (typeof type !== 'string') {
    throw new InvalidArgument(`callbackBodyType must be a string, got ${typeof type}`, { ec: '0007-00000012', argumentName: 'callbackBodyType' });
  }
  if (type !== FORM_BODY_TYPE && type !== JSON_BODY_TYPE) {
    throw new InvalidArgument(`callbackBodyType ${JSON.stringify(type)} is neither ${FORM_BODY_TYPE} nor ${JSON_BODY_TYPE}`, {
      argumentName: 'callbackBodyType',
      argumentValue: type,
    });
  }

  const host = json.callbackHost;
  if (host !== undefined && typeof host !== 'string') {
    throw new InvalidArgument('callbackHost must be a string (a domain name or an IP address)', { argumentName: 'callbackHost' });
  }
  const sni = json.callbackSNI ?? false;
  if (typeof sni !== 'boolean') {
    throw new InvalidArgument('callbackSNI must be true or false', { argumentName: 'callbackSNI' });
  }

  const variables = checkTemplate(body);
  if (type === JSON_BODY_TYPE && !body.trimStart().startsWith('{')) {
    warnings.push('callbackBodyType is application/json but callbackBody does not look like a JSON template ({…}): OSS sends it anyway');
  }
  for (const field of Object.keys(json)) {
    if (!['callbackUrl', 'callbackBody', 'callbackBodyType', 'callbackHost', 'callbackSNI'].includes(field)) {
      warnings.push(`callback field ${JSON.stringify(field)} is not simulated (ignored)`);
    }
  }
  return {
    callbackUrl,
    urls,
    callbackBody: body,
    callbackBodyType: type,
    callbackHost: host === '' ? undefined : host,
    callbackSNI: sni,
    variables,
    json,
    warnings,
  };
}

/** `x-oss-callback-var`: a flat JSON object of `x:`-prefixed, lower-case keys to string values. */
export function parseCallbackVar(value: string | undefined): Record<string, string> {
  if (value === undefined || value.trim() === '') return {};
  const { text, bytes } = decodeParameter(value);
  if (bytes > MAX_PARAMETER_BYTES) {
    throw new InvalidArgument(`the callback-var parameter is ${bytes} bytes; OSS allows at most 5 KB (${MAX_PARAMETER_BYTES} bytes)`, {
      argumentName: 'callback-var',
    });
  }
  const json = parseJsonObject(text);
  if (!json) {
    throw new InvalidArgument('the callback-var parameter is not base64 of a JSON object ({"x:name":"value",…})', { argumentName: 'callback-var' });
  }
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(json)) {
    if (typeof item !== 'string') {
      throw new InvalidArgument(`callback-var ${JSON.stringify(key)} is not a string: every entry maps a string to a string`, {
        argumentName: 'callback-var',
      });
    }
    checkCustomKey(key);
    out[key] = item;
  }
  return out;
}

/** Custom variable names: `x:` and lower case (ASCII letters; OSS accepts other scripts). */
export function checkCustomKey(key: string): void {
  if (!key.startsWith('x:') || key.length === 2) {
    throw new InvalidArgument(`custom variable ${JSON.stringify(key)} must start with "x:"`, { argumentName: 'callback-var', argumentValue: key });
  }
  if (/[A-Z]/.test(key)) {
    throw new InvalidArgument(`custom variable ${JSON.stringify(key)} must be lower case (ali-oss does not lower-case customValue keys for you)`, {
      argumentName: 'callback-var',
      argumentValue: key,
    });
  }
}
