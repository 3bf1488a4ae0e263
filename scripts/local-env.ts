/**
 * Defaults for local runs (`npm start`, `npm run invoke`), never for deployed functions:
 * any bucket is allowed and the development test key is trusted, unless configured otherwise.
 * Returns the notices to print.
 */
import { resolve } from 'node:path';

export const DEV_KEYS_FILE = resolve(import.meta.dirname, '..', 'test', 'fixtures', 'keys', 'public-keys.json');

/** Where local runs ask about objects: the local OSS emulator (OSS_EMULATOR_PORT, default 9001). */
export const localOssEndpoint = (env: NodeJS.ProcessEnv = process.env): string => `http://127.0.0.1:${env.OSS_EMULATOR_PORT?.trim() || 9001}`;

export function applyLocalDefaults(env: NodeJS.ProcessEnv = process.env): string[] {
  const notices: string[] = [];
  if (env.OSS_VERIFY_OBJECTS?.trim() === 'off') {
    notices.push('OSS_VERIFY_OBJECTS=off: callbacks are NOT checked with OSS; a forged callback naming an allowed bucket is recorded (every log line says objectCheck "off")');
  } else if (!env.OSS_ENDPOINT?.trim()) {
    env.OSS_ENDPOINT = localOssEndpoint(env);
    notices.push(`OSS_ENDPOINT is not set: each callback's object is checked with the local OSS emulator at ${env.OSS_ENDPOINT}`);
  }
  // Upload tokens (upload-policy and the demo page) are signed with a well-known development secret, set
  // here, before any configuration is read, so that the callback functions verify what upload-policy signs.
  if (!env.UPLOAD_TOKEN_SECRET?.trim()) {
    env.UPLOAD_TOKEN_SECRET = LOCAL_UPLOAD_DEV_SECRETS.token;
    notices.push('UPLOAD_TOKEN_SECRET is not set: upload tokens are signed and verified with a well-known development secret');
  }
  if (!env.CALLBACK_OWNER_FROM?.trim()) {
    env.CALLBACK_OWNER_FROM = 'token,x:owner';
    notices.push('CALLBACK_OWNER_FROM is not set: jobs with an owner take it from the upload token when the callback carries one, else trust the uploader\'s x:owner, unless their <JOB>_OWNER_FROM says otherwise (local runs only; deployed functions refuse until an owner binding is configured)');
  }
  if (!env.OSS_ALLOWED_BUCKETS?.trim()) {
    env.OSS_ALLOWED_BUCKETS = '*';
    notices.push('OSS_ALLOWED_BUCKETS is not set: accepting callbacks from ANY bucket (local runs only; deployed functions refuse all until it is set)');
  }
  if (env.OSS_PUBLIC_KEYS_FILE === undefined) {
    env.OSS_PUBLIC_KEYS_FILE = DEV_KEYS_FILE;
    notices.push('OSS_PUBLIC_KEYS_FILE is not set: trusting the development test key from test/fixtures/keys (set OSS_PUBLIC_KEYS_FILE="" to trust only OSS)');
  }
  return notices;
}

/** The local FC invoke API's key pair when nothing else is configured (development only, not a secret). */
export const LOCAL_FC_DEV_KEY = { accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' };

/**
 * Local runs behave like an FC instance: FC_REGION (default cn-hangzhou) and FC_ACCOUNT_ID (default
 * 0000000000000000) are set when missing. Returns the notices to print.
 */
export function applyLocalPlatformDefaults(env: NodeJS.ProcessEnv = process.env): string[] {
  const notices: string[] = [];
  if (!env.FC_REGION?.trim()) {
    env.FC_REGION = 'cn-hangzhou';
    notices.push('FC_REGION is not set: local functions run as if in cn-hangzhou');
  }
  env.FC_ACCOUNT_ID ||= '0000000000000000';
  return notices;
}

/**
 * `npm start` also answers the FC invoke API (shared/runtime/fc-api.ts) at its own address, so hand-offs
 * run the local function: MEDIA_FC_ENDPOINT defaults to the server, and the key pair requests must be
 * signed with is LOCAL_FC_ACCESS_KEY_ID/_SECRET, else ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET, else a
 * development pair, which then also becomes ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET for local functions.
 */
export function applyLocalFcApiDefaults(base: string, env: NodeJS.ProcessEnv = process.env) {
  const notices: string[] = [];
  if (!env.MEDIA_FC_ENDPOINT?.trim()) {
    env.MEDIA_FC_ENDPOINT = base;
    notices.push(`MEDIA_FC_ENDPOINT is not set: media hand-offs go to this server's FC invoke API (${base})`);
  }
  const accessKeyId = env.LOCAL_FC_ACCESS_KEY_ID?.trim() || env.ALIBABA_CLOUD_ACCESS_KEY_ID?.trim() || LOCAL_FC_DEV_KEY.accessKeyId;
  const accessKeySecret = env.LOCAL_FC_ACCESS_KEY_SECRET?.trim() || env.ALIBABA_CLOUD_ACCESS_KEY_SECRET?.trim() || LOCAL_FC_DEV_KEY.accessKeySecret;
  const securityToken = env.ALIBABA_CLOUD_SECURITY_TOKEN?.trim() || undefined;
  if (!env.ALIBABA_CLOUD_ACCESS_KEY_ID?.trim()) {
    env.ALIBABA_CLOUD_ACCESS_KEY_ID = accessKeyId;
    env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = accessKeySecret;
    if (accessKeyId === LOCAL_FC_DEV_KEY.accessKeyId) notices.push('ALIBABA_CLOUD_ACCESS_KEY_ID is not set: local functions sign FC API calls with the development key pair');
  }
  return { notices, credentials: { accessKeyId, accessKeySecret, ...(securityToken ? { securityToken } : {}) } };
}

/** The local OSS emulator's address (path-style `/<bucket>/<key>`), where the demo page uploads. */
export const LOCAL_OSS_URL = 'http://127.0.0.1:9001';
/** Development-only secrets: known to everyone, so never use them anywhere but on this machine. */
export const LOCAL_UPLOAD_DEV_SECRETS = {
  jwt: 'local-dev-upload-jwt-secret--not-for-production',
  token: 'local-dev-upload-token-secret--not-for-production',
};

/**
 * upload-policy and the demo page under `npm start`: the dev sign-in secret, the upload token secret,
 * a bucket, the emulator's URL, this server as the callback base and as the allowed origin.
 */
export function applyLocalUploadDefaults(base: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const notices: string[] = [];
  if (!env.UPLOAD_JWT_SECRET?.trim() && !env.UPLOAD_JWKS_URL?.trim()) {
    env.UPLOAD_JWT_SECRET = LOCAL_UPLOAD_DEV_SECRETS.jwt;
    notices.push('UPLOAD_JWT_SECRET is not set: upload-policy accepts development sign-in tokens (POST /dev/token) signed with a well-known secret');
  }
  if (!env.UPLOAD_BUCKET?.trim()) env.UPLOAD_BUCKET = 'local-bucket';
  if (!env.UPLOAD_URL?.trim()) {
    env.UPLOAD_URL = `${env.LOCAL_OSS_URL?.trim() || LOCAL_OSS_URL}/{bucket}`;
    notices.push(`UPLOAD_URL is not set: browsers upload to the local OSS emulator (${env.UPLOAD_URL.replace('{bucket}', env.UPLOAD_BUCKET)})`);
  }
  env.UPLOAD_CALLBACK_BASE_URL ||= base;
  // The page's origin, whichever name the browser uses for this server.
  env.UPLOAD_ALLOWED_ORIGINS ||= [...new Set([base, base.replace('//127.0.0.1:', '//localhost:')])].join(',');
  return notices;
}

/**
 * The local OSS endpoint's settings (`npm start`): OSS_EMULATOR_PORT (default 9001; 0 turns it off),
 * OSS_EMULATOR_DATA_DIR (default .data/oss), OSS_EMULATOR_CORS_ORIGINS (default *), and the buckets
 * of OSS_ALLOWED_BUCKETS (any when `*`).
 */
export function ossEmulatorSettings(env: NodeJS.ProcessEnv = process.env) {
  const text = env.OSS_EMULATOR_PORT?.trim();
  const port = text === undefined || text === '' ? 9001 : Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`OSS_EMULATOR_PORT must be a port number (0 turns the local OSS off), got ${JSON.stringify(text)}`);
  const allowed = (env.OSS_ALLOWED_BUCKETS ?? '*').split(',').map((b) => b.trim()).filter((b) => b !== '');
  return {
    port: port === 0 ? undefined : port,
    host: env.OSS_EMULATOR_HOST?.trim() || env.HOST?.trim() || '127.0.0.1',
    dataDir: env.OSS_EMULATOR_DATA_DIR?.trim() || '.data/oss',
    buckets: allowed.length === 0 || allowed.includes('*') ? ('*' as const) : new Set(allowed),
    corsOrigins: env.OSS_EMULATOR_CORS_ORIGINS,
  };
}
