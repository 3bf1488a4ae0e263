/**
 * valibot schemas for OSS callbackBody system variables, and the callbackBody template that fills
 * them in.
 *
 * Each schema accepts both spellings OSS produces: form bodies carry every value as a (decoded)
 * string, JSON bodies carry `size` and `imageInfo.width/height` as bare numbers and the rest as
 * quoted strings. Optional variables map `''` (OSS leaves e.g. `imageInfo.*` empty for non-images,
 * `contentMd5` for multipart uploads) and absence to `undefined`.
 */
import * as v from 'valibot';

const registry = new WeakMap<object, string>();

/**
 * For each `oss.*` schema, the same check by hand: its output for an input valibot accepts, FAIL for
 * one valibot refuses (valibot is then run to say why). valibot's generic machinery (a dataset per
 * value, pipes, unions) costs several µs per callback, a third of an RSA verify.
 */
const FAIL: unique symbol = Symbol('invalid');
type FastCheck = (input: unknown) => unknown;
const fastChecks = new WeakMap<object, { check: FastCheck; optional: boolean }>();

function register<T extends object>(schema: T, variable: string, check: FastCheck): T {
  registry.set(schema, variable);
  fastChecks.set(schema, { check, optional: (schema as { type?: unknown }).type === 'optional' });
  return schema;
}

/** The OSS variable (e.g. `imageInfo.width`) an `oss.*` schema reads, or undefined. */
export function variableOf(schema: unknown): string | undefined {
  return typeof schema === 'object' && schema !== null ? registry.get(schema) : undefined;
}

class Invalid {
  constructor(readonly message: string) {}
}

/** A string-or-number input converted by `convert`, which returns `Invalid` to reject. */
function scalar<T>(convert: (input: string | number) => T | Invalid) {
  return v.pipe(
    v.union([v.string(), v.number()], 'expected a string or a number'),
    v.rawTransform<string | number, T>(({ dataset, addIssue, NEVER }) => {
      const result = convert(dataset.value);
      if (result instanceof Invalid) {
        addIssue({ message: result.message });
        return NEVER;
      }
      return result;
    }),
  );
}

const DIGITS = /^\d+$/;
const UINT64_MAX = '18446744073709551615';
const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const MD5_BASE64 = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

function integer(input: string | number): number | Invalid {
  const n = typeof input === 'number' ? input : DIGITS.test(input) ? Number(input) : Number.NaN;
  return Number.isSafeInteger(n) ? n : new Invalid(`expected an integer, got ${JSON.stringify(input)}`);
}

function nonNegativeInteger(input: string | number): number | Invalid {
  const n = integer(input);
  return n instanceof Invalid || n >= 0 ? n : new Invalid(`expected a non-negative integer, got ${n}`);
}

function optionalPositiveInteger(input: string | number): number | undefined | Invalid {
  if (input === '') return undefined;
  const n = integer(input);
  return n instanceof Invalid || n >= 1 ? n : new Invalid(`expected a positive integer, got ${n}`);
}

function optionalUint64(input: string | number): string | undefined | Invalid {
  if (input === '') return undefined;
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0
      ? String(input)
      : new Invalid(`crc64 must be an exact unsigned integer, got ${input} (parse the body losslessly)`);
  }
  if (!DIGITS.test(input) || input.length > 20) return new Invalid(`crc64 must be an unsigned 64-bit decimal, got ${JSON.stringify(input)}`);
  if (input.length <= 15) return String(Number(input)); // exact below 2^53: the same text as BigInt's, without leading zeros
  // Up to 20 digits: the decimal text without its leading zeros is BigInt's; compared as text with 2^64 - 1.
  let start = 0;
  while (start < input.length - 1 && input.charCodeAt(start) === 0x30) start++;
  const digits = start === 0 ? input : input.slice(start);
  return digits.length === 20 && digits > UINT64_MAX
    ? new Invalid(`crc64 must be an unsigned 64-bit decimal, got ${JSON.stringify(input)}`)
    : digits;
}

const emptyToUndefined = (s: string): string | undefined => (s === '' ? undefined : s);

function optionalString() {
  return v.optional(v.pipe(v.string(), v.transform(emptyToUndefined)));
}

// The fast checks, one per kind of schema above (same conversions, same order of checks).
const isString: FastCheck = (input) => (typeof input === 'string' ? input : FAIL);
const fastEmptyToUndefined: FastCheck = (input) => (typeof input === 'string' ? emptyToUndefined(input) : FAIL);
const fastOptionalString: FastCheck = (input) => (input === undefined ? undefined : fastEmptyToUndefined(input));
/** `scalar(convert)`: v.union([v.string(), v.number()]) (a number, but not NaN), then `convert`. */
function fastScalar<T>(convert: (input: string | number) => T | Invalid): FastCheck {
  return (input) => {
    if (typeof input !== 'string' && (typeof input !== 'number' || Number.isNaN(input))) return FAIL;
    const result = convert(input);
    return result instanceof Invalid ? FAIL : result;
  };
}
function fastOptional(check: FastCheck): FastCheck {
  return (input) => (input === undefined ? undefined : check(input));
}

export const oss = {
  bucket: register(
    v.pipe(v.string(), v.regex(BUCKET, 'not a bucket name (3-63 characters: a-z, 0-9, "-", starting and ending with a letter or digit)')),
    'bucket',
    (input) => (typeof input === 'string' && BUCKET.test(input) ? input : FAIL),
  ),
  object: register(
    v.pipe(
      v.string(),
      v.nonEmpty('the object key is empty'),
      v.check((key) => Buffer.byteLength(key, 'utf8') <= 1023, 'the object key is longer than 1023 UTF-8 bytes'),
    ),
    'object',
    (input) => (typeof input === 'string' && input.length !== 0 && Buffer.byteLength(input, 'utf8') <= 1023 ? input : FAIL),
  ),
  etag: register(v.pipe(v.string(), v.nonEmpty('the etag is empty')), 'etag', (input) => (typeof input === 'string' && input.length !== 0 ? input : FAIL)),
  size: register(scalar(nonNegativeInteger), 'size', fastScalar(nonNegativeInteger)),
  mimeType: register(v.pipe(v.string(), v.transform(emptyToUndefined)), 'mimeType', fastEmptyToUndefined),
  imageWidth: register(v.optional(scalar(optionalPositiveInteger)), 'imageInfo.width', fastOptional(fastScalar(optionalPositiveInteger))),
  imageHeight: register(v.optional(scalar(optionalPositiveInteger)), 'imageInfo.height', fastOptional(fastScalar(optionalPositiveInteger))),
  imageFormat: register(optionalString(), 'imageInfo.format', fastOptionalString),
  crc64: register(v.optional(scalar(optionalUint64)), 'crc64', fastOptional(fastScalar(optionalUint64))),
  contentMd5: register(
    v.optional(
      v.pipe(
        v.string(),
        v.transform(emptyToUndefined),
        v.check((s) => s === undefined || MD5_BASE64.test(s), 'contentMd5 must be the base64 of 16 bytes'),
      ),
    ),
    'contentMd5',
    fastOptional((input) => {
      if (typeof input !== 'string') return FAIL;
      const s = emptyToUndefined(input);
      return s === undefined || MD5_BASE64.test(s) ? s : FAIL;
    }),
  ),
  vpcId: register(optionalString(), 'vpcId', fastOptionalString),
  clientIp: register(v.string(), 'clientIp', isString),
  reqId: register(v.string(), 'reqId', isString),
  operation: register(v.string(), 'operation', isString),
} as const;

// ------------------------------------------------------------------------------------ fast parsing

/**
 * `v.safeParse(schema, input)` for an input that passes, without valibot: returns the output valibot
 * would give, or undefined when the input does not pass (run valibot for the issues).
 */
export type FastParser = (input: Readonly<Record<string, unknown>>) => Record<string, unknown> | undefined;

function isPlain(schema: unknown, reference: unknown): schema is Record<string, unknown> {
  return typeof schema === 'object' && schema !== null && (schema as { reference?: unknown }).reference === reference && !('pipe' in schema);
}

/**
 * A FastParser for the schemas the pipeline sees most: a plain `v.object` of `oss.*` entries (the
 * payload), and `v.record(v.string(), v.string())` (custom variables kept as they are). Undefined
 * for any other schema: valibot runs.
 */
export function fastParser(schema: unknown): FastParser | undefined {
  if (isPlain(schema, v.object)) {
    const keys: string[] = [];
    const checks: FastCheck[] = [];
    const optional: boolean[] = [];
    for (const [key, entry] of Object.entries(schema.entries as v.ObjectEntries)) {
      const fast = fastChecks.get(entry);
      // valibot tests `key in input`: a key Object.prototype has would need its semantics.
      if (fast === undefined || key in Object.prototype || key === '__proto__') return undefined;
      keys.push(key);
      checks.push(fast.check);
      optional.push(fast.optional);
    }
    // The input is the decoded body's fields (null prototype): `in` is an own-key test, as valibot's
    // `key in input` is on a plain-object copy of them.
    return (input) => {
      const output: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const found = input[key];
        // One lookup for a key that is there (decoded values are never undefined).
        if (found !== undefined || key in input) {
          const value = checks[i]!(found);
          if (value === FAIL) return undefined;
          output[key] = value;
        } else if (!optional[i]) return undefined;
      }
      return output;
    };
  }
  if (isPlain(schema, v.record) && isPlain(schema.key, v.string) && isPlain(schema.value, v.string)) {
    return (input) => {
      const output: Record<string, unknown> = {};
      for (const key in input) {
        if (!Object.hasOwn(input, key) || key === '__proto__' || key === 'prototype' || key === 'constructor') continue; // as valibot
        const value = input[key];
        if (typeof value !== 'string') return undefined;
        output[key] = value;
      }
      return output;
    };
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------ template

type AnySchema = v.GenericSchema<unknown, unknown>;
/** `v.object`, `v.strictObject` or `v.looseObject`. */
type ObjectLike = { readonly type: string; readonly entries: v.ObjectEntries };

const PAYLOAD_KEY = /^[A-Za-z0-9_.-]+$/;
const CUSTOM_KEY = /^[a-z0-9_.-]+$/;

function registeredVariable(schema: unknown): string | undefined {
  let current: unknown = schema;
  for (let depth = 0; depth < 32 && typeof current === 'object' && current !== null; depth++) {
    const name = registry.get(current);
    if (name !== undefined) return name;
    if ('wrapped' in current) current = (current as { wrapped: unknown }).wrapped;
    else if ('pipe' in current && Array.isArray((current as { pipe: unknown }).pipe)) {
      current = (current as { pipe: unknown[] }).pipe[0];
    } else return undefined;
  }
  return undefined;
}

function unwrapWrappers(schema: unknown): unknown {
  let current = schema;
  while (typeof current === 'object' && current !== null && 'wrapped' in current) {
    current = (current as { wrapped: unknown }).wrapped;
  }
  return current;
}

/**
 * The callbackBody uploaders must send for a job whose payload is `payload` (keys mapped to `oss.*`
 * schemas, possibly wrapped in `v.optional` / `v.pipe`) plus custom variables. Form:
 * `k=${var}&…&x:c=${x:c}`; JSON: `{"k":${var},…,"x:c":${x:c}}` (variables unquoted: OSS adds the
 * quotes for strings; only the image dimensions are quoted, see below). A custom schema that is an object adds its keys; a record adds nothing.
 * Throws a plain `Error` for a payload key without an OSS variable or a key OSS would reject.
 */
const EMPTY_WHEN_NOT_IMAGE = new Set(['imageInfo.width', 'imageInfo.height']);

export function callbackBodyTemplate(
  payload: ObjectLike,
  custom?: AnySchema | ObjectLike,
  type: 'form' | 'json' = 'form',
): string {
  const pairs: [key: string, variable: string][] = [];
  for (const [key, schema] of Object.entries(payload.entries)) {
    const variable = registeredVariable(schema);
    if (variable === undefined) {
      throw new Error(`payload key ${JSON.stringify(key)} is not an oss.* variable: use an oss.* schema or move it to custom`);
    }
    if (!PAYLOAD_KEY.test(key)) throw new Error(`payload key ${JSON.stringify(key)} may only use A-Z a-z 0-9 _ . -`);
    pairs.push([key, variable]);
  }
  const customSchema = unwrapWrappers(custom);
  if (customSchema !== undefined) {
    const kind = (customSchema as { type?: unknown }).type;
    if (typeof customSchema === 'object' && customSchema !== null && 'entries' in customSchema) {
      for (const key of Object.keys((customSchema as ObjectLike).entries)) {
        if (!CUSTOM_KEY.test(key)) {
          throw new Error(
            `custom variable ${JSON.stringify(key)}: OSS wants lower-case names; use only a-z 0-9 _ . -`,
          );
        }
        pairs.push([`x:${key}`, `x:${key}`]);
      }
    } else if (kind !== 'record') {
      throw new Error('the custom schema must be a v.object (its keys become x: variables) or a v.record');
    }
  }
  if (pairs.length === 0) throw new Error('the callbackBody would be empty: the payload names no OSS variable');
  if (type === 'json') {
    // OSS writes imageInfo.width/height as bare numbers and as *nothing* for a non-image, which
    // would leave a hole (`"w":,`). Quoted, they give "640" or "": valid JSON either way.
    const value = (n: string) => (EMPTY_WHEN_NOT_IMAGE.has(n) ? `"\${${n}}"` : `\${${n}}`);
    return `{${pairs.map(([k, n]) => `${JSON.stringify(k)}:${value(n)}`).join(',')}}`;
  }
  return pairs.map(([k, n]) => `${k}=\${${n}}`).join('&');
}
