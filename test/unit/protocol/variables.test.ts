import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import { callbackBodyTemplate, decodeBody, oss, variableOf } from '../../../shared/protocol/index.js';

const ok = <S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> => {
  const result = v.safeParse(schema, input);
  assert.ok(result.success, `${JSON.stringify(input)}: ${result.issues?.map((i) => i.message).join('; ')}`);
  return result.output;
};
const bad = (schema: v.GenericSchema, input: unknown): void => {
  assert.equal(v.safeParse(schema, input).success, false, `${JSON.stringify(input)} should be refused`);
};

describe('oss.* schemas', () => {
  it('bucket', () => {
    for (const name of ['examplebucket', 'abc', 'a-b', '0bucket9', 'a'.repeat(63)]) assert.equal(ok(oss.bucket, name), name);
    for (const name of ['ab', 'a'.repeat(64), 'Example', '-abc', 'abc-', 'a_b', 'a.b', '', 5]) bad(oss.bucket, name);
  });
  it('object', () => {
    assert.equal(ok(oss.object, 'a/b 中.png'), 'a/b 中.png');
    ok(oss.object, 'a'.repeat(1023));
    ok(oss.object, '中'.repeat(341)); // 1023 bytes
    bad(oss.object, 'a'.repeat(1024));
    bad(oss.object, '中'.repeat(342)); // 1026 bytes
    bad(oss.object, '');
    bad(oss.object, 5);
  });
  it('etag', () => {
    assert.equal(ok(oss.etag, 'D8E8FCA2DC0F896FD7CB4CB0031BA249'), 'D8E8FCA2DC0F896FD7CB4CB0031BA249');
    bad(oss.etag, '');
  });
  it('size: form string and JSON number', () => {
    assert.equal(ok(oss.size, '112595'), 112595);
    assert.equal(ok(oss.size, 112595), 112595);
    assert.equal(ok(oss.size, '0'), 0);
    assert.equal(ok(oss.size, 0), 0);
    for (const input of ['', '-1', -1, '1.5', 1.5, 'abc', ' 5', '9007199254740993', 2 ** 53, Number.NaN, undefined, null]) bad(oss.size, input);
  });
  it('mimeType: empty becomes undefined', () => {
    assert.equal(ok(oss.mimeType, 'image/png'), 'image/png');
    assert.equal(ok(oss.mimeType, ''), undefined);
    bad(oss.mimeType, 5);
  });
  it('imageWidth / imageHeight: optional positive integers', () => {
    for (const schema of [oss.imageWidth, oss.imageHeight]) {
      assert.equal(ok(schema, '810'), 810);
      assert.equal(ok(schema, 810), 810);
      assert.equal(ok(schema, ''), undefined);
      assert.equal(ok(schema, undefined), undefined);
      for (const input of ['0', 0, '-1', '1.5', 'abc', null]) bad(schema, input);
    }
    const payload = v.object({ width: oss.imageWidth });
    assert.equal(ok(payload, {}).width, undefined);
  });
  it('imageFormat, vpcId: optional strings', () => {
    for (const schema of [oss.imageFormat, oss.vpcId]) {
      assert.equal(ok(schema, 'png'), 'png');
      assert.equal(ok(schema, ''), undefined);
      assert.equal(ok(schema, undefined), undefined);
      bad(schema, 5);
    }
  });
  it('crc64: exact unsigned 64-bit decimal string', () => {
    assert.equal(ok(oss.crc64, '18446744073709551615'), '18446744073709551615');
    assert.equal(ok(oss.crc64, '00123'), '123');
    assert.equal(ok(oss.crc64, 123), '123');
    assert.equal(ok(oss.crc64, 0), '0');
    assert.equal(ok(oss.crc64, ''), undefined);
    assert.equal(ok(oss.crc64, undefined), undefined);
    for (const input of ['18446744073709551616', '99999999999999999999', '123456789012345678901', '-1', '1.0', 'abc', 2 ** 64, 2 ** 53, -1, 1.5]) {
      bad(oss.crc64, input);
    }
  });
  it('contentMd5: base64 of 16 bytes', () => {
    assert.equal(ok(oss.contentMd5, '1B2M2Y8AsgTpgAmY7PhCfg=='), '1B2M2Y8AsgTpgAmY7PhCfg==');
    assert.equal(ok(oss.contentMd5, 'G5H/anNzgdvMS2AsvXpi6A=='), 'G5H/anNzgdvMS2AsvXpi6A==');
    assert.equal(ok(oss.contentMd5, ''), undefined);
    for (const input of ['abc', '1B2M2Y8AsgTpgAmY7PhCfg', '1B2M2Y8AsgTpgAmY7PhCfh==', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=']) bad(oss.contentMd5, input);
  });
  it('clientIp, reqId, operation: strings', () => {
    assert.equal(ok(oss.clientIp, '203.0.113.7'), '203.0.113.7');
    assert.equal(ok(oss.reqId, '66399AA50F2C4E3334673EC2'), '66399AA50F2C4E3334673EC2');
    assert.equal(ok(oss.operation, 'PutObject'), 'PutObject');
    bad(oss.reqId, 5);
  });
  it('each schema names the OSS variable it reads', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(oss).map(([name, schema]) => [name, variableOf(schema)])),
      {
        bucket: 'bucket',
        object: 'object',
        etag: 'etag',
        size: 'size',
        mimeType: 'mimeType',
        imageWidth: 'imageInfo.width',
        imageHeight: 'imageInfo.height',
        imageFormat: 'imageInfo.format',
        crc64: 'crc64',
        contentMd5: 'contentMd5',
        vpcId: 'vpcId',
        clientIp: 'clientIp',
        reqId: 'reqId',
        operation: 'operation',
      },
    );
    assert.equal(variableOf(v.string()), undefined);
    assert.equal(variableOf(undefined), undefined);
  });
});

describe('callbackBodyTemplate', () => {
  const payload = v.object({
    bucket: oss.bucket,
    object: oss.object,
    size: v.pipe(oss.size, v.maxValue(10_000_000)),
    width: oss.imageWidth,
    height: v.optional(oss.imageHeight),
    crc64: oss.crc64,
  });
  const custom = v.object({ uid: v.string(), order_id: v.optional(v.string()) });

  it('builds the form template', () => {
    assert.equal(
      callbackBodyTemplate(payload, custom),
      'bucket=${bucket}&object=${object}&size=${size}&width=${imageInfo.width}&height=${imageInfo.height}&crc64=${crc64}&x:uid=${x:uid}&x:order_id=${x:order_id}',
    );
  });
  it('builds the JSON template with unquoted variables, quoting only the image dimensions', () => {
    // imageInfo.width/height are bare numbers for images and nothing at all otherwise: quoted, the
    // result is valid JSON for both ("640" or "").
    assert.equal(
      callbackBodyTemplate(payload, custom, 'json'),
      '{"bucket":${bucket},"object":${object},"size":${size},"width":"${imageInfo.width}","height":"${imageInfo.height}","crc64":${crc64},"x:uid":${x:uid},"x:order_id":${x:order_id}}',
    );
  });
  it('adds nothing for a record of custom variables, or without custom', () => {
    const small = v.object({ bucket: oss.bucket, key: oss.object });
    assert.equal(callbackBodyTemplate(small, v.record(v.string(), v.string())), 'bucket=${bucket}&key=${object}');
    assert.equal(callbackBodyTemplate(small), 'bucket=${bucket}&key=${object}');
    assert.equal(callbackBodyTemplate(small, undefined, 'json'), '{"bucket":${bucket},"key":${object}}');
  });
  it('refuses payload keys without an OSS variable, and custom names OSS would reject', () => {
    assert.throws(() => callbackBodyTemplate(v.object({ bucket: oss.bucket, note: v.string() })), /"note" is not an oss\.\* variable/);
    assert.throws(() => callbackBodyTemplate(v.object({ 'a&b': oss.bucket })), /may only use/);
    assert.throws(() => callbackBodyTemplate(v.object({ bucket: oss.bucket }), v.object({ userId: v.string() })), /lower-case/);
    assert.throws(() => callbackBodyTemplate(v.object({ bucket: oss.bucket }), v.string()), /v\.object.*v\.record/);
    assert.throws(() => callbackBodyTemplate(v.object({})), /empty/);
  });

  /** Fills a template in the way OSS does (§5.2, §5.3). */
  function fill(template: string, type: 'form' | 'json', values: Record<string, string | number>): string {
    return template.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      const value = values[name] ?? '';
      if (type === 'form') return encodeURIComponent(String(value));
      return typeof value === 'number' ? String(value) : JSON.stringify(value);
    });
  }

  for (const type of ['form', 'json'] as const) {
    it(`round-trips a filled-in ${type} template through decodeBody and the payload schema`, () => {
      const values = {
        bucket: 'examplebucket',
        object: 'dir/a b+中:1.png',
        size: 5385,
        'imageInfo.width': 810,
        'imageInfo.height': 539,
        crc64: type === 'form' ? '18446744073709551615' : '123',
        'x:uid': 'u 1/2',
        'x:order_id': 'o-9',
      };
      const body = fill(callbackBodyTemplate(payload, custom, type), type, values);
      const decoded = decodeBody(type === 'form' ? 'application/x-www-form-urlencoded' : 'application/json', Buffer.from(body));
      const input = Object.fromEntries(Object.keys(payload.entries).filter((k) => k in decoded.fields).map((k) => [k, decoded.fields[k]]));
      assert.deepEqual(ok(payload, input), {
        bucket: 'examplebucket',
        object: 'dir/a b+中:1.png',
        size: 5385,
        width: 810,
        height: 539,
        crc64: values.crc64,
      });
      assert.deepEqual(ok(custom, { ...decoded.custom }), { uid: 'u 1/2', order_id: 'o-9' });
    });
  }
  it('a non-image in form mode gives undefined dimensions', () => {
    const body = fill(callbackBodyTemplate(payload), 'form', { bucket: 'examplebucket', object: 'a.txt', size: 5 });
    const decoded = decodeBody('application/x-www-form-urlencoded', Buffer.from(body));
    const output = ok(payload, { ...decoded.fields });
    assert.equal(output.width, undefined);
    assert.equal(output.height, undefined);
    assert.equal(output.crc64, undefined);
  });
});
