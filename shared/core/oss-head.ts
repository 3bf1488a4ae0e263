/**
 * HeadObject with the function's own credentials, through `ali-oss` (preinstalled in FC's nodejs20
 * runtime, never bundled; loaded on the first HEAD). One call per callback, nothing cached: objects
 * change.
 *
 * Addressing is ali-oss's: a host name endpoint gets the bucket in front (`<bucket>.<endpoint host>`,
 * path `/<key>`); an IP endpoint (a local emulator) is sent to as it is, with the virtual host in the
 * Host header (`<bucket>.oss-<region>.aliyuncs.com`) and path `/<key>`; `pathStyle` (OSS_PATH_STYLE)
 * sends `/<bucket>/<key>` to the endpoint's own host (ali-oss's `sldEnable`). ali-oss puts the virtual
 * host in the Host header for every IP endpoint, so path-style needs a host name (`http://localhost:9001`).
 */
import type OSS from 'ali-oss';
import { raceAbort } from '../protocol/abort.js';
import { CallbackError } from '../protocol/errors.js';
import { normalizeEtag } from './object.js';
import type { PlatformCredentials } from './platform.js';

export interface HeadTarget {
  bucket: string;
  key: string;
}

export interface HeadOptions {
  /** `https://oss-<region>-internal.aliyuncs.com` or an emulator's `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** e.g. `cn-hangzhou` (ali-oss wants `oss-cn-hangzhou`; both are accepted). */
  region: string;
  pathStyle: boolean;
  credentials: PlatformCredentials;
  /** The HEAD's own bound (OSS_HEAD_TIMEOUT_MS), already capped by the caller to the time left. */
  timeoutMs: number;
  /** The callback's deadline signal: the HEAD is abandoned when it aborts. */
  signal?: AbortSignal;
}

/** What OSS says about an object (HeadObject reply headers). */
export interface HeadFacts {
  etag: string;
  size: number;
  contentType?: string;
  crc64?: string;
  lastModified?: Date;
  /** x-oss-request-id of the HEAD (for the log). */
  requestId?: string;
}

type OssClass = typeof OSS;
let ossModule: Promise<OssClass> | undefined;

/** `ali-oss`, loaded once. Under CommonJS (the deployed bundle) `require` also searches FC's preinstalled modules. */
export function loadAliOss(): Promise<OssClass> {
  ossModule ??= (typeof require === 'function' ? Promise.resolve().then(() => require('ali-oss') as unknown) : import('ali-oss')).then(
    (module) => (module as { default?: OssClass }).default ?? (module as unknown as OssClass),
    (error: unknown) => {
      ossModule = undefined;
      throw new CallbackError(
        'Internal',
        `configuration error: the OSS client ali-oss could not be loaded (${error instanceof Error ? error.message : String(error)}): FC's nodejs20 runtime preinstalls it; elsewhere run npm ci (it is a devDependency)`,
        { cause: error },
      );
    },
  );
  return ossModule;
}

/** One client per credentials, endpoint and bucket (STS credentials rotate; the HTTP agent is ali-oss's shared one). */
const clients = new Map<string, OSS>();

function clientFor(Oss: OssClass, bucket: string, options: HeadOptions): OSS {
  const { credentials: c } = options;
  const id = [c.accessKeyId, c.accessKeySecret, c.securityToken ?? '', options.endpoint, options.region, options.pathStyle, bucket].join('\0');
  let client = clients.get(id);
  if (!client) {
    if (clients.size >= 64) clients.clear();
    client = new Oss({
      accessKeyId: c.accessKeyId,
      accessKeySecret: c.accessKeySecret,
      // Rotated credentials make a new client (they are part of the cache key); the interval only keeps
      // ali-oss from warning on stderr that it cannot refresh them itself.
      ...(c.securityToken ? { stsToken: c.securityToken, refreshSTSTokenInterval: 3_600_000 } : {}),
      region: options.region.startsWith('oss-') ? options.region : `oss-${options.region}`,
      endpoint: options.endpoint,
      secure: options.endpoint.startsWith('https:'),
      bucket,
      sldEnable: options.pathStyle,
      retryMax: 0,
    });
    clients.set(id, client);
  }
  return client;
}

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value) || undefined;

function unavailable(message: string, cause?: unknown): CallbackError {
  return new CallbackError('OssUnavailable', message, { status: 503, cause });
}

/**
 * HeadObject. Resolves with what OSS says, or null when OSS says the object does not exist (404).
 * Rejects with `OssAccessDenied` (403 from OSS: the role cannot read the object), `OssUnavailable`
 * (timeout, connection refused, 5xx, not an OSS reply) or, when `signal` aborts first, with the signal's reason (DeadlineExceeded).
 */
export async function headObject(target: HeadTarget, options: HeadOptions): Promise<HeadFacts | null> {
  const Oss = await raceAbort(loadAliOss(), options.signal);
  const client = clientFor(Oss, target.bucket, options);
  const where = `${target.bucket}/${target.key} at ${options.endpoint}`;
  let reply: Awaited<ReturnType<OSS['head']>>;
  try {
    reply = await raceAbort(client.head(target.key, { timeout: options.timeoutMs }), options.signal);
  } catch (error) {
    if (options.signal?.aborted && error === options.signal.reason) throw error;
    const e = error as { status?: number; code?: string; name?: string; message?: string; requestId?: string };
    if (e.status === 404) return null;
    const detail = `${e.code ?? e.name ?? 'error'}${e.status && e.status > 0 ? ` ${e.status}` : ''}${e.requestId ? `, OSS request ${e.requestId}` : ''}`;
    if (e.status === 403) {
      const credentials = e.code === 'SignatureDoesNotMatch' || e.code === 'InvalidAccessKeyId' || e.code === 'SecurityTokenExpired' || e.code === 'InvalidSecurityToken';
      throw new CallbackError(
        'OssAccessDenied',
        credentials
          ? `OSS refused the function's credentials (HeadObject ${where}: ${detail}): check the role's credentials or ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN; nothing was recorded`
          : `OSS refused to tell whether the object exists (HeadObject ${where}: ${detail}): the function's role (or ALIBABA_CLOUD_ACCESS_KEY_ID) needs oss:GetObject on the bucket; nothing was recorded`,
        { cause: error },
      );
    }
    if (e.name === 'ResponseTimeoutError' || e.name === 'ConnectionTimeoutError' || e.status === -2) {
      throw unavailable(`OSS did not answer HeadObject ${where} within ${options.timeoutMs} ms (OSS_HEAD_TIMEOUT_MS): nothing was recorded; OSS retries nothing, the uploader sees CallbackFailed`, error);
    }
    throw unavailable(`HeadObject ${where} failed (${detail}: ${e.message ?? String(error)}): OSS is unreachable or failing; nothing was recorded`, error);
  }
  const headers = reply.res.headers;
  const etag = first(headers.etag);
  const length = Number(first(headers['content-length']));
  if (!etag || !Number.isSafeInteger(length) || length < 0) {
    throw unavailable(`HeadObject ${where} answered ${reply.status} without an ETag or a Content-Length: not an OSS reply; nothing was recorded`);
  }
  const facts: HeadFacts = { etag: normalizeEtag(etag), size: length };
  const contentType = first(headers['content-type']);
  const crc64 = first(headers['x-oss-hash-crc64ecma']);
  const lastModified = first(headers['last-modified']);
  const requestId = first(headers['x-oss-request-id']);
  if (contentType) facts.contentType = contentType;
  if (crc64) facts.crc64 = crc64;
  if (lastModified && !Number.isNaN(Date.parse(lastModified))) facts.lastModified = new Date(lastModified);
  if (requestId) facts.requestId = requestId;
  return facts;
}
