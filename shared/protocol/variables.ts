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

function register<T extends object>(schema: T, variable: string): T {
  registry.set(schema, variable);
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
const UINT64_MAX = 18446744073709551615n;
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
  const n = BigInt(input);
  return n > UINT64_MAX ? new Invalid(`crc64 must be an unsigned 64-bit decimal, got ${JSON.stringify(input)}`) : n.toString();
}

const emptyToUndefined = (s: string): string | undefined => (s === '' ? undefined : s);

function optionalString() {
  return v.optional(v.pipe(v.string(), v.transform(emptyToUndefined)));
}

export const oss = {
  bucket: register(
    v.pipe(v.string(), v.regex(BUCKET, 'not a bucket name (3-63 characters: a-z, 0-9, "-", starting and ending with a letter or digit)')),
    'bucket',
  ),
  object: register(
    v.pipe(
      v.string(),
      v.nonEmpty('the object key is empty'),
      v.check((key) => Buffer.byteLength(key, 'utf8') <= 1023, 'the object key is longer than 1023 UTF-8 bytes'),
    ),
    'object',
  ),
  etag: register(v.pipe(v.string(), v.nonEmpty('the etag is empty')), 'etag'),
  size: register(scalar(nonNegativeInteger), 'size'),
  mimeType: register(v.pipe(v.string(), v.transform(emptyToUndefined)), 'mimeType'),
  imageWidth: register(v.optional(scalar(optionalPositiveInteger)), 'imageInfo.width'),
  imageHeight: register(v.optional(scalar(optionalPositiveInteger)), 'imageInfo.height'),
  imageFormat: register(optionalString(), 'imageInfo.format'),
  crc64: register(v.optional(scalar(optionalUint64)), 'crc64'),
  contentMd5: register(
    v.optional(
      v.pipe(
        v.string(),
        v.transform(emptyToUndefined),
        v.check((s) => s === undefined || MD5_BASE64.test(s), 'contentMd5 must be the base64 of 16 bytes'),
      ),
    ),
    'contentMd5',
  ),
  vpcId: register(optionalString(), 'vpcId'),
  clientIp: register(v.string(), 'clientIp'),
  reqId: register(v.string(), 'reqId'),
  operation: register(v.string(), 'operation'),
} as const;

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
