/**
 * The hot path's shortcuts give exactly what the general code gives: the hand-written checks of the
 * `oss.*` schemas against valibot, ASCII escapes against formDecode, the signature check without a
 * promise against the promise one, the memoized path, query and key URL against fresh ones.
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as v from 'valibot';
import { job as recordUpload } from '../../../functions/record-upload/index.js';
import {
  checkCallbackSignature,
  createKeyResolver,
  decodeBody,
  fastParser,
  formDecode,
  oss,
  percentDecodeBytes,
  stringToSign,
  verifyCallbackSignature,
} from '../../../shared/protocol/index.js';
import { DEV_KEY_URL, DEV_PRIVATE_KEY, DEV_TRUSTED_KEYS } from '../../helpers/callbacks.js';

/** Values of every shape the decoders produce (and some they do not). */
const anyValue = fc.oneof(
  fc.constantFrom('', '0', '00', '-1', '1.5', '1e3', ' 7', '640', 'abc', 'examplebucket', 'Ex', 'a'.repeat(1024), 'é'.repeat(600), '1B2M2Y8AsgTpgAmY7PhCfg==', '1B2M2Y8AsgTpgAmY7PhCfh==', '18446744073709551615', '18446744073709551616', '0018446744073709551615', '00000000000000000'),
  fc.string(),
  fc.stringMatching(/^[0-9]{1,22}$/),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, -0, Number.MAX_SAFE_INTEGER + 1, null, true, undefined),
  fc.constant({}),
);

function valibotResult(schema: v.GenericSchema, input: unknown): Record<string, unknown> | undefined {
  const result = v.safeParse(schema, input);
  return result.success ? (result.output as Record<string, unknown>) : undefined;
}

describe('fastParser: the same answers as valibot', () => {
  const payloadKeys = Object.keys(recordUpload.payload.entries);
  const fields = fc.dictionary(fc.constantFrom(...payloadKeys, 'other', 'x'), anyValue, { maxKeys: payloadKeys.length + 2 }).map((record) =>
    Object.assign(Object.create(null), record) as Record<string, unknown>,
  );

  it("record-upload's payload: success, output and its keys on random fields", () => {
    const fast = fastParser(recordUpload.payload)!;
    assert.ok(fast);
    fc.assert(
      fc.property(fields, (input) => {
        const plain: Record<string, unknown> = {};
        for (const key of payloadKeys) if (Object.hasOwn(input, key)) plain[key] = input[key];
        assert.deepStrictEqual(fast(input), valibotResult(recordUpload.payload, plain));
      }),
      { numRuns: 20_000 },
    );
  });

  it('valid callbacks, mostly: every field present with plausible values', () => {
    const fast = fastParser(recordUpload.payload)!;
    const plausible = fc.record({
      bucket: fc.constantFrom('examplebucket', 'ab', 'a-b-c', 'AB'),
      object: fc.string({ minLength: 0, maxLength: 20 }),
      etag: fc.constantFrom('D41D8CD98F00B204E9800998ECF8427E', ''),
      size: fc.oneof(fc.nat(), fc.stringMatching(/^[0-9]{1,17}$/)),
      mimeType: fc.constantFrom('image/jpeg', ''),
      imageWidth: fc.oneof(fc.constant(''), fc.nat(), fc.stringMatching(/^[0-9]{1,5}$/)),
      imageHeight: fc.oneof(fc.constant(''), fc.nat(), fc.stringMatching(/^[0-9]{1,5}$/)),
      imageFormat: fc.constantFrom('jpg', ''),
      crc64: fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9]{1,21}$/), fc.nat()),
      contentMd5: fc.constantFrom('1B2M2Y8AsgTpgAmY7PhCfg==', ''),
      vpcId: fc.constantFrom('vpc-1', ''),
      clientIp: fc.constant('203.0.113.7'),
      reqId: fc.constant('91557B17DC1D5965E013B13A'),
      operation: fc.constant('PutObject'),
    }, { requiredKeys: ['bucket', 'object', 'etag', 'size', 'mimeType', 'clientIp', 'reqId', 'operation'] });
    fc.assert(
      fc.property(plausible, (record) => {
        const input = Object.assign(Object.create(null), record) as Record<string, unknown>;
        assert.deepStrictEqual(fast(input), valibotResult(recordUpload.payload, { ...record }));
      }),
      { numRuns: 20_000 },
    );
  });

  it('each oss.* schema on its own', () => {
    for (const [name, schema] of Object.entries(oss)) {
      const object = v.object({ [name]: schema });
      const fast = fastParser(object)!;
      assert.ok(fast, name);
      fc.assert(
        fc.property(anyValue, (value) => {
          const input = Object.assign(Object.create(null), value === undefined ? {} : { [name]: value }) as Record<string, unknown>;
          assert.deepStrictEqual(fast(input), valibotResult(object, { ...input }), `${name}: ${String(value)}`);
        }),
        { numRuns: 3000 },
      );
    }
  });

  it('crc64 beyond 2^53: the decimal text without leading zeros, as BigInt gives it; refused above 2^64 - 1', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{16,20}$/), (digits) => {
        const expected = BigInt(digits) > 18446744073709551615n ? undefined : BigInt(digits).toString();
        const result = v.safeParse(oss.crc64, digits);
        assert.equal(result.success ? result.output : undefined, expected, digits);
      }),
      { numRuns: 20_000 },
    );
    assert.equal(v.parse(oss.crc64, '18446744073709551615'), '18446744073709551615');
    assert.equal(v.safeParse(oss.crc64, '18446744073709551616').success, false);
    assert.equal(v.parse(oss.crc64, '00000000000000000000'), '0');
    assert.equal(v.parse(oss.crc64, '09999999999999999999'), '9999999999999999999');
  });

  it('custom variables as a record of strings, valibot skipping the same keys', () => {
    const fast = fastParser(recordUpload.custom)!;
    assert.ok(fast);
    const custom = fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'prototype', 'constructor', 'owner', '1', '0')), fc.oneof(fc.string(), fc.integer()), { maxKeys: 6 });
    fc.assert(
      fc.property(custom, (record) => {
        const input = Object.create(null) as Record<string, unknown>;
        for (const [key, value] of Object.entries(record)) Object.defineProperty(input, key, { value, enumerable: true, writable: true, configurable: true });
        const fastOutput = fast(input);
        const slow = valibotResult(recordUpload.custom, input);
        assert.deepStrictEqual(fastOutput, slow);
        if (fastOutput) assert.deepEqual(Object.keys(fastOutput), Object.keys(slow!));
      }),
      { numRuns: 10_000 },
    );
  });

  it('no fast parser for schemas it does not know: valibot runs', () => {
    assert.equal(fastParser(v.strictObject({ bucket: oss.bucket })), undefined);
    assert.equal(fastParser(v.looseObject({ bucket: oss.bucket })), undefined);
    assert.equal(fastParser(v.pipe(v.object({ bucket: oss.bucket }), v.check(() => false))), undefined);
    assert.equal(fastParser(v.object({ bucket: oss.bucket, extra: v.string() })), undefined);
    assert.equal(fastParser(v.object({ bucket: oss.bucket, toString: oss.reqId })), undefined);
    assert.equal(fastParser(v.object({ bucket: v.optional(oss.bucket, 'examplebucket') })), undefined);
    assert.equal(fastParser(v.record(v.string(), v.pipe(v.string(), v.minLength(2)))), undefined);
    assert.equal(fastParser(v.record(v.pipe(v.string(), v.regex(/^a/)), v.string())), undefined);
    assert.equal(fastParser(v.object({ custom: v.string() })), undefined);
  });
});

describe('form decoding of ASCII escapes: the same strings as formDecode', () => {
  const component = fc
    .array(fc.oneof(fc.constantFrom('%', '+', '%2B', '%2F', '%3D', '%25', '%7E', '%7F', '%00', '%41', '%e9', '%C3%A9', '%zz', '%4', 'a', 'Z', ' ', '=', 'é', '😀', '\uFFFD'), fc.stringMatching(/^%[0-9A-Fa-f]{2}$/)), { maxLength: 12 })
    .map((parts) => parts.join(''))
    .filter((s) => !s.includes('&') && !s.includes('=') && s !== '__proto__');

  it('a value: decoded as formDecode decodes it, or refused only when that holds U+FFFD from an escape', () => {
    fc.assert(
      fc.property(component, (value) => {
        let decoded: unknown;
        let refused = false;
        try {
          decoded = decodeBody('application/x-www-form-urlencoded', Buffer.from(`k=${value}`)).fields.k;
        } catch {
          refused = true;
        }
        const expected = formDecode(value);
        if (refused) {
          assert.ok(expected.includes('\uFFFD'), value);
          assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(percentDecodeBytes(value.replaceAll('+', ' '))));
        } else {
          assert.equal(decoded, expected, value);
        }
      }),
      { numRuns: 30_000 },
    );
  });
});

describe('form decoding: keys remembered from the last body give the same fields', () => {
  /** What a form body decodes to, by the letter of the format (no shortcut); undefined when refused. */
  function reference(body: string): { fields: Record<string, unknown>; custom: Record<string, string> } | undefined {
    const fields: Record<string, unknown> = {};
    const custom: Record<string, string> = {};
    for (const part of body.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const key = formDecode(eq === -1 ? part : part.slice(0, eq));
      const value = eq === -1 ? '' : formDecode(part.slice(eq + 1));
      if (key === '__proto__') return undefined;
      const [target, name] = key.startsWith('x:') ? [custom, key.slice(2)] : [fields, key];
      if (Object.hasOwn(target, name)) return undefined;
      Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
    }
    return { fields, custom };
  }
  const keyText = fc.constantFrom('bucket', 'object', 'x:owner', 'x:a+b', 'a%2Bb', 'x%3Aowner', 'size', 'x:', 'k', 'a+b', 'é', 'constructor', 'x:__proto__', 'bucketx', 'bucke');
  const valueText = fc.constantFrom('', 'v', 'a%2Fb', 'a+b', 'é', '%41');
  const formBody = fc.array(fc.tuple(keyText, fc.option(valueText)), { maxLength: 8 }).map((parts) =>
    parts.map(([k, value]) => (value === null ? k : `${k}=${value}`)).join('&'),
  );

  it('decoding a body after any other body: the fields and custom variables of the body itself', () => {
    fc.assert(
      fc.property(fc.array(formBody, { minLength: 1, maxLength: 6 }), (bodies) => {
        for (const text of bodies) {
          const expected = reference(text);
          let decoded: { fields: Record<string, unknown>; custom: Record<string, string> } | undefined;
          try {
            const result = decodeBody('application/x-www-form-urlencoded', Buffer.from(text || 'k'));
            decoded = { fields: { ...result.fields }, custom: Object.defineProperties({}, Object.getOwnPropertyDescriptors(result.custom)) };
          } catch {
            decoded = undefined;
          }
          if (text === '') continue;
          assert.deepStrictEqual(decoded && { fields: Object.entries(decoded.fields), custom: Object.entries(decoded.custom) }, expected && { fields: Object.entries(expected.fields), custom: Object.entries(expected.custom) }, text);
        }
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('signature: without a promise when the key is at hand', () => {
  const keyUrlHeader = Buffer.from(DEV_KEY_URL).toString('base64');
  function request(path: string, query: string | null, body: string, keyHeader = keyUrlHeader) {
    const bytes = Buffer.from(body);
    const data = Buffer.concat([percentDecodeBytes(path), ...(query === null ? [] : [Buffer.from(`?${query}`)]), Buffer.from('\n'), bytes]);
    return {
      rawPath: path,
      rawQuery: query,
      headers: { authorization: sign('md5', data, DEV_PRIVATE_KEY).toString('base64'), 'x-oss-pub-key-url': keyHeader },
      body: bytes,
    };
  }

  it('answers at once with a cached key, through a promise before, the same result', async () => {
    const keys = createKeyResolver({ trustedKeys: DEV_TRUSTED_KEYS });
    const req = request('/record-upload', 'a=1', 'bucket=b');
    const first = checkCallbackSignature(req, keys);
    assert.ok(first instanceof Promise, 'the first resolution of a trusted key parses it');
    assert.deepEqual(await first, { keyUrl: DEV_KEY_URL, query: 'a=1' });
    const second = checkCallbackSignature(req, keys);
    assert.ok(!(second instanceof Promise));
    assert.deepEqual(second, { keyUrl: DEV_KEY_URL, query: 'a=1' });
    assert.deepEqual(await verifyCallbackSignature(req, keys), second);
  });

  it('alternating paths, queries and key URL headers: each checked on its own bytes', async () => {
    const keys = createKeyResolver({ trustedKeys: DEV_TRUSTED_KEYS });
    const other = Buffer.from('https://gosspublic.alicdn.com/not-trusted.pem').toString('base64');
    const cases = [
      request('/record-upload', null, 'bucket=b'),
      request('/p%2Fq', '', 'bucket=b'),
      request('/record-upload', 'x=%41', 'bucket=b'),
      request('/p%2Fq', 'x=%41', 'bucket=c'),
    ];
    for (let round = 0; round < 3; round++) {
      for (const req of cases) assert.deepEqual(await verifyCallbackSignature(req, keys), { keyUrl: DEV_KEY_URL, query: req.rawQuery });
      // A signature over other bytes, with each memo holding the last good path and query.
      const tampered = { ...cases[round]!, body: Buffer.from('bucket=z') };
      await assert.rejects(verifyCallbackSignature(tampered, keys), { code: 'SignatureInvalid' });
      const swapped = { ...cases[1]!, rawQuery: cases[2]!.rawQuery };
      await assert.rejects(verifyCallbackSignature(swapped, keys), { code: 'SignatureInvalid' });
      // Another key URL header, then the first again.
      await assert.rejects(verifyCallbackSignature({ ...cases[0]!, headers: { ...cases[0]!.headers, 'x-oss-pub-key-url': other } }, keys), (error: any) =>
        /not-trusted\.pem/.test(error.message),
      );
      await assert.rejects(verifyCallbackSignature({ ...cases[0]!, headers: { ...cases[0]!.headers, 'x-oss-pub-key-url': `${other}x` } }, keys), {
        code: 'PublicKeyUrlForbidden',
      });
    }
  });

  it('stringToSign: the same bytes with the memo warm or cold', () => {
    fc.assert(
      fc.property(fc.constantFrom('/a', '/a%2Fb', '/%E4%B8%AD', '/'), fc.constantFrom(null, '', 'a=1', 'é=%20'), fc.uint8Array({ maxLength: 40 }), (path, query, body) => {
        const expected = Buffer.concat([percentDecodeBytes(path), ...(query === null ? [] : [Buffer.from(`?${query}`)]), Buffer.from('\n'), Buffer.from(body)]);
        assert.deepEqual(stringToSign(path, query, Buffer.from(body)), expected);
      }),
      { numRuns: 2000 },
    );
  });
});
