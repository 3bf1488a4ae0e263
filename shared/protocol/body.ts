/**
 * Decoding the (already verified) callback body into fields, by Content-Type.
 *
 * Form bodies (`callbackBodyType` default) carry URL-encoded values; JSON bodies carry string
 * variables as quoted strings and `size` / `imageInfo.*` as bare numbers. OSS does not check that
 * the filled-in template is valid, so most parse failures are template mistakes, and the messages
 * say which one.
 */
import { parse } from 'lossless-json';
import { CallbackError } from './errors.js';
import { formDecode, percentDecodeBytes } from './path.js';

export interface DecodedBody {
  type: 'form' | 'json';
  /** Everything but custom variables, keyed as in the template (`imageInfo.width`). Null-prototype. */
  fields: Record<string, unknown>;
  /** Custom variables (`x:name`), keyed without the `x:` prefix. Null-prototype. */
  custom: Record<string, string>;
}

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
export const JSON_CONTENT_TYPE = 'application/json';
export const MAX_JSON_DEPTH = 32;

const CUSTOM_PREFIX = 'x:';

function malformed(message: string, details?: Record<string, unknown>): CallbackError {
  return new CallbackError('MalformedBody', message, details ? { details } : {});
}

function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function mediaType(contentType: string | undefined): string {
  if (contentType === FORM_CONTENT_TYPE || contentType === JSON_CONTENT_TYPE) return contentType; // as OSS sends them
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** Stateless between calls (no streaming), so one instance serves every callback. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function decodeBody(contentType: string | undefined, body: Buffer): DecodedBody {
  const type = mediaType(contentType);
  if (type !== FORM_CONTENT_TYPE && type !== JSON_CONTENT_TYPE) {
    throw new CallbackError(
      'UnsupportedContentType',
      `unsupported Content-Type ${JSON.stringify(contentType ?? '(none)')}: OSS sends ${FORM_CONTENT_TYPE} or ` +
        `${JSON_CONTENT_TYPE}, as set by callbackBodyType`,
    );
  }
  if (body.length === 0) {
    throw malformed('the body is empty: is the callbackBody template empty?');
  }
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw malformed('the body is not valid UTF-8: OSS sends UTF-8; was it re-encoded on the way?');
  }
  return type === FORM_CONTENT_TYPE ? decodeForm(text) : decodeJson(text);
}

// ---------------------------------------------------------------------------------------------- form

const UNSUBSTITUTED = /^\$\{[^{}]*\}$/;

function unsubstituted(key: string, value: string): CallbackError {
  return malformed(
    `field ${JSON.stringify(key)} is the literal text ${JSON.stringify(value)}: OSS did not substitute the variable. ` +
      'Either the callbackBody template was URL-encoded before it reached OSS (e.g. PHP http_build_query or ' +
      'qs.stringify turn ${bucket} into %24%7Bbucket%7D, which OSS sends back as it is), or the variable name is ' +
      'wrong (system variables are case-sensitive: ${mimeType}, not ${mimetype})',
    { field: key },
  );
}

/**
 * formDecode, but percent-escapes that do not spell UTF-8 (`%FF`, or `%ED%A0%80`, an encoded
 * surrogate) are refused instead of becoming U+FFFD: two different byte strings must never decode
 * to one name.
 */
function strictFormDecode(component: string, key: string | undefined): string {
  // Without escapes nothing can decode to U+FFFD (a literal one is valid UTF-8 text): no check needed.
  const first = component.indexOf('%');
  if (first === -1) return component.includes('+') ? component.replaceAll('+', ' ') : component;
  const ascii = decodeAsciiEscapes(component, first);
  if (ascii !== undefined) return ascii;
  const decoded = formDecode(component);
  if (!decoded.includes('\uFFFD')) return decoded;
  try {
    UTF8.decode(percentDecodeBytes(component.replaceAll('+', ' ')));
  } catch {
    throw malformed(
      `the ${key === undefined ? 'name' : `value of field ${JSON.stringify(key)}`} has percent-escapes that are not UTF-8 ` +
        `(${JSON.stringify(component.length > 60 ? `${component.slice(0, 60)}…` : component)}), like an encoded lone surrogate %ED%A0%80: OSS sends UTF-8`,
      key === undefined ? undefined : { field: key },
    );
  }
  return decoded;
}

/**
 * formDecode of a component whose escapes are all `%XX` of ASCII characters (as OSS writes `/`, `=`,
 * `+`): the same string, without decodeURIComponent nor a U+FFFD check (an ASCII escape cannot
 * produce one). Undefined for any other escape. `first` is the index of the first `%`. The text
 * comes from the fatal UTF-8 decoder, so it has no lone surrogate (which formDecode would replace).
 */
function decodeAsciiEscapes(component: string, first: number): string | undefined {
  const plus = component.includes('+');
  let decoded = '';
  let from = 0;
  for (let at = first; at !== -1; at = component.indexOf('%', from)) {
    const high = hexDigit(component.charCodeAt(at + 1));
    const low = hexDigit(component.charCodeAt(at + 2));
    if (high < 0 || high > 7 || low < 0) return undefined;
    const literal = component.slice(from, at);
    decoded += (plus ? literal.replaceAll('+', ' ') : literal) + String.fromCharCode(high * 16 + low);
    from = at + 3;
  }
  const rest = component.slice(from);
  return decoded + (plus ? rest.replaceAll('+', ' ') : rest);
}

/** 0-15 for an ASCII hex digit's code, -1 for anything else (NaN included). */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * The keys of the last form body, by position (the first KNOWN_KEYS parts): a function's callbacks
 * come from one template, so the next body has the same keys in the same order. Only keys whose text
 * is the key itself (no escapes, no `+`) are kept: the same text then decodes to the same key.
 */
const KNOWN_KEYS = 64;
const knownKeys: ({ key: string; name: string } | undefined)[] = [];
/**
 * Keys are remembered from bodies up to this size only (OSS's are a few KB): a remembered key may be
 * a view of its body's text, so at most KNOWN_KEYS such texts stay alive, each this small.
 */
const KNOWN_KEYS_BODY_MAX = 16 * 1024;

function decodeForm(text: string): DecodedBody {
  const first = text.charCodeAt(0);
  // Only a `{` or leading whitespace (ASCII controls and space, or non-ASCII) can start a JSON object.
  if (first === 0x7b || ((first <= 0x20 || first > 0x7e) && text.trimStart().startsWith('{'))) {
    throw malformed(
      `the body is JSON but Content-Type is form (${FORM_CONTENT_TYPE}): set callbackBodyType to application/json`,
    );
  }
  // Built as plain objects and given a null prototype at the end: stores into an object created
  // null-prototype (dictionary mode) cost about twice as much. Object.prototype has no setter but
  // `__proto__` (refused as a field, defined as a property as the custom variable `x:__proto__`), so
  // every key becomes an own data property.
  const fields: Record<string, unknown> = {};
  const custom: Record<string, string> = {};
  // One pass over `&`-separated parts without splitting; `fields` and `custom` double as the set of
  // keys seen, for the duplicate check.
  for (let start = 0, part = 0; start <= text.length; part++) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    if (end > start) {
      let eq = text.indexOf('=', start);
      if (eq >= end) eq = -1;
      const keyEnd = eq === -1 ? end : eq;
      // The key this part had in the last body, when its text spells it as it is: found by comparing
      // text, without slicing, decoding and re-hashing a new string.
      const known = part < KNOWN_KEYS ? knownKeys[part] : undefined;
      let key: string;
      let name: string;
      if (known !== undefined && known.key.length === keyEnd - start && text.startsWith(known.key, start)) {
        key = known.key;
        name = known.name;
      } else {
        const raw = text.slice(start, keyEnd);
        key = strictFormDecode(raw, undefined);
        name = key.startsWith(CUSTOM_PREFIX) ? key.slice(CUSTOM_PREFIX.length) : key;
        if (part < KNOWN_KEYS) knownKeys[part] = key === raw && text.length <= KNOWN_KEYS_BODY_MAX ? { key, name } : undefined;
      }
      const value = eq === -1 ? '' : strictFormDecode(text.slice(eq + 1, end), key);
      if (key === '__proto__') throw malformed('forbidden key "__proto__" in the body', { field: key });
      const isCustom = name !== key;
      if (Object.hasOwn(isCustom ? custom : fields, name)) {
        throw malformed(`duplicate field ${JSON.stringify(key)}: the callbackBody template names it twice`, {
          field: key,
        });
      }
      if (value.charCodeAt(0) === 0x24 /* $ */ && UNSUBSTITUTED.test(value)) throw unsubstituted(key, value);
      if (name === '__proto__') Object.defineProperty(custom, name, { value, enumerable: true, writable: true, configurable: true }); // x:__proto__
      else if (isCustom) custom[name] = value;
      else fields[key] = value;
    }
    start = end + 1;
  }
  return { type: 'form', fields: Object.setPrototypeOf(fields, null) as Record<string, unknown>, custom: Object.setPrototypeOf(custom, null) as Record<string, string> };
}

// ---------------------------------------------------------------------------------------------- json

/** Depth of `{`/`[` nesting outside strings, without recursion. Stops early once over the limit. */
function nestingDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Safe integers and finite non-integers become numbers; anything else keeps its exact text. */
function parseNumber(literal: string): unknown {
  if (/^-?\d+$/.test(literal)) {
    const n = Number(literal);
    return Number.isSafeInteger(n) ? n : literal;
  }
  const n = Number(literal);
  if (!Number.isFinite(n)) return literal;
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) return literal;
  return n;
}

class ForbiddenKey extends Error {}
class LoneSurrogate extends Error {
  constructor(readonly key: string) {
    super(key);
  }
}
/**
 * A `\ud800`-style escape that is not half of a pair: not a character, and not UTF-8 encodable, so
 * stores and logs would each turn it into something else (U+FFFD, `?`, an error): one object
 * could be counted under several names. (Raw bytes are already checked by the fatal decoder.)
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE_GLOBAL = new RegExp(LONE_SURROGATE.source, 'g');
class DuplicateKey extends Error {
  constructor(readonly key: string) {
    super(key);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Refuses prototype-pollution keys and rebuilds every object with a null prototype. */
function reviver(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new ForbiddenKey(key);
  if (LONE_SURROGATE.test(key) || (typeof value === 'string' && LONE_SURROGATE.test(value))) throw new LoneSurrogate(key);
  if (!isPlainObject(value)) return value;
  if (key === 'constructor' && Object.hasOwn(value, 'prototype')) throw new ForbiddenKey('constructor.prototype');
  const copy = emptyRecord<unknown>();
  for (const k of Object.keys(value)) copy[k] = value[k];
  return copy;
}

function jsonPosition(message: string): number | undefined {
  const match = /at position (\d+)/.exec(message);
  return match ? Number(match[1]) : undefined;
}

function previousNonSpace(text: string, position: number): string | undefined {
  for (let i = position - 1; i >= 0; i--) if (!/\s/.test(text[i]!)) return text[i];
  return undefined;
}

/** Names the likely callbackBody template mistake behind invalid JSON. */
function diagnoseJson(text: string, error: Error): CallbackError {
  const position = jsonPosition(error.message);
  const at = position === undefined ? '' : ` at position ${position}`;
  const details = position === undefined ? undefined : { position };
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[') && /^[^\s"{}[\]=&]+=/.test(trimmed)) {
    return malformed(
      `the body is not valid JSON${at}: callbackBodyType is application/json but callbackBody is form-shaped ` +
        '(key=${var}&…). Either drop callbackBodyType (form is the default) or write the template as JSON: ' +
        '{"key":${var},…}',
      details,
    );
  }
  if (text.includes('${')) {
    return malformed(
      `the body is not valid JSON${at} and still contains "\${": a variable was not substituted. Was the template ` +
        'URL-encoded before it reached OSS, or is a variable name misspelled (system variables are case-sensitive)?',
      details,
    );
  }
  const char = position === undefined ? undefined : text[position];
  const doubledAtError = position !== undefined && position >= 2 && text.slice(position - 2, position) === '""';
  if (doubledAtError || /(?:^|[^\\])""[^\s,:}\]]/.test(text)) {
    return malformed(
      `the body is not valid JSON${at}: string variables are substituted with their quotes: write \${mimeType}, ` +
        'not "${mimeType}"',
      details,
    );
  }
  if (position !== undefined && (char === ',' || char === '}' || char === ']')) {
    const before = previousNonSpace(text, position);
    if (before === ':' || before === '[' || (before === ',' && char !== '}')) {
      return malformed(
        `the body is not valid JSON${at}: an empty numeric variable (imageInfo.* for a non-image) left a hole: ` +
          'put it inside a quoted string or use a form body ("${imageInfo.width}" gives "810" or "")',
        details,
      );
    }
  }
  return malformed(
    `the body is not valid JSON${at}: check the callbackBody template (${error.message})`,
    details,
  );
}

function decodeJson(text: string): DecodedBody {
  if (nestingDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw malformed(`the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = parse(text, reviver, {
      parseNumber,
      onDuplicateKey: ({ key }) => {
        throw new DuplicateKey(key);
      },
    });
  } catch (error) {
    if (error instanceof ForbiddenKey) {
      throw malformed(`forbidden key ${JSON.stringify(error.message)} in the JSON body`, { field: error.message });
    }
    if (error instanceof LoneSurrogate) {
      throw malformed(
        `the JSON body has an unpaired surrogate escape (like "\\ud800") in ${JSON.stringify(error.key.replace(LONE_SURROGATE_GLOBAL, '\uFFFD'))}: ` +
          'that is not a character and has no UTF-8 form; OSS never sends one (was the body built by hand?)',
        { field: error.key.replace(LONE_SURROGATE_GLOBAL, '\uFFFD') },
      );
    }
    if (error instanceof DuplicateKey) {
      throw malformed(`duplicate key ${JSON.stringify(error.key)} with different values in the JSON body`, {
        field: error.key,
      });
    }
    if (error instanceof SyntaxError) throw diagnoseJson(text, error);
    throw error;
  }
  if (!isPlainObject(value)) {
    throw malformed(
      `the JSON body must be an object ({…}), got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`,
    );
  }
  const fields = emptyRecord<unknown>();
  const custom = emptyRecord<string>();
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (key.startsWith(CUSTOM_PREFIX)) {
      if (typeof item !== 'string') {
        throw malformed(
          `custom variable ${JSON.stringify(key)} must be a string (OSS fills \${${key}} in as a quoted string), got ${
            item === null ? 'null' : Array.isArray(item) ? 'an array' : typeof item
          }`,
          { field: key },
        );
      }
      if (UNSUBSTITUTED.test(item)) throw unsubstituted(key, item);
      custom[key.slice(CUSTOM_PREFIX.length)] = item;
    } else {
      if (typeof item === 'string' && UNSUBSTITUTED.test(item)) throw unsubstituted(key, item);
      fields[key] = item;
    }
  }
  return { type: 'json', fields, custom };
}
