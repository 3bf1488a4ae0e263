/**
 * HeadObject with the function's own credentials: one V4-signed `HEAD` (shared/protocol/oss-v4.ts,
 * header authentication) over node:http / node:https with a keep-alive agent per endpoint. No SDK:
 * `require('ali-oss')` costs more than the whole rest of a cold start (README, dependency table).
 * One call per callback, nothing cached: objects change.
 *
 * Addressing is the SDKs': a host name endpoint gets the bucket in front (`<bucket>.<endpoint host>`,
 * path `/<key>`); an IP endpoint (a local emulator) is connected to as it is, with the virtual host in
 * the Host header (`<bucket>.oss-<region>.aliyuncs.com`) and path `/<key>`, as ali-oss does; `pathStyle`
 * (OSS_PATH_STYLE) sends `/<bucket>/<key>` to the endpoint's own host (ali-oss's `sldEnable`), IP or not.
 * The key goes into the path with each `/`-separated segment percent-encoded (RFC 3986), so spaces,
 * `+`, `%`, `?`, `#` and non-ASCII keys reach OSS as the key they are.
 */
import { Agent as HttpAgent, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { CallbackError } from '../protocol/errors.js';
import { encodeKeyPath, encodeRfc3986, signRegion, signRequestV4 } from '../protocol/oss-v4.js';
import { normalizeEtag } from './object.js';
import type { PlatformCredentials } from './platform.js';

export interface HeadTarget {
  bucket: string;
  key: string;
}

export interface HeadOptions {
  /** `https://oss-<region>-internal.aliyuncs.com` or an emulator's `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** e.g. `cn-hangzhou` (`oss-cn-hangzhou` is accepted too). */
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

/** Where a request for one object goes. */
export interface OssAddress {
  https: boolean;
  /** What to connect to (a host name or an IP). */
  hostname: string;
  port: number;
  /** The Host header. */
  host: string;
  /** The request path (already encoded). */
  path: string;
}

interface Endpoint {
  https: boolean;
  hostname: string;
  port: number;
  /** `:<port>` when the URL had one, for the Host header. */
  portSuffix: string;
  ip: boolean;
  agent: HttpAgent;
}

/** One parsed endpoint and keep-alive agent per endpoint URL: consecutive HEADs reuse the connection. */
const endpoints = new Map<string, Endpoint>();

function endpointFor(url: string): Endpoint {
  let endpoint = endpoints.get(url);
  if (endpoint) return endpoint;
  let parsed: URL;
  try {
    parsed = new URL(url.includes('://') ? url : `https://${url}`);
  } catch (error) {
    throw new CallbackError('Internal', `configuration error: OSS_ENDPOINT ${JSON.stringify(url)} is not a URL (e.g. https://oss-cn-hangzhou-internal.aliyuncs.com)`, { cause: error });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CallbackError('Internal', `configuration error: OSS_ENDPOINT ${JSON.stringify(url)} must be http:// or https://`);
  }
  const https = parsed.protocol === 'https:';
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const options = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 16, scheduling: 'lifo' as const };
  endpoint = {
    https,
    hostname,
    port: parsed.port ? Number(parsed.port) : https ? 443 : 80,
    portSuffix: parsed.port ? `:${parsed.port}` : '',
    ip: isIP(hostname) !== 0,
    agent: https ? new HttpsAgent(options) : new HttpAgent(options),
  };
  if (endpoints.size >= 16) {
    for (const old of endpoints.values()) old.agent.destroy();
    endpoints.clear();
  }
  endpoints.set(url, endpoint);
  return endpoint;
}

/** The address of one object at an endpoint (see the header for the three forms). */
export function ossAddress(target: HeadTarget, endpointUrl: string, region: string, pathStyle: boolean): OssAddress {
  const endpoint = endpointFor(endpointUrl);
  const objectPath = `/${encodeKeyPath(target.key)}`;
  const base = { https: endpoint.https, port: endpoint.port };
  const ownHost = `${endpoint.hostname.includes(':') ? `[${endpoint.hostname}]` : endpoint.hostname}${endpoint.portSuffix}`;
  if (pathStyle) return { ...base, hostname: endpoint.hostname, host: ownHost, path: `/${encodeRfc3986(target.bucket)}${objectPath}` };
  if (endpoint.ip) return { ...base, hostname: endpoint.hostname, host: `${target.bucket}.oss-${signRegion(region)}.aliyuncs.com`, path: objectPath };
  const virtual = `${target.bucket}.${endpoint.hostname}`;
  return { ...base, hostname: virtual, host: `${virtual}${endpoint.portSuffix}`, path: objectPath };
}

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value) || undefined;

function unavailable(message: string, cause?: unknown): CallbackError {
  return new CallbackError('OssUnavailable', message, { status: 503, cause });
}

/** The `<Code>` of OSS's error, which a HEAD reply carries base64-encoded in `x-oss-err` (no body). */
function errorCode(headers: IncomingHttpHeaders): string | undefined {
  const encoded = first(headers['x-oss-err']);
  if (!encoded) return undefined;
  return /<Code>([^<]*)<\/Code>/.exec(Buffer.from(encoded, 'base64').toString('utf8'))?.[1];
}

const CREDENTIAL_CODES = new Set(['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'SecurityTokenExpired', 'InvalidSecurityToken', 'RequestTimeTooSkewed']);

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
}

/** One signed HEAD, settled within `timeoutMs` or when `signal` aborts. */
function send(address: OssAddress, headers: Record<string, string>, options: HeadOptions, where: string): Promise<Reply> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const endpoint = endpointFor(options.endpoint);
  return new Promise<Reply>((resolve, reject) => {
    let settled = false;
    const finish = (error: unknown, reply?: Reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve(reply!);
      else {
        req.destroy();
        reject(error);
      }
    };
    const onAbort = () => finish(signal!.reason);
    const request = address.https ? httpsRequest : httpRequest;
    const req = request(
      { hostname: address.hostname, port: address.port, method: 'HEAD', path: address.path, agent: endpoint.agent, headers: { ...headers, host: address.host }, ...(address.https && isIP(address.hostname) === 0 ? { servername: address.hostname } : {}) },
      (res) => {
        res.resume();
        finish(undefined, { status: res.statusCode ?? 0, headers: res.headers });
      },
    );
    const timer = setTimeout(
      () => finish(unavailable(`OSS did not answer HeadObject ${where} within ${options.timeoutMs} ms (OSS_HEAD_TIMEOUT_MS): nothing was recorded; OSS retries nothing, the uploader sees CallbackFailed`)),
      options.timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish(unavailable(`HeadObject ${where} failed (${error.code ?? error.name}: ${error.message}): OSS is unreachable or failing; nothing was recorded`, error)),
    );
    req.end();
  });
}

/**
 * HeadObject. Resolves with what OSS says, or null when OSS says the object does not exist (404).
 * Rejects with `OssAccessDenied` (403 from OSS: the role cannot read the object, or the credentials
 * are refused), `OssUnavailable` (timeout, connection refused, 5xx, not an OSS reply) or, when `signal`
 * aborts first, with the signal's reason (DeadlineExceeded).
 */
export async function headObject(target: HeadTarget, options: HeadOptions): Promise<HeadFacts | null> {
  const where = `${target.bucket}/${target.key} at ${options.endpoint}`;
  const reply = await signedHead(target, options, where);
  const requestId = first(reply.headers['x-oss-request-id']);
  if (reply.status === 404) return null;
  if (reply.status !== 200) refused(reply, where);
  const etag = first(reply.headers.etag);
  const length = Number(first(reply.headers['content-length']));
  if (!etag || !Number.isSafeInteger(length) || length < 0) {
    throw unavailable(`HeadObject ${where} answered ${reply.status} without an ETag or a Content-Length: not an OSS reply; nothing was recorded`);
  }
  const facts: HeadFacts = { etag: normalizeEtag(etag), size: length };
  const contentType = first(reply.headers['content-type']);
  const crc64 = first(reply.headers['x-oss-hash-crc64ecma']);
  const lastModified = first(reply.headers['last-modified']);
  if (contentType) facts.contentType = contentType;
  if (crc64) facts.crc64 = crc64;
  if (lastModified && !Number.isNaN(Date.parse(lastModified))) facts.lastModified = new Date(lastModified);
  if (requestId) facts.requestId = requestId;
  return facts;
}

/** The key probeOss asks about (it need not exist). */
export const PROBE_KEY = 'healthz/probe-object-need-not-exist';

/**
 * For /healthz: a signed HEAD of a key that need not exist in `bucket`. Resolves when OSS answers for
 * the object (200, or 404 NoSuchKey: OSS is up and accepted the credentials); rejects with
 * `OssAccessDenied` (403: credentials or permissions), `OssUnavailable` (no answer, 5xx) or
 * `OssUnavailable` naming NoSuchBucket (the bucket does not exist at this endpoint and region).
 */
export async function probeOss(bucket: string, options: HeadOptions): Promise<{ status: number; requestId?: string }> {
  const where = `${bucket}/${PROBE_KEY} at ${options.endpoint}`;
  const reply = await signedHead({ bucket, key: PROBE_KEY }, options, where);
  const requestId = first(reply.headers['x-oss-request-id']);
  if (reply.status === 404 && errorCode(reply.headers) === 'NoSuchBucket') {
    throw unavailable(`OSS has no bucket ${JSON.stringify(bucket)} at ${options.endpoint} (NoSuchBucket${requestId ? `, OSS request ${requestId}` : ''}): check OSS_ALLOWED_BUCKETS, OSS_ENDPOINT and the region`);
  }
  if (reply.status !== 200 && reply.status !== 404) refused(reply, where);
  return { status: reply.status, ...(requestId ? { requestId } : {}) };
}

function signedHead(target: HeadTarget, options: HeadOptions, where: string): Promise<Reply> {
  const address = ossAddress(target, options.endpoint, options.region, options.pathStyle);
  const headers = signRequestV4({ method: 'HEAD', bucket: target.bucket, key: target.key, region: options.region, credentials: options.credentials, at: new Date() });
  return send(address, headers, options, where);
}

/** Throws the error of a HEAD reply that is neither 200 nor 404. */
function refused(reply: Reply, where: string): never {
  const requestId = first(reply.headers['x-oss-request-id']);
  const code = errorCode(reply.headers);
  const detail = `${code ?? 'HTTP'} ${reply.status}${requestId ? `, OSS request ${requestId}` : ''}`;
  if (reply.status === 403) {
    throw new CallbackError(
      'OssAccessDenied',
      code && CREDENTIAL_CODES.has(code)
        ? `OSS refused the function's credentials (HeadObject ${where}: ${detail}): check the role's credentials or ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN (and the clock); nothing was recorded`
        : `OSS refused to tell whether the object exists (HeadObject ${where}: ${detail}): the function's role (or ALIBABA_CLOUD_ACCESS_KEY_ID) needs oss:GetObject on the bucket; nothing was recorded`,
    );
  }
  throw unavailable(`HeadObject ${where} failed (${detail}): OSS is unreachable or failing; nothing was recorded`);
}
