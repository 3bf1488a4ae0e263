/** The object facts, the idempotency key and owner binding, on literal values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configFromEnv } from '../../../shared/core/config.js';
import { normalizeEtag, objectIdempotencyKey } from '../../../shared/core/object.js';
import { type OwnerConfig, ownerBinding, ownerSettingNames, resolveOwner } from '../../../shared/core/owner.js';
import { signUploadToken } from '../../../shared/core/upload-token.js';
import { isCode } from '../../helpers/errors.js';

const NONE: OwnerConfig = { tokenSecret: undefined, tokenGraceSeconds: 3600, defaultFrom: undefined, vars: {} };
const SECRET = 'unit-test-upload-token-secret-0123456789abcdef';

describe('object facts and the idempotency key', () => {
  it('normalizes ETag spellings from headers, bodies and events', () => {
    assert.equal(normalizeEtag('"5eb63bbbe01eeed093cb22bb8f5acdc3"'), '5EB63BBBE01EEED093CB22BB8F5ACDC3');
    assert.equal(normalizeEtag('W/"ABC-3"'), 'ABC-3');
    assert.equal(normalizeEtag(' abc '), 'ABC');
  });

  it('is obj: + SHA-256 of bucket \\0 key \\0 ETag, the same for a callback and an OSS event', () => {
    const fromCallback = objectIdempotencyKey({ bucket: 'examplebucket', key: 'photos/cat.jpg', etag: 'd41d8cd98f00b204e9800998ecf8427e' });
    const fromEvent = objectIdempotencyKey({ bucket: 'examplebucket', key: 'photos/cat.jpg', etag: '"D41D8CD98F00B204E9800998ECF8427E"' });
    assert.equal(fromCallback, fromEvent);
    assert.equal(fromCallback, 'obj:26eab88c77d388b97aacd2002f05e82bafac5e4597845c67bb1de94d8f6e9b2f');
    assert.notEqual(fromCallback, objectIdempotencyKey({ bucket: 'examplebucket', key: 'photos/cat.jpg\0', etag: 'D41D8CD98F00B204E9800998ECF8427E' }));
    assert.notEqual(fromCallback, objectIdempotencyKey({ bucket: 'examplebucket', key: 'photos/cat.jpg', etag: 'D41D8CD98F00B204E9800998ECF8427F' }));
  });
});

describe('owner binding', () => {
  it('names its settings after the job', () => {
    assert.deepEqual(ownerSettingNames('usage-quota'), { from: 'USAGE_QUOTA_OWNER_FROM', pattern: 'USAGE_QUOTA_OWNER_KEY_PATTERN' });
  });

  it('defaults: CALLBACK_OWNER_FROM, else token with a secret and/or key with a pattern, else a configuration error', () => {
    const pattern = { USAGE_QUOTA_OWNER_KEY_PATTERN: '^users/([^/]+)/' };
    assert.deepEqual(ownerBinding('usage-quota', { ...NONE, tokenSecret: SECRET }).from, ['token']);
    assert.deepEqual(ownerBinding('usage-quota', { ...NONE, vars: pattern }).from, ['key']);
    assert.deepEqual(ownerBinding('usage-quota', { ...NONE, tokenSecret: SECRET, vars: pattern }).from, ['token', 'key']);
    assert.deepEqual(ownerBinding('usage-quota', { ...NONE, defaultFrom: ['x:owner'] }).from, ['x:owner']);
    // An explicit fallback wins over the implicit one (npm start: token,x:owner with a development secret).
    assert.deepEqual(ownerBinding('usage-quota', { ...NONE, tokenSecret: SECRET, defaultFrom: ['token', 'x:owner'] }).from, ['token', 'x:owner']);
    assert.deepEqual(ownerBinding('usage-quota', { ...NONE, tokenSecret: SECRET, defaultFrom: ['x:owner'], vars: { USAGE_QUOTA_OWNER_FROM: 'token' } }).from, ['token']);
    assert.throws(() => ownerBinding('usage-quota', NONE), isCode('ConfigurationError', /UPLOAD_TOKEN_SECRET/, /USAGE_QUOTA_OWNER_KEY_PATTERN/, /USAGE_QUOTA_OWNER_FROM=x:owner/));
  });

  it('a list of sources: one the callback does not carry passes to the next; one it carries decides', () => {
    const config: OwnerConfig = { ...NONE, tokenSecret: SECRET };
    const binding = ownerBinding('usage-quota', { ...config, vars: { USAGE_QUOTA_OWNER_FROM: 'token, x:owner' } });
    const object = { bucket: 'photos', key: 'uploads/alice/a.png' };
    const token = signUploadToken({ ...object, owner: 'alice', job: 'usage-quota', expiresAt: 2_000_000_000 }, SECRET);
    // A token present: its owner, not x:owner.
    assert.deepEqual(resolveOwner(binding, { object, custom: { owner: 'mallory' }, query: `upload_token=${token}` }, config, 1_900_000_000), { id: 'alice', from: 'token' });
    // No token: x:owner.
    assert.deepEqual(resolveOwner(binding, { object, custom: { owner: 'bob' }, query: null }, config), { id: 'bob', from: 'x:owner' });
    // A token that does not verify is refused, never skipped for x:owner.
    const other = signUploadToken({ ...object, key: 'uploads/alice/b.png', owner: 'alice', job: 'usage-quota', expiresAt: 2_000_000_000 }, SECRET);
    assert.throws(() => resolveOwner(binding, { object, custom: { owner: 'mallory' }, query: `upload_token=${other}` }, config, 1_900_000_000), isCode('UploadTokenInvalid'));
    // Neither: one refusal naming the setting.
    assert.throws(() => resolveOwner(binding, { object, custom: {}, query: null }, config), isCode('OwnerUnverified', /USAGE_QUOTA_OWNER_FROM=token,x:owner/));
  });

  it('refuses settings that cannot work', () => {
    assert.throws(() => ownerBinding('media-job', { ...NONE, vars: { MEDIA_JOB_OWNER_FROM: 'key' } }), isCode('ConfigurationError', /MEDIA_JOB_OWNER_KEY_PATTERN/));
    assert.throws(() => ownerBinding('media-job', { ...NONE, vars: { MEDIA_JOB_OWNER_FROM: 'token' } }), isCode('ConfigurationError', /UPLOAD_TOKEN_SECRET/));
    assert.throws(() => ownerBinding('media-job', { ...NONE, vars: { MEDIA_JOB_OWNER_KEY_PATTERN: '^users/' } }), isCode('ConfigurationError', /exactly one capture group/));
    assert.throws(() => ownerBinding('media-job', { ...NONE, vars: { MEDIA_JOB_OWNER_KEY_PATTERN: '^(a)/(b)' } }), isCode('ConfigurationError', /exactly one capture group/));
    assert.throws(() => ownerBinding('media-job', { ...NONE, vars: { MEDIA_JOB_OWNER_KEY_PATTERN: '(' } }), isCode('ConfigurationError', /not a regular expression/));
    assert.throws(() => ownerBinding('media-job', { ...NONE, vars: { MEDIA_JOB_OWNER_FROM: 'header' } }), isCode('ConfigurationError', /token, key, x:owner/));
  });

  it('reads the settings from the environment', () => {
    const config = configFromEnv({ UPLOAD_TOKEN_SECRET: SECRET, IMAGE_UPLOAD_OWNER_FROM: 'key', IMAGE_UPLOAD_OWNER_KEY_PATTERN: '^u/([^/]+)/', UPLOAD_TOKEN_GRACE_S: '60' });
    assert.equal(config.owner.tokenGraceSeconds, 60);
    assert.deepEqual(resolveOwner(ownerBinding('image-upload', config.owner), { object: { bucket: 'b', key: 'u/zoe/a.jpg' }, custom: { owner: 'mallory' }, query: null }, config.owner), { id: 'zoe', from: 'key' });
    assert.equal(configFromEnv({}).objects.verify, 'head');
    assert.throws(() => configFromEnv({ OSS_VERIFY_OBJECTS: 'maybe' }), /OSS_VERIFY_OBJECTS/);
    assert.throws(() => configFromEnv({ OSS_ENDPOINT: 'oss-cn-hangzhou.aliyuncs.com' }), /OSS_ENDPOINT/);
  });

  it('a token binds its owner to one bucket, key and job, read from the verified query', () => {
    const config = { ...NONE, tokenSecret: SECRET };
    const binding = ownerBinding('usage-quota', config);
    const object = { bucket: 'examplebucket', key: 'uploads/a.bin' };
    const token = signUploadToken({ ...object, owner: 'olga', job: 'usage-quota', expiresAt: 2_000_000_000 }, SECRET);
    assert.deepEqual(resolveOwner(binding, { object, custom: {}, query: `a=1&upload_token=${token}` }, config, 1_900_000_000), { id: 'olga', from: 'token' });
    assert.throws(() => resolveOwner(binding, { object, custom: {}, query: `upload_token=${token}` }, config, 2_000_000_000 + 3601), isCode('UploadTokenInvalid', /expired/));
    assert.throws(() => resolveOwner(binding, { object: { ...object, key: 'uploads/b.bin' }, custom: {}, query: `upload_token=${token}` }, config, 1_900_000_000), isCode('UploadTokenInvalid', /another object/));
    assert.throws(() => resolveOwner(binding, { object, custom: { owner: 'olga' }, query: null }, config), isCode('OwnerUnverified', /upload_token/));
  });

  it('x:owner only where allowed, and never empty or over 128 characters', () => {
    const config = { ...NONE, defaultFrom: ['x:owner'] as const };
    const binding = ownerBinding('usage-quota', config);
    const input = { object: { bucket: 'b', key: 'k' }, query: null };
    assert.deepEqual(resolveOwner(binding, { ...input, custom: { owner: 'pat' } }, config), { id: 'pat', from: 'x:owner' });
    assert.throws(() => resolveOwner(binding, { ...input, custom: {} }, config), isCode('OwnerUnverified', /x:owner/));
    assert.throws(() => resolveOwner(binding, { ...input, custom: { owner: 'x'.repeat(129) } }, config), isCode('OwnerUnverified', /128/));
  });
});
