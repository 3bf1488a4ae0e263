/** Object and variant URLs (image-upload's reply), and image-upload's policy checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPolicy, config as imageConfig } from '../../../functions/image-upload/index.js';
import { parseEnvConfig } from '../../../shared/core/env.js';
import { encodeObjectKey, objectUrl, parseVariants, publicBaseUrl } from '../../../shared/core/oss-urls.js';
import { CallbackError } from '../../../shared/protocol/errors.js';

describe('object URLs', () => {
  it('encodes each path segment, keeping the slashes', () => {
    assert.equal(encodeObjectKey('photos/2026/cat 1.jpg'), 'photos/2026/cat%201.jpg');
    assert.equal(encodeObjectKey('a+b/c&d=e?f#g%h'), 'a%2Bb/c%26d%3De%3Ff%23g%25h');
    assert.equal(encodeObjectKey("it's (fine)*!"), 'it%27s%20%28fine%29%2A%21');
    assert.equal(encodeObjectKey('中文/报告.pdf'), '%E4%B8%AD%E6%96%87/%E6%8A%A5%E5%91%8A.pdf');
    assert.equal(encodeObjectKey('a//b/'), 'a//b/', 'empty segments stay (OSS keys may have them)');
    assert.equal(encodeObjectKey('~user/a-b_c.d'), '~user/a-b_c.d');
    assert.equal(encodeObjectKey('..a/b..'), '..a/b..', 'dots inside a segment are fine');
  });

  it('refuses keys with a "." or ".." segment, which URL resolution would remove', () => {
    for (const key of ['a/../b.jpg', './a.jpg', 'a/.', '..', 'a/./b']) assert.throws(() => encodeObjectKey(key), /"\." or "\.\." segment/, key);
  });

  it('builds variant URLs with x-oss-process, "/" and "," left readable', () => {
    const base = publicBaseUrl('https://{bucket}.oss-{region}.aliyuncs.com/', 'examplebucket', 'cn-shanghai');
    assert.equal(base, 'https://examplebucket.oss-cn-shanghai.aliyuncs.com');
    assert.equal(objectUrl(base, 'a b.jpg'), 'https://examplebucket.oss-cn-shanghai.aliyuncs.com/a%20b.jpg');
    assert.equal(objectUrl(base, 'a b.jpg', 'image/resize,w_320'), 'https://examplebucket.oss-cn-shanghai.aliyuncs.com/a%20b.jpg?x-oss-process=image/resize,w_320');
    assert.equal(objectUrl('https://cdn.test/img', 'x.png', 'image/watermark,text_SGk='), 'https://cdn.test/img/x.png?x-oss-process=image/watermark,text_SGk%3D');
    assert.equal(objectUrl('https://cdn.test/', 'x.png', 'style/thumb'), 'https://cdn.test/x.png?x-oss-process=style/thumb');
  });

  it('needs the region only when the base URL uses {region}', () => {
    assert.equal(publicBaseUrl('https://img.example.com', 'b', undefined), 'https://img.example.com');
    assert.throws(() => publicBaseUrl('https://{bucket}.oss-{region}.aliyuncs.com', 'b', undefined, 'IMAGE_PUBLIC_BASE_URL'), (error: unknown) => error instanceof CallbackError && error.code === 'ConfigurationError' && /^IMAGE_PUBLIC_BASE_URL=.*FC_REGION/.test(error.message));
  });

  it('parses variants in order and names a bad one', () => {
    assert.deepEqual(parseVariants(' thumb=image/resize,w_320 ; big=style/large;'), [
      { name: 'thumb', process: 'image/resize,w_320' },
      { name: 'big', process: 'style/large' },
    ]);
    assert.deepEqual(parseVariants(''), []);
    assert.throws(() => parseVariants('thumb'), /"thumb" is not/);
    assert.throws(() => parseVariants('1x=image/resize,w_1'), /"1x=image\/resize,w_1" is not/);
    assert.throws(() => parseVariants('a=image/x y'), /is not/);
    assert.throws(() => parseVariants('a=image/x;a=image/y'), /listed twice/);
  });
});

describe('image-upload policy', () => {
  const c = parseEnvConfig(imageConfig.entries, { IMAGE_ALLOWED_PREFIXES: 'images/,avatars/', IMAGE_MAX_BYTES: '1000', IMAGE_MAX_PIXELS: '10000' });
  const image = { object: 'images/a.jpg', size: 900, format: 'jpg', width: 100, height: 100, mimeType: 'image/jpeg' };

  it('accepts an image within every limit (jpeg counts as jpg)', () => {
    assert.equal(checkPolicy(image, c), undefined);
    assert.equal(checkPolicy({ ...image, format: 'JPEG' }, c), undefined);
  });

  it('refuses with a stable reason and a message that names the limit', () => {
    const cases: [Partial<typeof image>, string, RegExp][] = [
      [{ object: 'other/a.jpg' }, 'KeyPrefixNotAllowed', /IMAGE_ALLOWED_PREFIXES: images\/, avatars\//],
      [{ format: 'tiff' }, 'ImageFormatNotAllowed', /"tiff" is not allowed \(IMAGE_ALLOWED_FORMATS: jpg, png, gif, webp\)/],
      [{ format: undefined, width: undefined, height: undefined, mimeType: 'text/plain' }, 'ImageFormatNotAllowed', /no image.*"text\/plain"/],
      [{ size: 1001 }, 'ImageTooLarge', /1001 bytes, more than IMAGE_MAX_BYTES=1000/],
      [{ width: 101 }, 'ImageTooLarge', /101×100 = 10100 pixels, more than IMAGE_MAX_PIXELS=10000/],
      [{ object: 'images/../a.jpg' }, 'ImageKeyNotAddressable', /"\." or "\.\." segment/],
    ];
    for (const [change, reason, message] of cases) {
      const refusal = checkPolicy({ ...image, ...change }, c);
      assert.equal(refusal?.reason, reason, JSON.stringify(change));
      assert.match(refusal!.message, message);
    }
  });

  it('allows any key prefix when IMAGE_ALLOWED_PREFIXES is empty', () => {
    assert.equal(checkPolicy({ ...image, object: 'anything/a.jpg' }, parseEnvConfig(imageConfig.entries, {})), undefined);
  });
});
