/**
 * upload-policy's settings (environment variables, all in the README), read once and checked
 * together: a mistake is `ConfigurationError` (500) naming the variable and the problem, never a
 * secret's value.
 */
import { bucketAllowed, parseAllowedBuckets } from '../../shared/core/config.js';
import { DEFAULT_UPLOAD_KEY_PREFIX } from '../../shared/core/event-filter.js';
import { assertTokenSecret } from '../../shared/core/upload-token.js';
import { CallbackError, configurationError, env, envConfig } from '../../shared/index.js';
import { createVerifier, type Verifier } from './auth.js';
import { JOB_TEMPLATES } from './jobs.js';

export const MAX_POLICY_TTL_S = 900;

export const config = envConfig({
  UPLOAD_BUCKET: env.string({ pattern: /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, expected: 'an OSS bucket name' }),
  /** The bucket's region; default: the function's own (FC_REGION). */
  UPLOAD_REGION: env.optional({ pattern: /^(oss-)?[a-z]+(-[a-z0-9]+)+$/, expected: 'a region such as cn-hangzhou' }),
  /** Where the browser posts the form; {bucket} and {region} are filled in. */
  UPLOAD_URL: env.url({ default: 'https://{bucket}.oss-{region}.aliyuncs.com' }),
  /** Keys are `<UPLOAD_KEY_PREFIX>/<job>/<owner>/<random id><ext>`; each job's OSS trigger watches `uploads/<job>/` by default. */
  UPLOAD_KEY_PREFIX: env.string({ default: DEFAULT_UPLOAD_KEY_PREFIX, pattern: /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, expected: 'key segments of letters, digits, _ and -, separated by /' }),
  UPLOAD_MAX_BYTES: env.integer({ default: 100 * 1024 * 1024, min: 1, max: 5 * 1024 ** 3 }),
  UPLOAD_POLICY_TTL_S: env.integer({ default: 600, min: 60, max: MAX_POLICY_TTL_S }),
  /** The jobs a policy may be issued for; empty = every callback job. */
  UPLOAD_JOBS: env.list({ default: [] }),
  /** `<base>/<job>` is each job's callback URL (or `{job}` in it is replaced). */
  UPLOAD_CALLBACK_BASE_URL: env.optional({ pattern: /^https?:\/\/[^\s?#]+$/, expected: 'an http(s) URL without a query' }),
  /** `job=url,job=url`: per-job callback URLs (FC trigger URLs differ per function); wins over the base. */
  UPLOAD_CALLBACK_URLS: env.list({ default: [] }),
  UPLOAD_ALLOWED_ORIGINS: env.list({ default: [] }),
  UPLOAD_JWT_SECRET: env.optional(),
  UPLOAD_JWKS_URL: env.optional({ pattern: /^https?:\/\/\S+$/, expected: 'an https:// URL of a JWKS' }),
  UPLOAD_JWT_ISSUER: env.optional(),
  UPLOAD_JWT_AUDIENCE: env.optional(),
  UPLOAD_TOKEN_SECRET: env.optional(),
});

export interface Settings {
  c: ReturnType<typeof config>;
  jobs: ReadonlySet<string>;
  callbackUrls: ReadonlyMap<string, string>;
  origins: '*' | ReadonlySet<string>;
  verify: Verifier;
}

/** Deployed: Function Compute and Lambda set these for every function. */
export function isDeployed(source: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(source.FC_FUNCTION_NAME || source.FC_FUNCTION_HANDLER || source.AWS_LAMBDA_FUNCTION_NAME);
}

function check(source: NodeJS.ProcessEnv): Settings {
  const c = config();
  if (!bucketAllowed(c.UPLOAD_BUCKET, parseAllowedBuckets(source.OSS_ALLOWED_BUCKETS))) {
    throw new Error(`UPLOAD_BUCKET ${c.UPLOAD_BUCKET} is not in OSS_ALLOWED_BUCKETS: its callbacks would be refused`);
  }
  assertTokenSecret(c.UPLOAD_TOKEN_SECRET);
  const origins = c.UPLOAD_ALLOWED_ORIGINS;
  if (origins.includes('*') && isDeployed(source)) {
    throw new Error('UPLOAD_ALLOWED_ORIGINS must list the application\'s origins: "*" would let any web page request upload policies with a user\'s token');
  }
  for (const origin of origins) {
    if (origin !== '*' && !isOrigin(origin)) throw new Error(`UPLOAD_ALLOWED_ORIGINS: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path)`);
  }
  const jobs = new Set(c.UPLOAD_JOBS.length > 0 ? c.UPLOAD_JOBS : Object.keys(JOB_TEMPLATES));
  const perJob = new Map<string, string>();
  for (const item of c.UPLOAD_CALLBACK_URLS) {
    const mark = item.indexOf('=');
    if (mark < 1 || !/^https?:\/\//.test(item.slice(mark + 1))) throw new Error(`UPLOAD_CALLBACK_URLS: ${JSON.stringify(item)} is not job=https://…`);
    perJob.set(item.slice(0, mark).trim(), item.slice(mark + 1).trim());
  }
  const callbackUrls = new Map<string, string>();
  for (const job of jobs) {
    if (!(job in JOB_TEMPLATES)) throw new Error(`UPLOAD_JOBS: ${job} is not a callback function (there are ${Object.keys(JOB_TEMPLATES).join(', ')})`);
    const base = c.UPLOAD_CALLBACK_BASE_URL?.replace(/\/+$/, '');
    const url = perJob.get(job) ?? (base ? (base.includes('{job}') ? base.replaceAll('{job}', job) : `${base}/${job}`) : undefined);
    if (!url) throw new Error(`no callback URL for ${job}: set UPLOAD_CALLBACK_BASE_URL or UPLOAD_CALLBACK_URLS`);
    if (url.includes('?')) throw new Error(`the callback URL of ${job} has a query: the upload token is the only query it may have`);
    callbackUrls.set(job, url);
  }
  const verify = createVerifier({ secret: c.UPLOAD_JWT_SECRET, jwksUrl: c.UPLOAD_JWKS_URL, issuer: c.UPLOAD_JWT_ISSUER, audience: c.UPLOAD_JWT_AUDIENCE });
  return { c, jobs, callbackUrls, origins: origins.includes('*') ? '*' : new Set(origins), verify };
}

let kept: Settings | undefined;
export function settings(source: NodeJS.ProcessEnv = process.env): Settings {
  if (kept) return kept;
  try {
    kept = check(source);
  } catch (error) {
    if (error instanceof CallbackError) throw error;
    throw configurationError((error as Error).message, error);
  }
  return kept;
}

/** Forget the settings (tests that change the environment). */
export function resetSettings(): void {
  kept = undefined;
  config.reset();
}

const isOrigin = (text: string): boolean => /^https?:\/\/[^/\s]+$/.test(text);

/**
 * The CORS headers of every reply, refusals included. From the checked settings; when they cannot be
 * read (the reply is a ConfigurationError), from UPLOAD_ALLOWED_ORIGINS alone, so that the page's
 * script can read what is wrong. Its origins are used as checked: well-formed ones, and "*" only
 * where the settings would allow it (not deployed).
 */
export function replyCorsHeaders(origin: string | undefined, source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  let origins: Settings['origins'];
  try {
    origins = settings(source).origins;
  } catch {
    const listed = (source.UPLOAD_ALLOWED_ORIGINS ?? '').split(',').map((item) => item.trim());
    origins = listed.includes('*') && !isDeployed(source) ? '*' : new Set(listed.filter(isOrigin));
  }
  return corsHeaders(origins, origin);
}

/** CORS headers for a request from `origin` (none for same-origin/non-browser requests or a refused origin). */
export function corsHeaders(origins: Settings['origins'], origin: string | undefined): Record<string, string> {
  if (!origin) return {};
  if (origins === '*') return { 'access-control-allow-origin': '*' };
  return origins.has(origin) ? { 'access-control-allow-origin': origin, vary: 'Origin' } : { vary: 'Origin' };
}
