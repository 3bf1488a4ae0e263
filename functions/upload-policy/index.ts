/**
 * upload-policy: the application server's half of a direct upload from a browser or an app.
 * `POST /upload-policy` with `Authorization: Bearer <the application's sign-in JWT>` and
 * `{"job","filename","contentType","size"}` → `{"url","fields","key","expiresAt","maxBytes","put"}`:
 * a V4 PostObject policy for ONE key under `<UPLOAD_KEY_PREFIX>/<job>/<owner>/`, with the size, the
 * Content-Type and the callback (carrying an upload token that binds owner, bucket, key, job and
 * expiry) pinned by conditions; and a presigned PUT URL with the same callback. Each job's uploads
 * get their own key space, `<UPLOAD_KEY_PREFIX>/<job>/`: the prefix its OSS trigger watches by default
 * (shared/core/event-filter.ts), so each job gets the events of its own uploads.
 * Refusals (JSON, stable codes): TokenMissing / TokenInvalid / TokenExpired 401, OriginNotAllowed 403,
 * InvalidRequest 400, UnsupportedContentType 415, JobNotOffered 404, UploadTooLarge 413,
 * ContentTypeNotAllowed 415, MethodNotAllowed 405, KeysUnavailable 503, CredentialsUnavailable 500,
 * ConfigurationError 500 (a setting it cannot use, named in the message).
 */
import { randomBytes } from 'node:crypto';
import * as v from 'valibot';
import { resolveAccount, resolveCredentials } from '../../shared/core/platform.js';
import { signUploadToken, UPLOAD_TOKEN_PARAM } from '../../shared/core/upload-token.js';
import { CallbackError, configurationError, createHttpHandler, defineHttpFunction, jsonReply, type HttpRequest } from '../../shared/index.js';
import { jobRules } from './jobs.js';
import { signUpload } from './policy.js';
import { corsHeaders, replyCorsHeaders, settings } from './settings.js';

export { config } from './settings.js';

const Request = v.strictObject({
  job: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,62}$/)),
  filename: v.pipe(v.string(), v.minLength(1), v.maxLength(255), v.regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters')),
  contentType: v.pipe(v.string(), v.maxLength(127), v.regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i, 'a MIME type such as image/png')),
  size: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
});

/** The file's extension, kept if it is a plain one (`.png`, `.tar`), lower-cased. */
export function extensionOf(filename: string): string {
  const match = /\.([A-Za-z0-9]{1,10})$/.exec(filename);
  return match ? `.${match[1]!.toLowerCase()}` : '';
}

function parseBody(request: HttpRequest): v.InferOutput<typeof Request> {
  if (!/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
    throw new CallbackError('UnsupportedContentType', 'send the request as JSON (Content-Type: application/json)');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(request.body.toString('utf8'));
  } catch {
    throw new CallbackError('InvalidRequest', 'the request body is not JSON: send {"job","filename","contentType","size"}');
  }
  const parsed = v.safeParse(Request, raw);
  if (!parsed.success) {
    const problems = parsed.issues.map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? 'body'}: ${i.message}`);
    throw new CallbackError('InvalidRequest', `the request is not {"job","filename","contentType","size"}: ${problems.join('; ')}`);
  }
  return parsed.output;
}

export const http = defineHttpFunction({
  name: 'upload-policy',
  description: 'Direct upload: a short-lived PostObject policy with the callback pinned, for a signed-in user.',
  maxBodyBytes: 4096,
  replyHeaders: (request) => replyCorsHeaders(request.headers.origin),
  async handle(request, context) {
    const s = settings();
    const origin = request.headers.origin;
    if (origin && !corsHeaders(s.origins, origin)['access-control-allow-origin']) {
      throw new CallbackError('OriginNotAllowed', `origin ${origin} is not in UPLOAD_ALLOWED_ORIGINS`, { status: 403 });
    }
    if (request.method === 'OPTIONS') {
      const reply = jsonReply(200, { ok: true });
      const preflight = { 'access-control-allow-methods': 'POST, OPTIONS', 'access-control-allow-headers': 'authorization, content-type', 'access-control-max-age': '600' };
      return { ...reply, headers: { ...reply.headers, ...preflight } };
    }
    if (request.method !== 'POST') throw new CallbackError('MethodNotAllowed', 'upload-policy answers POST (and OPTIONS for CORS preflights)');
    const owner = await s.verify(request.headers.authorization);
    const body = parseBody(request);
    const rules = s.jobs.has(body.job) ? jobRules(body.job) : undefined;
    if (!rules) throw new CallbackError('JobNotOffered', `no uploads for ${JSON.stringify(body.job)}: the jobs offered are ${[...s.jobs].join(', ')} (UPLOAD_JOBS)`, { status: 404 });
    const maxBytes = Math.min(s.c.UPLOAD_MAX_BYTES, rules.maxBytes ?? Infinity);
    if (body.size > maxBytes) throw new CallbackError('UploadTooLarge', `the file is ${body.size} bytes; ${body.job} accepts at most ${maxBytes}`, { status: 413 });
    const contentType = body.contentType.toLowerCase();
    if (rules.contentTypes && !rules.contentTypes.includes(contentType)) {
      throw new CallbackError('ContentTypeNotAllowed', `${body.job} accepts ${rules.contentTypes.join(', ')}, not ${contentType}`, { status: 415 });
    }
    const credentials = resolveCredentials(context.platform);
    if (!credentials) throw new CallbackError('CredentialsUnavailable', 'no credentials to sign with: give the function a role (FC passes its STS credentials) or set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET', { status: 500 });
    const region = s.c.UPLOAD_REGION ?? resolveAccount(context.platform).region;
    if (!region) throw configurationError('UPLOAD_REGION is not set and the function\'s region is unknown (FC_REGION): set UPLOAD_REGION to the bucket\'s region');
    const now = new Date();
    const bucket = s.c.UPLOAD_BUCKET;
    const key = `${s.c.UPLOAD_KEY_PREFIX}/${body.job}/${owner}/${randomBytes(16).toString('base64url')}${extensionOf(body.filename)}`;
    const expiresAt = Math.floor(now.getTime() / 1000) + s.c.UPLOAD_POLICY_TTL_S;
    const token = signUploadToken({ bucket, key, owner, job: body.job, expiresAt }, s.c.UPLOAD_TOKEN_SECRET!);
    const signed = signUpload({
      bucket, key, region, contentType, size: body.size, maxBytes, credentials, now, ttlSeconds: s.c.UPLOAD_POLICY_TTL_S,
      callback: { callbackUrl: `${s.callbackUrls.get(body.job)}?${UPLOAD_TOKEN_PARAM}=${token}`, callbackBody: rules.template, callbackBodyType: 'application/x-www-form-urlencoded' },
      variables: rules.template.includes('${x:owner}') ? { owner } : {},
    });
    const url = s.c.UPLOAD_URL.replaceAll('{bucket}', bucket).replaceAll('{region}', region.replace(/^oss-/, ''));
    context.log({ owner, job: body.job, bucket, object: key, maxBytes });
    return jsonReply(200, {
      url,
      fields: signed.fields,
      key,
      expiresAt: signed.expiresAt.toISOString(),
      maxBytes,
      put: { url: `${url}${signed.put.objectPathAndQuery}`, method: 'PUT', headers: signed.put.headers },
    });
  },
});

export const handler = createHttpHandler(http);
