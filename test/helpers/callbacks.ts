/** Building signed callbacks and runtimes for tests, with the development key pair. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreConfig } from '../../shared/core/config.js';
import type { CallbackRequest } from '../../shared/core/http.js';
import { createRuntime, type Runtime } from '../../shared/core/pipeline.js';
import { createKeyResolver } from '../../shared/protocol/index.js';
import { fillTemplate, type TemplateValues } from '../../shared/testing/fill.js';
import { signCallback } from '../../shared/testing/sign.js';
import { DEV_KEYS_FILE } from '../../scripts/local-env.js';

export { DEV_KEYS_FILE };
export const DEV_TRUSTED_KEYS = JSON.parse(readFileSync(DEV_KEYS_FILE, 'utf8')) as Record<string, string>;
export const DEV_KEY_URL = Object.keys(DEV_TRUSTED_KEYS)[0]!;
export const DEV_PRIVATE_KEY = readFileSync(join(DEV_KEYS_FILE, '..', 'dev-private.pem'), 'utf8');

export const FORM = 'application/x-www-form-urlencoded';
export const JSON_TYPE = 'application/json';

export interface SignedOptions {
  path?: string;
  query?: string | null;
  contentType?: string;
  method?: string;
  headers?: Record<string, string | undefined>;
  keyUrl?: string;
  privateKeyPem?: string;
  requestId?: string;
}

/** A request as an adapter would hand it to the core, signed like OSS signs. */
export function signedRequest(body: string | Buffer, options: SignedOptions = {}): CallbackRequest {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const rawPath = options.path ?? '/record-upload';
  const rawQuery = options.query === undefined ? null : options.query;
  const signature = signCallback({
    privateKeyPem: options.privateKeyPem ?? DEV_PRIVATE_KEY,
    keyUrl: options.keyUrl ?? DEV_KEY_URL,
    rawPath,
    rawQuery,
    body: bytes,
  });
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? FORM,
    'content-length': String(bytes.length),
    'x-oss-request-id': 'OSSREQ0000000000000001',
    ...signature,
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return {
    method: options.method ?? 'POST',
    rawPath,
    rawQuery,
    headers,
    body: bytes,
    requestId: options.requestId ?? `test-${randomBytes(4).toString('hex')}`,
    receivedAt: Date.now(),
  };
}

/**
 * Sample values for every OSS system variable (one upload). Each call is another upload: its own
 * ETag (the idempotency key is bucket + key + ETag) and request id. A given `reqId` without an
 * `etag` gets an ETag derived from it, so that tests which repeat a request id repeat the upload.
 */
export function uploadValues(overrides: TemplateValues = {}): TemplateValues {
  const etag = typeof overrides.reqId === 'string' ? createHash('md5').update(overrides.reqId).digest('hex').toUpperCase() : randomBytes(16).toString('hex').toUpperCase();
  return {
    bucket: 'examplebucket',
    object: 'photos/2026/cat 1.jpg',
    etag,
    size: 102400,
    mimeType: 'image/jpeg',
    'imageInfo.width': 640,
    'imageInfo.height': 480,
    'imageInfo.format': 'jpg',
    crc64: '16286938719946281562',
    contentMd5: '1B2M2Y8AsgTpgAmY7PhCfg==',
    clientIp: '203.0.113.7',
    reqId: randomBytes(12).toString('hex').toUpperCase(),
    operation: 'PutObject',
    ...overrides,
  };
}

export function body(template: string, values: TemplateValues, type: 'form' | 'json' = 'form'): string {
  return fillTemplate(template, values, type);
}

export function tempDatabaseUrl(): string {
  return `sqlite:${join(mkdtempSync(join(tmpdir(), 'oss-cb-')), 'test.db')}`;
}

export interface TestRuntime extends Runtime {
  lines: Record<string, unknown>[];
}

export function testRuntime(config: Partial<CoreConfig> = {}, overrides: Partial<Omit<Runtime, 'config'>> = {}): TestRuntime {
  const lines: Record<string, unknown>[] = [];
  const full: CoreConfig = {
    allowedBuckets: '*',
    deadlineMs: 4000,
    maxBodyBytes: 64 * 1024,
    pathMap: [],
    databaseUrl: tempDatabaseUrl(),
    publicKeysFile: undefined,
    keyFetchTimeoutMs: 1500,
    logTarget: 'off',
    // Tests about something else run without OSS: no HeadObject (OSS_VERIFY_OBJECTS=off, in every log
    // line as objectCheck "off") and the uploader's x:owner, as `npm start` allows. The object check and
    // owner binding tests (test/integration/trust.test.ts) pass their own `objects` and `owner`.
    objects: { verify: 'off', endpoint: undefined, pathStyle: false, headTimeoutMs: 1500 },
    owner: { tokenSecret: undefined, tokenGraceSeconds: 3600, defaultFrom: ['x:owner'], vars: {} },
    ...config,
  };
  const runtime = createRuntime(full, {
    keys: createKeyResolver({
      trustedKeys: DEV_TRUSTED_KEYS,
      fetchPem: async () => {
        throw new Error('tests never fetch keys over the network');
      },
    }),
    log: (line) => lines.push(line),
    ...overrides,
  });
  return Object.assign(runtime, { lines });
}
