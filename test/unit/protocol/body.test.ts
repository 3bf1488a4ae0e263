import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallbackError, decodeBody, type DecodedBody } from '../../../shared/protocol/index.js';
import { isCode } from '../../helpers/errors.js';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';


const decode = (contentType: string | undefined, body: string | Buffer): DecodedBody =>
  decodeBody(contentType, typeof body === 'string' ? Buffer.from(body, 'utf8') : body);

/** Copies the null-prototype records into plain objects for deepEqual. */
const plain = (decoded: DecodedBody) => ({ type: decoded.type, fields: { ...decoded.fields }, custom: { ...decoded.custom } });

describe('decodeBody: content type', () => {
  it('parses the media type case-insensitively and ignores parameters', () => {
    assert.equal(decode('application/x-www-form-urlencoded; charset=UTF-8', 'a=1').type, 'form');
    assert.equal(decode('Application/X-WWW-Form-Urlencoded', 'a=1').type, 'form');
    assert.equal(decode('APPLICATION/JSON;charset=utf-8', '{"a":1}').type, 'json');
    assert.equal(decode(' application/json ', '{"a":1}').type, 'json');
  });
  for (const contentType of [undefined, '', 'text/plain', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/xml']) {
    it(`refuses ${JSON.stringify(contentType)}`, () => {
      assert.throws(() => decode(contentType, 'a=1'), isCode('UnsupportedContentType', /callbackBodyType/));
    });
  }
  it('refuses an empty body', () => {
    for (const type of [FORM, JSON_TYPE]) {
      assert.throws(() => decode(type, ''), isCode('MalformedBody', /empty.*callbackBody template/));
    }
  });
  it('refuses bytes that are not UTF-8', () => {
    for (const type of [FORM, JSON_TYPE]) {
      assert.throws(() => decode(type, Buffer.from([0x62, 0x3d, 0xff, 0xfe])), isCode('MalformedBody', /UTF-8/));
      assert.throws(() => decode(type, Buffer.from([0x62, 0x3d, 0xe4, 0xb8])), isCode('MalformedBody', /UTF-8/));
    }
  });
});

describe('decodeBody: form', () => {
  it('decodes the real zmaplex vector (values URL-encoded by OSS)', () => {
    const body = 'filename=zmaplex%2F20210407_14%3A31%3A41_286180%2F20200130021612_pnfqp.jpg&size=112595';
    assert.deepEqual(plain(decode(FORM, body)), {
      type: 'form',
      fields: { filename: 'zmaplex/20210407_14:31:41_286180/20200130021612_pnfqp.jpg', size: '112595' },
      custom: {},
    });
  });
  it('decodes the real headSculpture vector', () => {
    const body = 'filename=headSculpture%2Fjikang2.jpg&size=108904&mimeType=image%2Fjpeg&height=278&width=200';
    assert.deepEqual(plain(decode(FORM, body)).fields, {
      filename: 'headSculpture/jikang2.jpg',
      size: '108904',
      mimeType: 'image/jpeg',
      height: '278',
      width: '200',
    });
  });
  it('decodes the doc example: empty image fields and an x: variable', () => {
    // The documented tail (§5.2), with the leading fields filled in.
    const body =
      'bucket=examplebucket&object=test.txt&etag=D8E8FCA2DC0F896FD7CB4CB0031BA249&size=5&mimeType=text%2Fplain' +
      '&imageInfo.height=&imageInfo.width=&imageInfo.format=&x:var1=for-callback-test';
    assert.deepEqual(plain(decode(FORM, body)), {
      type: 'form',
      fields: {
        bucket: 'examplebucket',
        object: 'test.txt',
        etag: 'D8E8FCA2DC0F896FD7CB4CB0031BA249',
        size: '5',
        mimeType: 'text/plain',
        'imageInfo.height': '',
        'imageInfo.width': '',
        'imageInfo.format': '',
      },
      custom: { var1: 'for-callback-test' },
    });
  });
  it('decodes with form rules: + is a space, %2B a plus, invalid escapes stay', () => {
    const decoded = decode(FORM, 'object=a+b%2Bc%E4%B8%AD.png&note=100%&bad=%zz&x:who=J+Doe&&flag&x%3Aenc=1');
    assert.deepEqual(plain(decoded), {
      type: 'form',
      fields: { object: 'a b+c中.png', note: '100%', bad: '%zz', flag: '' },
      custom: { who: 'J Doe', enc: '1' },
    });
  });
  it('returns null-prototype records', () => {
    const decoded = decode(FORM, 'toString=1&x:constructor=2');
    assert.equal(Object.getPrototypeOf(decoded.fields), null);
    assert.equal(Object.getPrototypeOf(decoded.custom), null);
    assert.equal(decoded.fields.toString, '1');
    assert.equal(decoded.custom.constructor, '2');
    assert.equal(decoded.fields.hasOwnProperty, undefined);
  });
  it('refuses a duplicate key, naming it', () => {
    assert.throws(() => decode(FORM, 'size=1&object=a&size=2'), isCode('MalformedBody', /duplicate field "size"/));
    assert.throws(() => decode(FORM, 'size=1&si%7Ae=1'), isCode('MalformedBody', /duplicate field "size"/));
    assert.throws(() => decode(FORM, 'x:a=1&x:a=1'), isCode('MalformedBody', /duplicate field "x:a"/));
  });
  it('refuses __proto__', () => {
    assert.throws(() => decode(FORM, '__proto__=1'), isCode('MalformedBody', /forbidden key/));
  });
  it('recognises a JSON body sent as form', () => {
    assert.throws(
      () => decode(FORM, '{"bucket":"examplebucket","size":5}'),
      isCode('MalformedBody', /the body is JSON but Content-Type is form \(application\/x-www-form-urlencoded\): set callbackBodyType to application\/json/),
    );
  });
  it('recognises an unsubstituted variable (template URL-encoded or misspelled)', () => {
    for (const body of ['bucket=%24%7Bbucket%7D&size=5', 'bucket=examplebucket&mimeType=${mimetype}', 'x:uid=%24%7Bx%3Auid%7D']) {
      assert.throws(
        () => decode(FORM, body),
        isCode('MalformedBody', /literal text "\$\{/, /URL-encoded before it reached OSS/, /http_build_query/, /qs\.stringify/, /case-sensitive/),
      );
    }
  });
});

describe('decodeBody: json', () => {
  it('decodes the real Cloudreve vector (string variables quoted, size bare)', () => {
    const body =
      '{"name":"2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg","source_name":"1/1_hFRtDLgM_2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg","size":114020,"pic_info":"810,539"}';
    assert.deepEqual(plain(decode(JSON_TYPE, body)), {
      type: 'json',
      fields: {
        name: '2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg',
        source_name: '1/1_hFRtDLgM_2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg',
        size: 114020,
        pic_info: '810,539',
      },
      custom: {},
    });
  });
  it('puts top-level x: keys into custom', () => {
    const decoded = decode(JSON_TYPE, '{"bucket":"b","x:fname":"a.jpg","nested":{"x:inner":1}}');
    assert.deepEqual({ ...decoded.custom }, { fname: 'a.jpg' });
    assert.deepEqual(Object.keys(decoded.fields), ['bucket', 'nested']);
    assert.equal(Object.getPrototypeOf(decoded.fields), null);
    assert.equal(Object.getPrototypeOf(decoded.fields.nested), null);
  });
  it('refuses a non-string x: value', () => {
    assert.throws(() => decode(JSON_TYPE, '{"x:n":5}'), isCode('MalformedBody', /custom variable "x:n" must be a string/));
    assert.throws(() => decode(JSON_TYPE, '{"x:n":null}'), isCode('MalformedBody', /got null/));
  });
  it('keeps integers beyond 2^53 exact as digit strings', () => {
    const decoded = decode(
      JSON_TYPE,
      '{"crc64":18446744073709551615,"big":9007199254740993,"max":9007199254740991,"neg":-5,"f":1.5,"e":1e2,"huge":1e400,"bigE":1e20}',
    );
    assert.deepEqual({ ...decoded.fields }, {
      crc64: '18446744073709551615',
      big: '9007199254740993',
      max: 9007199254740991,
      neg: -5,
      f: 1.5,
      e: 100,
      huge: '1e400',
      bigE: '1e20',
    });
  });
  it('refuses __proto__ anywhere and constructor.prototype', () => {
    for (const body of [
      '{"__proto__":{"polluted":1}}',
      '{"a":{"b":{"__proto__":1}}}',
      '{"a":[{"__proto__":{}}]}',
      '{"constructor":{"prototype":{"polluted":1}}}',
      '{"a":{"constructor":{"prototype":1}}}',
    ]) {
      assert.throws(() => decode(JSON_TYPE, body), isCode('MalformedBody', /forbidden key/), body);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(decode(JSON_TYPE, '{"constructor":"fine"}').fields.constructor, 'fine');
  });
  it('limits nesting to 32 levels, without recursion on deep input', () => {
    const nest = (depth: number): string => `${'{"a":'.repeat(depth - 1)}{"a":1}${'}'.repeat(depth - 1)}`;
    assert.equal(decode(JSON_TYPE, nest(32)).type, 'json');
    assert.throws(() => decode(JSON_TYPE, nest(33)), isCode('MalformedBody', /nested deeper than 32/));
    assert.throws(() => decode(JSON_TYPE, `{"a":${'['.repeat(200_000)}`), isCode('MalformedBody', /nested deeper than 32/));
    // brackets inside strings do not count
    assert.equal(decode(JSON_TYPE, `{"a":"${'[{'.repeat(100)}\\"${'['.repeat(100)}"}`).type, 'json');
  });
  it('refuses duplicate keys with different values, naming the key', () => {
    assert.throws(() => decode(JSON_TYPE, '{"size":1,"size":2}'), isCode('MalformedBody', /duplicate key "size"/));
    assert.equal(decode(JSON_TYPE, '{"size":1,"size":1}').fields.size, 1);
  });
  it('refuses a top level that is not an object', () => {
    for (const body of ['[]', '"text"', '5', 'null', 'true']) {
      assert.throws(() => decode(JSON_TYPE, body), isCode('MalformedBody', /must be an object/), body);
    }
  });

  describe('diagnoses the template mistake behind invalid JSON', () => {
    it('form-shaped template with callbackBodyType application/json (real soonio vector)', () => {
      const body = 'filename="local/var/www/zhuye.png"&size=5385&mimeType="application/octet-stream"&height=256&width=256';
      assert.throws(
        () => decode(JSON_TYPE, body),
        isCode('MalformedBody', /at position 0/, /callbackBodyType is application\/json but callbackBody is form-shaped \(key=\$\{var\}&…\)/),
      );
      assert.throws(
        () => decode(JSON_TYPE, 'filename="a/b.png"&size=5385&mimeType="image/png"'),
        isCode('MalformedBody', /form-shaped/),
      );
    });
    it('quoted string variables give doubled quotes', () => {
      for (const body of ['{"mimeType":""image/png"","size":5}', '{"size":5,"object":""a.png""}', '{"o": ""a""}']) {
        assert.throws(
          () => decode(JSON_TYPE, body),
          isCode('MalformedBody', /string variables are substituted with their quotes: write \$\{mimeType\}, not "\$\{mimeType\}"/),
          body,
        );
      }
    });
    it('an empty numeric variable leaves a hole', () => {
      for (const [body, position] of [
        ['{"size":5,"w":,"h":}', 14],
        ['{"size":5,"w":}', 14],
        ['{"w": , "h": 1}', 6],
        ['{"dims":[,]}', 9],
        ['{"dims":[810,]}', 13],
      ] as const) {
        assert.throws(
          () => decode(JSON_TYPE, body),
          isCode(
            'MalformedBody',
            new RegExp(`at position ${position}`),
            /an empty numeric variable \(imageInfo\.\* for a non-image\) left a hole: put it inside a quoted string or use a form body/,
          ),
          body,
        );
      }
    });
    it('a leftover ${ is an unsubstituted variable', () => {
      assert.throws(
        () => decode(JSON_TYPE, '{"bucket":${bucket},"size":5}'),
        isCode('MalformedBody', /not substituted/),
      );
    });
    it('anything else: the real mixmedia typo vector gets the generic message with its position', () => {
      const body = '{"mimeType":"image/png", "size":1081151, "filename","ipa/demo/….png", "bucket":"oss-mixmedia-com"}';
      assert.throws(() => decode(JSON_TYPE, body), (error: unknown) => {
        isCode('MalformedBody', /not valid JSON at position 51: check the callbackBody template/)(error);
        assert.deepEqual((error as CallbackError).details, { position: 51 });
        assert.doesNotMatch((error as CallbackError).message, /form-shaped|quotes|hole|substituted/);
        return true;
      });
      assert.throws(() => decode(JSON_TYPE, '{"a":1,}'), isCode('MalformedBody', /at position 7: check the callbackBody template/));
      assert.throws(() => decode(JSON_TYPE, '{"a":1'), isCode('MalformedBody', /check the callbackBody template/));
    });
  });
});

describe('decodeBody: one string, one identity (no lossy decoding)', () => {
  it('refuses unpaired surrogate escapes in JSON keys and values, at any depth', () => {
    for (const body of ['{"owner":"bob\\ud800"}', '{"owner":"\\udc00bob"}', '{"x:owner\\ud800":"bob"}', '{"a":{"b":["x\\udbff"]}}', '{"owner":"\\ude00\\ud83d"}']) {
      assert.throws(() => decode(JSON_TYPE, body), isCode('MalformedBody', /unpaired surrogate escape/, /no UTF-8 form/), body);
    }
  });
  it('accepts a surrogate pair escape (an emoji) as the character it spells', () => {
    assert.equal(plain(decode(JSON_TYPE, '{"owner":"\\ud83d\\ude00"}')).fields.owner, '😀');
    assert.equal(decode(JSON_TYPE, '{"owner":"\\ud83d\\ude00"}').fields.owner, decode(JSON_TYPE, '{"owner":"😀"}').fields.owner);
  });
  it('refuses form escapes that are not UTF-8 (an encoded lone surrogate, a stray byte) instead of writing U+FFFD', () => {
    assert.throws(() => decode(FORM, 'x:owner=bob%ED%A0%80'), isCode('MalformedBody', /field "x:owner" has percent-escapes that are not UTF-8/));
    assert.throws(() => decode(FORM, 'object=a%FF'), isCode('MalformedBody', /field "object"/));
    assert.throws(() => decode(FORM, 'obj%C0ect=a'), isCode('MalformedBody', /name has percent-escapes that are not UTF-8/));
  });
  it('keeps a real U+FFFD (escaped or raw) and invalid escapes as they are', () => {
    assert.equal(decode(FORM, 'object=a%EF%BF%BD').fields.object, 'a\uFFFD');
    assert.equal(decode(FORM, 'object=a\uFFFD%20b').fields.object, 'a\uFFFD b');
    assert.equal(decode(FORM, 'object=a%zz').fields.object, 'a%zz');
  });
});
