/**
 * Job configuration: envConfig/env helpers, and each job's own variables (defaults, empty values,
 * bad values named in the error).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { config as imageConfig } from '../../../functions/image-upload/index.js';
import { config as mediaConfig, parsePresets, presetFor } from '../../../functions/media-job/index.js';
import { handoffConfig, handoffTarget } from '../../../functions/media-job/contract.js';
import { config as quotaConfig } from '../../../functions/usage-quota/index.js';
import { ConfigError } from '../../../shared/core/config.js';
import { env, envConfig, parseEnvConfig } from '../../../shared/core/env.js';
import { CallbackError } from '../../../shared/index.js';

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError || error instanceof CallbackError, String(error));
    return (error as Error).message;
  }
  assert.fail('expected a configuration error');
}

describe('envConfig', () => {
  const entries = {
    A_INT: env.integer({ default: 5, min: 1, max: 10 }),
    A_LIST: env.list({ default: ['x'], lowerCase: true }),
    A_URL: env.url({ default: 'https://example.com/' }),
    A_MODE: env.oneOf(['one', 'two'], { default: 'one' }),
    A_BOOL: env.boolean({ default: false }),
    A_TEXT: env.optional(),
  };

  it('uses the defaults when variables are unset or empty (s.yaml passes "" for unset ones)', () => {
    const c = parseEnvConfig(entries, { A_INT: '', A_LIST: '  ', A_TEXT: '' });
    assert.deepEqual(c, { A_INT: 5, A_LIST: ['x'], A_URL: 'https://example.com', A_MODE: 'one', A_BOOL: false, A_TEXT: undefined });
  });

  it('reads and converts set values', () => {
    const c = parseEnvConfig(entries, { A_INT: ' 10 ', A_LIST: 'Jpg, PNG,,webp ', A_URL: 'http://cdn.test/img/', A_MODE: 'two', A_BOOL: 'yes', A_TEXT: 'hi' });
    assert.deepEqual(c, { A_INT: 10, A_LIST: ['jpg', 'png', 'webp'], A_URL: 'http://cdn.test/img', A_MODE: 'two', A_BOOL: true, A_TEXT: 'hi' });
  });

  it('names every bad variable, its value and what was expected', () => {
    const message = problem(() => parseEnvConfig(entries, { A_INT: '11', A_URL: 'ftp://x', A_MODE: 'three', A_BOOL: 'maybe' }));
    assert.match(message, /A_INT="11": expected an integer from 1 to 10/);
    assert.match(message, /A_URL="ftp:\/\/x": expected an http:\/\/ or https:\/\/ URL/);
    assert.match(message, /A_MODE="three": expected one of one, two/);
    assert.match(message, /A_BOOL="maybe": expected true or false/);
    assert.match(problem(() => parseEnvConfig({ NEED: env.string({ expected: 'a name' }) }, {})), /^NEED is not set: expected a name$/);
    assert.match(problem(() => parseEnvConfig({ N: env.integer({}) }, { N: '1.5' })), /N="1.5": expected an integer/);
  });

  it('refuses names with the FC_ prefix, which Function Compute reserves', () => {
    assert.match(problem(() => parseEnvConfig({ FC_THING: env.optional() }, {})), /reserves the FC_ prefix/);
  });

  it('reads once and keeps the result; a bad configuration answers ConfigurationError naming the variable', () => {
    const source: NodeJS.ProcessEnv = { A_INT: '3' };
    const config = envConfig({ A_INT: env.integer({ default: 1, min: 1, max: 9 }) }, () => source);
    assert.equal(config().A_INT, 3);
    source.A_INT = '4';
    assert.equal(config().A_INT, 3, 'kept');
    config.reset();
    assert.equal(config().A_INT, 4);
    source.A_INT = 'x';
    config.reset();
    try {
      config();
      assert.fail('expected an error');
    } catch (error) {
      assert.ok(error instanceof CallbackError);
      assert.equal(error.code, 'ConfigurationError');
      assert.equal(error.status, 500);
      assert.match(error.message, /^A_INT="x": expected an integer from 1 to 9$/);
    }
  });

  it('never repeats the value of a secret-looking variable', () => {
    const problems = problem(() =>
      parseEnvConfig({ UPLOAD_TOKEN_SECRET: env.string({ pattern: /^[0-9a-f]{64}$/, expected: '64 hex digits' }), DB_PASSWORD: env.integer({}) }, { UPLOAD_TOKEN_SECRET: 'hunter2-not-hex', DB_PASSWORD: 'pa55word' }),
    );
    assert.match(problems, /UPLOAD_TOKEN_SECRET=\(value hidden\): expected 64 hex digits/);
    assert.match(problems, /DB_PASSWORD=\(value hidden\)/);
    assert.doesNotMatch(problems, /hunter2|pa55word/);
  });
});

describe('job configurations', () => {
  it('image-upload: defaults, jpeg as jpg, and a bad IMAGE_VARIANTS named', () => {
    const c = parseEnvConfig(imageConfig.entries, {});
    assert.deepEqual(c.IMAGE_ALLOWED_FORMATS, ['jpg', 'png', 'gif', 'webp']);
    assert.equal(c.IMAGE_MAX_BYTES, 20 * 1024 * 1024);
    assert.deepEqual(c.IMAGE_ALLOWED_PREFIXES, []);
    assert.equal(c.IMAGE_PUBLIC_BASE_URL, 'https://{bucket}.oss-{region}.aliyuncs.com');
    assert.deepEqual(c.IMAGE_VARIANTS, [
      { name: 'thumb', process: 'image/resize,w_320' },
      { name: 'medium', process: 'image/resize,w_1024' },
    ]);
    assert.deepEqual(parseEnvConfig(imageConfig.entries, { IMAGE_ALLOWED_FORMATS: 'JPEG,png' }).IMAGE_ALLOWED_FORMATS, ['jpg', 'png']);
    assert.match(problem(() => parseEnvConfig(imageConfig.entries, { IMAGE_VARIANTS: 'thumb=resize,w_320' })), /^IMAGE_VARIANTS="thumb=resize,w_320": "thumb=resize,w_320" is not <name>=/);
    assert.match(problem(() => parseEnvConfig(imageConfig.entries, { IMAGE_MAX_PIXELS: '0' })), /IMAGE_MAX_PIXELS="0"/);
  });

  it('usage-quota: 1 GiB by default; 0 allowed; negative refused', () => {
    assert.equal(parseEnvConfig(quotaConfig.entries, {}).USAGE_QUOTA_DEFAULT_BYTES, 1024 ** 3);
    assert.equal(parseEnvConfig(quotaConfig.entries, { USAGE_QUOTA_DEFAULT_BYTES: '0' }).USAGE_QUOTA_DEFAULT_BYTES, 0);
    assert.match(problem(() => parseEnvConfig(quotaConfig.entries, { USAGE_QUOTA_DEFAULT_BYTES: '-1' })), /USAGE_QUOTA_DEFAULT_BYTES="-1"/);
  });

  it('media-job: presets, first match wins, type/* and exact types, parameters ignored', () => {
    const presets = parsePresets('video/quicktime=mov-720p; video/*=video-720p;audio/*=audio-norm');
    assert.equal(presetFor('video/quicktime', presets), 'mov-720p');
    assert.equal(presetFor('Video/MP4', presets), 'video-720p');
    assert.equal(presetFor('audio/mpeg; charset=binary', presets), 'audio-norm');
    assert.equal(presetFor('image/jpeg', presets), undefined);
    assert.equal(presetFor(undefined, presets), undefined);
    assert.equal(presetFor('videos/x', presets), undefined);
    assert.deepEqual(parseEnvConfig(mediaConfig.entries, {}).MEDIA_PRESETS, [
      { pattern: 'video/*', preset: 'video-default' },
      { pattern: 'audio/*', preset: 'audio-default' },
    ]);
    assert.match(problem(() => parseEnvConfig(mediaConfig.entries, { MEDIA_PRESETS: 'video=x' })), /MEDIA_PRESETS="video=x": "video=x" is not/);
    assert.match(problem(() => parseEnvConfig(mediaConfig.entries, { MEDIA_PRESETS: 'video/*=has space' })), /MEDIA_PRESETS/);
  });

  it('media hand-off: the FC 2.0 API when the worker has a service, else FC 3.0; bounds', () => {
    const fc3 = handoffTarget(parseEnvConfig(handoffConfig.entries, {}));
    assert.deepEqual(fc3, { api: 'fc3', functionName: 'media-worker-example', timeoutMs: 1500 });
    const fc2 = handoffTarget(
      parseEnvConfig(handoffConfig.entries, { MEDIA_WORKER_FUNCTION: 'transcode', MEDIA_WORKER_SERVICE: 'media', MEDIA_WORKER_QUALIFIER: 'prod', MEDIA_FC_ENDPOINT: 'http://127.0.0.1:9000/' }),
    );
    assert.deepEqual(fc2, { api: 'fc2', functionName: 'transcode', serviceName: 'media', qualifier: 'prod', endpoint: 'http://127.0.0.1:9000', timeoutMs: 1500 });
    assert.equal(handoffTarget(parseEnvConfig(handoffConfig.entries, { MEDIA_WORKER_SERVICE: 'media', MEDIA_FC_API: 'fc3' })).api, 'fc3');
    assert.throws(() => handoffTarget(parseEnvConfig(handoffConfig.entries, { MEDIA_FC_API: 'fc2' })), /MEDIA_FC_API=fc2 needs MEDIA_WORKER_SERVICE/);
    assert.match(problem(() => parseEnvConfig(handoffConfig.entries, { MEDIA_HANDOFF_TIMEOUT_MS: '5000' })), /MEDIA_HANDOFF_TIMEOUT_MS="5000": expected an integer from 100 to 3000/);
    assert.match(problem(() => parseEnvConfig(handoffConfig.entries, { MEDIA_WORKER_FUNCTION: 'has/slash' })), /MEDIA_WORKER_FUNCTION="has\/slash": expected a function name/);
  });
});
