/**
 * upload-policy through its real handler (FC 3.0 events, FC 2.0 req/resp, the local listener): the
 * sign-in (HS256, a loopback JWKS with RS256/ES256), the policy it signs (every condition an uploader
 * could try to get around), the upload token, CORS, and its refusals.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { handler } from '../../functions/upload-policy/index.js';
import { imageLimits, JOB_TEMPLATES } from '../../functions/upload-policy/jobs.js';
import { resetSettings } from '../../functions/upload-policy/settings.js';
import { eventKeyFilter, matchesKeyFilter } from '../../shared/core/event-filter.js';
import { verifyUploadToken } from '../../shared/core/upload-token.js';
import { signPostPolicyV4 } from '../../shared/protocol/oss-v4.js';
import { fc2Request, fc2Response } from '../../shared/testing/platforms.js';

const JWT_SECRET = 'j'.repeat(40);
const TOKEN_SECRET = 't'.repeat(48);
const BASE_ENV = {
  OSS_ALLOWED_BUCKETS: 'photos',
  UPLOAD_BUCKET: 'photos',
  UPLOAD_REGION: 'cn-hangzhou',
  UPLOAD_CALLBACK_BASE_URL: 'https://cb.example.com',
  UPLOAD_ALLOWED_ORIGINS: 'https://app.example.com',
  UPLOAD_JWT_SECRET: JWT_SECRET,
  UPLOAD_TOKEN_SECRET: TOKEN_SECRET,
  OSS_CALLBACK_LOG: 'off',
};
const MANAGED = [...Object.keys(BASE_ENV), 'UPLOAD_KEY_PREFIX', 'FC_REGION', 'UPLOAD_JWKS_URL', 'UPLOAD_JWT_ISSUER', 'UPLOAD_JWT_AUDIENCE', 'UPLOAD_MAX_BYTES', 'UPLOAD_JOBS', 'FC_FUNCTION_NAME', 'IMAGE_MAX_BYTES', 'UPLOAD_POLICY_TTL_S'];
const saved = Object.fromEntries(MANAGED.map((k) => [k, process.env[k]]));

function setEnv(extra: Record<string, string | undefined> = {}) {
  for (const k of MANAGED) delete process.env[k];
  for (const [k, val] of Object.entries({ ...BASE_ENV, ...extra })) if (val !== undefined) process.env[k] = val;
  resetSettings();
  imageLimits.reset();
}
after(() => {
  for (const [k, val] of Object.entries(saved)) if (val === undefined) delete process.env[k]; else process.env[k] = val;
  resetSettings();
});

const CONTEXT = { requestId: 'req-1', region: 'cn-hangzhou', credentials: { accessKeyId: 'STS.ak', accessKeySecret: 'sts-secret', securityToken: 'sts-token' } };

async function sign(sub: string, options: { secret?: string; exp?: string | number; alg?: string } = {}) {
  return new SignJWT({}).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(options.exp ?? '5m').sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

async function call(options: { body?: unknown; token?: string; headers?: Record<string, string>; method?: string; context?: object } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
  const event = {
    version: 'v1',
    rawPath: '/',
    body: options.body === undefined ? '' : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    isBase64Encoded: false,
    headers,
    queryParameters: {},
    requestContext: { requestId: 'req-1', http: { method: options.method ?? 'POST', path: '/', sourceIp: '127.0.0.1' } },
  };
  const result = await handler(Buffer.from(JSON.stringify(event)), (options.context ?? CONTEXT) as never);
  return { status: result.statusCode, headers: result.headers, json: JSON.parse(result.body) };
}

const upload = { job: 'usage-quota', filename: 'Holiday Photo.PNG', contentType: 'image/png', size: 2048 };

describe('upload-policy', () => {
  beforeEach(() => setEnv());

  it('signs a V4 policy for one key of the owner, with size, type and callback pinned', async () => {
    const { status, json } = await call({ body: upload, token: await sign('alice') });
    assert.equal(status, 200, JSON.stringify(json));
    assert.match(json.key, /^uploads\/usage-quota\/alice\/[A-Za-z0-9_-]{22}\.png$/);
    assert.equal(json.url, 'https://photos.oss-cn-hangzhou.aliyuncs.com');
    assert.equal(json.maxBytes, 100 * 1024 * 1024);
    const f = json.fields;
    assert.deepEqual(Object.keys(f), ['key', 'policy', 'x-oss-signature-version', 'x-oss-credential', 'x-oss-date', 'x-oss-signature', 'x-oss-security-token', 'success_action_status', 'x-oss-forbid-overwrite', 'Content-Type', 'callback', 'x:owner']);
    assert.equal(f['x:owner'], 'alice');
    assert.match(f['x-oss-credential'], /^STS\.ak\/\d{8}\/cn-hangzhou\/oss\/aliyun_v4_request$/);
    assert.equal(f['x-oss-signature'], signPostPolicyV4(f.policy, 'sts-secret', f['x-oss-date'].slice(0, 8), 'cn-hangzhou'));
    const policy = JSON.parse(Buffer.from(f.policy, 'base64').toString('utf8'));
    const expiry = Date.parse(policy.expiration);
    assert.equal(new Date(expiry).toISOString(), json.expiresAt);
    assert.ok(expiry - Date.now() <= 600_000 && expiry - Date.now() > 590_000);
    assert.deepEqual(policy.conditions, [
      { bucket: 'photos' },
      ['eq', '$key', json.key],
      ['content-length-range', 1, 100 * 1024 * 1024],
      ['eq', '$Content-Type', 'image/png'],
      { callback: f.callback },
      ['eq', '$success_action_status', '200'],
      ['eq', '$x-oss-forbid-overwrite', 'true'],
      { 'x-oss-signature-version': 'OSS4-HMAC-SHA256' },
      { 'x-oss-credential': f['x-oss-credential'] },
      { 'x-oss-date': f['x-oss-date'] },
      { 'x-oss-security-token': 'sts-token' },
    ]);
    const callback = JSON.parse(Buffer.from(f.callback, 'base64').toString('utf8'));
    assert.equal(callback.callbackBody, 'bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&reqId=${reqId}&x:owner=${x:owner}');
    assert.equal(callback.callbackBodyType, 'application/x-www-form-urlencoded');
    const url = new URL(callback.callbackUrl);
    assert.equal(`${url.origin}${url.pathname}`, 'https://cb.example.com/usage-quota');
    const token = url.searchParams.get('upload_token')!;
    const check = verifyUploadToken(token, { bucket: 'photos', key: json.key, job: 'usage-quota' }, TOKEN_SECRET);
    assert.ok(check.ok);
    assert.equal(check.claims.owner, 'alice');
    assert.equal(check.claims.expiresAt * 1000, expiry);
    // The same token is worth nothing for another object or job.
    assert.equal(verifyUploadToken(token, { bucket: 'photos', key: 'uploads/usage-quota/bob/x.png', job: 'usage-quota' }, TOKEN_SECRET).ok, false);
    assert.equal(verifyUploadToken(token, { bucket: 'photos', key: json.key, job: 'record-upload' }, TOKEN_SECRET).ok, false);
    // The presigned PUT carries the same callback, signed, and pins type, exact length and no-overwrite.
    const put = new URL(json.put.url);
    assert.equal(put.origin, 'https://photos.oss-cn-hangzhou.aliyuncs.com');
    assert.equal(decodeURIComponent(put.pathname), `/${json.key}`);
    assert.equal(put.searchParams.get('callback'), f.callback);
    assert.deepEqual(JSON.parse(Buffer.from(put.searchParams.get('callback-var')!, 'base64').toString()), { 'x:owner': 'alice' });
    assert.equal(put.searchParams.get('x-oss-additional-headers'), 'content-length');
    assert.equal(put.searchParams.get('x-oss-security-token'), 'sts-token');
    assert.deepEqual(json.put.headers, { 'content-type': 'image/png', 'content-length': '2048', 'x-oss-forbid-overwrite': 'true' });
  });

  it('each policy gets its own key; a job without x:owner gets no x:owner field', async () => {
    const token = await sign('alice');
    const a = await call({ body: upload, token });
    const b = await call({ body: upload, token });
    assert.notEqual(a.json.key, b.json.key);
    const r = await call({ body: { ...upload, job: 'record-upload', filename: 'notes' }, token });
    assert.equal(r.status, 200);
    assert.match(r.json.key, /^uploads\/record-upload\/alice\/[A-Za-z0-9_-]{22}$/);
    assert.equal(r.json.fields['x:owner'], undefined);
  });

  it('puts each job\'s uploads in its own key space: the prefix its OSS trigger watches by default, and no other job\'s', async () => {
    const token = await sign('alice');
    const jobs = Object.keys(JOB_TEMPLATES);
    assert.ok(jobs.length >= 4);
    for (const job of jobs) {
      const r = await call({ body: { ...upload, job }, token });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.ok(r.json.key.startsWith(`uploads/${job}/alice/`), r.json.key);
      for (const other of jobs) {
        assert.equal(matchesKeyFilter(eventKeyFilter(other, {}), r.json.key), other === job, `${r.json.key}: ${other}'s trigger`);
      }
      assert.ok(verifyUploadToken(new URL(JSON.parse(Buffer.from(r.json.fields.callback, 'base64').toString()).callbackUrl).searchParams.get('upload_token')!, { bucket: 'photos', key: r.json.key, job }, TOKEN_SECRET).ok);
    }
    // Another UPLOAD_KEY_PREFIX moves every job's key space (then export <JOB>_EVENT_PREFIX to match).
    setEnv({ UPLOAD_KEY_PREFIX: 'media/in' });
    const moved = await call({ body: upload, token });
    assert.match(moved.json.key, /^media\/in\/usage-quota\/alice\/[A-Za-z0-9_-]{22}\.png$/);
    assert.ok(matchesKeyFilter(eventKeyFilter('usage-quota', { USAGE_QUOTA_EVENT_PREFIX: 'media/in/usage-quota/' }), moved.json.key));
    assert.equal(matchesKeyFilter(eventKeyFilter('usage-quota', {}), moved.json.key), false);
  });

  it('without STS: no security token anywhere', async () => {
    const { json } = await call({ body: upload, token: await sign('alice'), context: { requestId: 'r', region: 'cn-hangzhou', credentials: { accessKeyId: 'ak', accessKeySecret: 'sk' } } });
    assert.equal(json.fields['x-oss-security-token'], undefined);
    assert.ok(!Buffer.from(json.fields.policy, 'base64').toString().includes('security-token'));
    assert.equal(new URL(json.put.url).searchParams.get('x-oss-security-token'), null);
  });

  it('the job\'s own limits: image-upload\'s size and formats', async () => {
    setEnv({ IMAGE_MAX_BYTES: '4096' });
    const token = await sign('alice');
    const ok = await call({ body: { ...upload, job: 'image-upload' }, token });
    assert.equal(ok.json.maxBytes, 4096);
    const policy = JSON.parse(Buffer.from(ok.json.fields.policy, 'base64').toString());
    assert.deepEqual(policy.conditions[2], ['content-length-range', 1, 4096]);
    const big = await call({ body: { ...upload, job: 'image-upload', size: 4097 }, token });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'UploadTooLarge');
    const type = await call({ body: { ...upload, job: 'image-upload', contentType: 'image/svg+xml' }, token });
    assert.equal(type.status, 415);
    assert.equal(type.json.error.code, 'ContentTypeNotAllowed');
    assert.match(type.json.error.message, /image\/jpeg, image\/png, image\/gif, image\/webp/);
  });

  it('refuses a missing, malformed, forged, expired or "none" sign-in token with 401 and a stable code', async () => {
    const cases: [string | undefined, string, RegExp][] = [
      [undefined, 'TokenMissing', /no Authorization header/],
      ['Basic abc', 'TokenMissing', /not "Bearer <JWT>"/],
      [`Bearer ${await sign('alice', { secret: 'x'.repeat(40) })}`, 'TokenInvalid', /signature does not verify/],
      [`Bearer ${await sign('alice', { exp: Math.floor(Date.now() / 1000) - 60 })}`, 'TokenExpired', /expired/],
      [`Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"alice","exp":9999999999}').toString('base64url')}.`, 'TokenInvalid', /not valid/],
      [`Bearer ${await sign('../etc')}`, 'TokenInvalid', /"sub" is not a usable owner id/],
    ];
    for (const [authorization, code, message] of cases) {
      const { status, json, headers } = await call({ body: upload, headers: authorization ? { authorization } : {} });
      assert.equal(status, 401, `${authorization}: ${JSON.stringify(json)}`);
      assert.equal(json.error.code, code);
      assert.match(json.error.message, message);
      assert.equal(headers['content-type'], 'application/json; charset=utf-8');
    }
  });

  it('refuses bad requests with stable codes', async () => {
    const token = await sign('alice');
    const cases: [unknown, string, number, Record<string, string>?][] = [
      ['{not json', 'InvalidRequest', 400],
      [{ ...upload, size: 0 }, 'InvalidRequest', 400],
      [{ ...upload, size: 1.5 }, 'InvalidRequest', 400],
      [{ ...upload, filename: 'a\nb' }, 'InvalidRequest', 400],
      [{ ...upload, extra: 1 }, 'InvalidRequest', 400],
      [{ ...upload, contentType: 'png' }, 'InvalidRequest', 400],
      [{ ...upload, job: 'media-dispatch' }, 'JobNotOffered', 404],
      [{ ...upload, size: 100 * 1024 * 1024 + 1 }, 'UploadTooLarge', 413],
      [upload, 'UnsupportedContentType', 415, { 'content-type': 'text/plain' }],
      ['x'.repeat(5000), 'BodyTooLarge', 413],
    ];
    for (const [body, code, status, headers] of cases) {
      const r = await call({ body, token, ...(headers ? { headers } : {}) });
      assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, code);
    }
    setEnv({ UPLOAD_JOBS: 'usage-quota' });
    const r = await call({ body: { ...upload, job: 'record-upload' }, token: await sign('alice') });
    assert.equal(r.json.error.code, 'JobNotOffered');
    assert.match(r.json.error.message, /the jobs offered are usage-quota/);
  });

  it('CORS: the application\'s origins only, on replies and refusals; preflight', async () => {
    const token = await sign('alice');
    const ok = await call({ body: upload, token, headers: { origin: 'https://app.example.com' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    const refused = await call({ body: upload, headers: { origin: 'https://app.example.com' } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['access-control-allow-origin'], 'https://app.example.com');
    const evil = await call({ body: upload, token, headers: { origin: 'https://evil.example.net' } });
    assert.equal(evil.status, 403);
    assert.equal(evil.json.error.code, 'OriginNotAllowed');
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    const preflight = await call({ method: 'OPTIONS', headers: { origin: 'https://app.example.com' } });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers['access-control-allow-methods'], 'POST, OPTIONS');
    assert.equal(preflight.headers['access-control-allow-headers'], 'authorization, content-type');
    const get = await call({ method: 'GET', token });
    assert.equal(get.json.error.code, 'MethodNotAllowed');
  });

  it('configuration: ConfigurationError naming the variable, never a secret: "*" origins when deployed, bucket, secrets, region', async () => {
    const token = await sign('alice');
    const cases: [Record<string, string>, RegExp][] = [
      [{ UPLOAD_ALLOWED_ORIGINS: '*', FC_FUNCTION_NAME: 'upload-policy' }, /UPLOAD_ALLOWED_ORIGINS must list/],
      [{ OSS_ALLOWED_BUCKETS: 'other' }, /UPLOAD_BUCKET photos is not in OSS_ALLOWED_BUCKETS/],
      [{ UPLOAD_TOKEN_SECRET: 'tooShortTokenSecret' }, /UPLOAD_TOKEN_SECRET must be at least 32 bytes/],
      [{ UPLOAD_JWT_SECRET: 'tooShortJwtSecret' }, /UPLOAD_JWT_SECRET must be at least 32 bytes/],
      [{ UPLOAD_JWKS_URL: 'https://idp.example.com/jwks.json' }, /set exactly one of UPLOAD_JWT_SECRET/],
      [{ UPLOAD_POLICY_TTL_S: '3600' }, /UPLOAD_POLICY_TTL_S="3600": expected an integer from 60 to 900/],
      [{ UPLOAD_CALLBACK_BASE_URL: '' }, /no callback URL for/],
      [{ UPLOAD_CALLBACK_BASE_URL: 'cb.example.com' }, /UPLOAD_CALLBACK_BASE_URL="cb.example.com": expected an http\(s\) URL/],
    ];
    for (const [extra, message] of cases) {
      setEnv(extra);
      const r = await call({ body: upload, token, headers: { origin: 'https://app.example.com' } });
      assert.equal(r.status, 500, JSON.stringify(extra));
      assert.equal(r.json.error.code, 'ConfigurationError');
      assert.match(r.json.error.message, message);
      assert.ok(!/tooShort|j{40}|t{48}/.test(r.json.error.message), `a secret in ${r.json.error.message}`);
      // The page's script can read the error: the listed origin is allowed even though the settings are
      // broken; a "*" that deployed settings refuse is not used.
      const allowed = extra.UPLOAD_ALLOWED_ORIGINS === '*' ? undefined : 'https://app.example.com';
      assert.equal(r.headers['access-control-allow-origin'], allowed, JSON.stringify(extra));
    }
    // No UPLOAD_REGION and a platform that does not say its region.
    setEnv({ UPLOAD_REGION: undefined, FC_REGION: undefined });
    const noRegion = await call({ body: upload, token, context: { requestId: 'r', credentials: CONTEXT.credentials } });
    assert.equal(noRegion.status, 500);
    assert.equal(noRegion.json.error.code, 'ConfigurationError');
    assert.match(noRegion.json.error.message, /UPLOAD_REGION is not set/);
    setEnv({ UPLOAD_ALLOWED_ORIGINS: '*' }); // local runs only
    const local = await call({ body: upload, token, headers: { origin: 'http://127.0.0.1:9000' } });
    assert.equal(local.status, 200);
    assert.equal(local.headers['access-control-allow-origin'], '*');
  });

  it('answers the same through the FC 2.0 adapter', async () => {
    const token = await sign('bob');
    const body = Buffer.from(JSON.stringify(upload));
    const req = fc2Request({ requestURI: '/upload-policy', method: 'POST', path: '/upload-policy', clientIP: '127.0.0.1', headersMap: { 'content-type': ['application/json'], authorization: [`Bearer ${token}`] } }, body);
    const resp = fc2Response();
    await (handler as (a: unknown, b: unknown, c: unknown) => Promise<void>)(req, resp, CONTEXT);
    assert.equal(resp.statusCode, 200, resp.body?.toString());
    assert.match(JSON.parse(resp.body!.toString()).key, /^uploads\/usage-quota\/bob\//);
  });
});

describe('npm run invoke -- upload-policy', () => {
  it('answers the shipped preflight event with the local defaults', () => {
    const root = new URL('../../', import.meta.url).pathname;
    const env: NodeJS.ProcessEnv = { ...process.env, OSS_CALLBACK_LOG: 'off', PORT: '9000' };
    for (const name of MANAGED) delete env[name];
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/invoke.ts', 'upload-policy', 'functions/upload-policy/events/preflight.json'], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const result = JSON.parse(stdout);
    assert.equal(result.statusCode, 200);
    assert.equal(result.headers['access-control-allow-origin'], 'http://127.0.0.1:9000');
    assert.equal(result.headers['access-control-allow-methods'], 'POST, OPTIONS');
  });
});

describe('upload-policy with a JWKS (RS256, ES256)', () => {
  let server: Server;
  let fetches = 0;
  let rsa: CryptoKey;
  let ec: CryptoKey;
  let jwksUrl: string;
  before(async () => {
    const r = await generateKeyPair('RS256');
    const e = await generateKeyPair('ES256');
    rsa = r.privateKey;
    ec = e.privateKey;
    const keys = [{ ...(await exportJWK(r.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }, { ...(await exportJWK(e.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' }];
    server = createServer((_req, res) => {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => server.close());
  beforeEach(() => setEnv({ UPLOAD_JWT_SECRET: undefined, UPLOAD_JWKS_URL: jwksUrl, UPLOAD_JWT_ISSUER: 'https://idp.example.com', UPLOAD_JWT_AUDIENCE: 'photos-app' }));

  const issue = (key: CryptoKey, alg: string, kid: string, claims: { iss?: string; aud?: string } = {}) =>
    new SignJWT({}).setProtectedHeader({ alg, kid }).setSubject('carol').setIssuer(claims.iss ?? 'https://idp.example.com').setAudience(claims.aud ?? 'photos-app').setExpirationTime('5m').sign(key);

  it('accepts RS256 and ES256 tokens from the JWKS, fetched once and cached', async () => {
    fetches = 0;
    for (const token of [await issue(rsa, 'RS256', 'rsa-1'), await issue(ec, 'ES256', 'ec-1'), await issue(rsa, 'RS256', 'rsa-1')]) {
      const r = await call({ body: upload, token });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.match(r.json.key, /^uploads\/usage-quota\/carol\//);
    }
    assert.equal(fetches, 1);
  });

  it('refuses another issuer or audience, and an HS256 token (no HS/RS confusion)', async () => {
    const wrongIss = await call({ body: upload, token: await issue(rsa, 'RS256', 'rsa-1', { iss: 'https://other.example.com' }) });
    assert.equal(wrongIss.json.error.code, 'TokenInvalid');
    assert.match(wrongIss.json.error.message, /claim "iss"/);
    const wrongAud = await call({ body: upload, token: await issue(rsa, 'RS256', 'rsa-1', { aud: 'other-app' }) });
    assert.match(wrongAud.json.error.message, /claim "aud"/);
    const hs = await call({ body: upload, token: await sign('carol') });
    assert.equal(hs.status, 401);
    assert.equal(hs.json.error.code, 'TokenInvalid');
    assert.match(hs.json.error.message, /algorithm is not RS256 or ES256/);
  });
});
