/**
 * Configuration, read once per process from environment variables (FC passes the function's
 * `environmentVariables` from s.yaml). Every variable is listed in the README.
 */

import { DEFAULT_DATABASE_URL } from '../store/index.js';
import { isOwnerSetting, type OwnerConfig, type OwnerSource, parseOwnerSources } from './owner.js';
import { DEFAULT_UPLOAD_TOKEN_GRACE_S } from './upload-token.js';

export { DEFAULT_DATABASE_URL };

export interface PathRule {
  /** Prefix of the raw path as the function sees it. */
  seen: string;
  /** What OSS actually requested in its place. */
  public: string;
}

export interface CoreConfig {
  /** `'*'` = any bucket; a set = only those; `undefined` = not configured (every callback refused). */
  allowedBuckets: '*' | ReadonlySet<string> | undefined;
  /** Time budget for one callback, from when the platform received it. OSS gives up after 5000 ms. */
  deadlineMs: number;
  /** Largest body accepted. OSS bodies are small: the template is at most 5 KB before substitution. */
  maxBodyBytes: number;
  /** Longest time a client may take to send the body (local server, AWS adapter). Default 3000 ms. */
  bodyTimeoutMs?: number;
  /** Rules that map the path the function sees back to the path OSS signed (proxies, gateways). */
  pathMap: readonly PathRule[];
  databaseUrl: string;
  /** File with extra trusted public keys (JSON: key URL → PEM); tests and local runs only. */
  publicKeysFile: string | undefined;
  /** Timeout for fetching an unknown OSS public key (the known one is pinned, never fetched). */
  keyFetchTimeoutMs: number;
  /** Time budget for the OSS events of one invocation (EVENT_DEADLINE_MS); default 8000 ms (see core/events.ts). */
  eventDeadlineMs?: number;
  /** Where the one-line-per-callback JSON log goes. */
  logTarget: 'stdout' | 'stderr' | 'off';
  /** How the object a callback names is checked with OSS (shared/core/verify-object.ts). */
  objects: ObjectCheckConfig;
  /** Owner binding settings (shared/core/owner.ts). */
  owner: OwnerConfig;
}

export interface ObjectCheckConfig {
  /** OSS_VERIFY_OBJECTS: `head` (default) asks OSS about each object; `off` trusts the body (announced, logged). */
  verify: 'head' | 'off';
  /** OSS_ENDPOINT; undefined = the region's internal endpoint, https://oss-<region>-internal.aliyuncs.com. */
  endpoint: string | undefined;
  /** OSS_PATH_STYLE: `/<bucket>/<key>` instead of the bucket in the host name. */
  pathStyle: boolean;
  /** OSS_HEAD_TIMEOUT_MS: the HEAD's own bound, always cut to the time left before the deadline. */
  headTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not an integer between ${min} and ${max}`);
  }
  return value;
}

export function parseAllowedBuckets(raw: string | undefined): CoreConfig['allowedBuckets'] {
  if (raw === undefined || raw.trim() === '') return undefined;
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.includes('*')) return '*';
  return new Set(names);
}

/**
 * The one rule for OSS_ALLOWED_BUCKETS (as `parseAllowedBuckets` reads it): not set allows no bucket,
 * `*` any, a list the buckets it names. Callbacks (pipeline.ts), OSS events (events.ts) and
 * upload-policy's settings check a bucket with it; each says in its own words why one is refused.
 */
export function bucketAllowed(bucket: string, allowed: CoreConfig['allowedBuckets']): boolean {
  return allowed !== undefined && (allowed === '*' || allowed.has(bucket));
}

/**
 * `OSS_CALLBACK_PATH_MAP`: comma-separated `seen-prefix => public-prefix` rules, first match wins.
 * Example: nginx serves `location /api/ { proxy_pass http://fn/; }`, so OSS requests `/api/x` and
 * the function sees `/x`: `OSS_CALLBACK_PATH_MAP="/ => /api/"`.
 */
export function parsePathMap(raw: string | undefined): PathRule[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((rule) => {
    const parts = rule.split('=>');
    const seen = parts[0]?.trim() ?? '';
    const pub = parts[1]?.trim() ?? '';
    if (parts.length !== 2 || !seen.startsWith('/') || !pub.startsWith('/')) {
      throw new ConfigError(
        `OSS_CALLBACK_PATH_MAP rule ${JSON.stringify(rule.trim())} is not "<seen-prefix> => <public-prefix>" with both starting with "/"`,
      );
    }
    return { seen, public: pub };
  });
}

/** The path OSS signed, given the path the function received. */
export function publicPath(rawPath: string, rules: readonly PathRule[]): string {
  for (const rule of rules) {
    if (rawPath.startsWith(rule.seen)) return rule.public + rawPath.slice(rule.seen.length);
  }
  return rawPath;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): CoreConfig {
  const logTarget = (env.OSS_CALLBACK_LOG ?? 'stdout').trim();
  if (logTarget !== 'stdout' && logTarget !== 'stderr' && logTarget !== 'off') {
    throw new ConfigError(`OSS_CALLBACK_LOG=${JSON.stringify(logTarget)} must be stdout, stderr or off`);
  }
  return {
    allowedBuckets: parseAllowedBuckets(env.OSS_ALLOWED_BUCKETS),
    deadlineMs: integer(env, 'CALLBACK_DEADLINE_MS', 4000, 100, 4900),
    maxBodyBytes: integer(env, 'CALLBACK_MAX_BODY_BYTES', 64 * 1024, 1024, 1024 * 1024),
    bodyTimeoutMs: integer(env, 'CALLBACK_BODY_TIMEOUT_MS', 3000, 100, 60_000),
    pathMap: parsePathMap(env.OSS_CALLBACK_PATH_MAP),
    databaseUrl: env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL,
    publicKeysFile: env.OSS_PUBLIC_KEYS_FILE?.trim() || undefined,
    keyFetchTimeoutMs: integer(env, 'OSS_KEY_FETCH_TIMEOUT_MS', 1500, 100, 4000),
    eventDeadlineMs: integer(env, 'EVENT_DEADLINE_MS', 8000, 100, 86_400_000),
    logTarget,
    objects: objectCheckFromEnv(env),
    owner: ownerConfigFromEnv(env),
  };
}

function objectCheckFromEnv(env: NodeJS.ProcessEnv): ObjectCheckConfig {
  const verify = env.OSS_VERIFY_OBJECTS?.trim() || 'head';
  if (verify !== 'head' && verify !== 'off') {
    throw new ConfigError(`OSS_VERIFY_OBJECTS=${JSON.stringify(verify)} must be head (check each object with OSS) or off`);
  }
  const endpoint = env.OSS_ENDPOINT?.trim().replace(/\/+$/, '') || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/?#]+$/.test(endpoint)) {
    throw new ConfigError(`OSS_ENDPOINT=${JSON.stringify(endpoint)} must be http(s)://host[:port], e.g. https://oss-cn-hangzhou-internal.aliyuncs.com`);
  }
  const pathStyle = (env.OSS_PATH_STYLE?.trim() || 'false').toLowerCase();
  if (!['true', 'false', '1', '0'].includes(pathStyle)) throw new ConfigError(`OSS_PATH_STYLE=${JSON.stringify(env.OSS_PATH_STYLE)} must be true or false`);
  return {
    verify,
    endpoint,
    pathStyle: pathStyle === 'true' || pathStyle === '1',
    headTimeoutMs: integer(env, 'OSS_HEAD_TIMEOUT_MS', 1500, 100, 4000),
  };
}

function ownerConfigFromEnv(env: NodeJS.ProcessEnv): OwnerConfig {
  let defaultFrom: OwnerSource[] | undefined;
  try {
    defaultFrom = parseOwnerSources(env.CALLBACK_OWNER_FROM, 'CALLBACK_OWNER_FROM');
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const vars: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) if (isOwnerSetting(name)) vars[name] = value;
  return {
    tokenSecret: env.UPLOAD_TOKEN_SECRET?.trim() || undefined,
    tokenGraceSeconds: integer(env, 'UPLOAD_TOKEN_GRACE_S', DEFAULT_UPLOAD_TOKEN_GRACE_S, 0, 7 * 24 * 3600),
    defaultFrom,
    vars,
  };
}
