/**
 * A local stand-in for the Function Compute INVOKE API, so that real FC clients run unchanged with
 * their endpoint pointed at the local server (`npm start`), and the named local function runs in
 * this process:
 *
 *   FC 2.0 API (2016-08-15, `@alicloud/fc2`):
 *     POST /2016-08-15/services/{service}[.{qualifier}]/functions/{function}/invocations
 *   FC 3.0 API (2023-03-30):
 *     POST /2023-03-30/functions/{function}/invocations[?qualifier=…]
 *
 * Like FC it answers `x-fc-invocation-type: Async` with 202 and an `x-fc-request-id` at once, then
 * runs the function; a synchronous invocation answers 200 with the function's result (an error:
 * 200 with `x-fc-error-type: UnhandledInvocationError`). Local functions have no services: any
 * service name reaches the function of that name. There are no async retries.
 *
 * Requests are authenticated as FC does, against one local key pair, on their headers BEFORE any
 * byte of the body is read (a stranger cannot make this server buffer anything):
 *  - 2016-08-15: `Authorization: FC <AccessKeyId>:<base64 hmac-sha256>` over the string to sign of
 *    shared/handoff/fc2-signature.ts; `Date` within 15 minutes either way (RequestTimeTooSkewed: a
 *    captured request cannot be replayed later); a request with a body must send Content-MD5 (it is
 *    in the string to sign, so it binds the body to the signature), and it must match the body the
 *    way the client computes it (base64 of the HEX md5 — the FC 2.0 client's quirk);
 *    x-fc-security-token must match an STS pair's token.
 *  - 2023-03-30: ACS3-HMAC-SHA256 (shared/handoff/acs3.ts) over the headers the client lists in
 *    SignedHeaders (which must include host and every x-acs-* header sent); `x-acs-date` within 15
 *    minutes; `x-acs-content-sha256` (signed) must be the body's SHA-256; a nonce is accepted once.
 * Then the body is read with a cap (a declared Content-Length over it is refused unread, 413
 * PayloadTooLarge) and a time limit (408 RequestTimeout for a stalled or trickling client); either
 * refusal closes the connection. Only requests addressed to an allowed Host are answered (421
 * HostNotAllowed; see hostCheck in node.ts).
 * Errors are FC-shaped JSON: `{"ErrorCode","ErrorMessage"}` (2016-08-15) or `{"Code","Message","RequestId"}` (2023-03-30).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseAcs3Authorization, acs3Signature, acs3StringToSign, sha256Hex } from '../handoff/acs3.js';
import { fc2ContentMd5, fc2Signature, fc2StringToSign, parseFc2Authorization } from '../handoff/fc2-signature.js';
import { closeAfterReply, readLimitedBody } from './body-reader.js';
import { hostCheck, LOOPBACK_HOST_NAMES } from './host-check.js';

/** What an FC handler gets as `context` (FC 3.0 shape; also what FC 2.0 event handlers get). */
export interface LocalFcContext {
  requestId: string;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  function: { name: string; handler: string; memory: number; timeout: number };
  service: { name?: string; qualifier: string };
  region: string;
  accountId: string;
  retryCount: number;
}

export type LocalFunctionHandler = (event: Buffer, context: LocalFcContext) => unknown;

export interface FcApiOptions {
  /** Function name → its exported handler. */
  functions: ReadonlyMap<string, LocalFunctionHandler>;
  /** The key pair requests must be signed with; also passed to functions as context.credentials. */
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  accountId: string;
  region: string;
  /** One JSON line per refused request and per finished async invocation. */
  log?: (line: Record<string, unknown>) => void;
  now?: () => number;
  /** Largest body of a synchronous invocation; default 32 MB (FC's). Asynchronous: at most 128 KB (FC's). */
  maxBodyBytes?: number;
  /** Longest time to receive a body once the headers are authenticated; default 10 s. */
  bodyTimeoutMs?: number;
  /** Host names (without port) requests must be addressed to; default loopback names only. */
  allowedHosts?: readonly string[];
}

export interface FcApi {
  /** Handles the request when it is an FC API path; returns false (and does nothing) otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Resolves when no asynchronous invocation is running. */
  idle(): Promise<void>;
}

const SKEW_MS = 15 * 60 * 1000;
const MAX_SYNC_BYTES = 32 * 1024 * 1024;
const MAX_ASYNC_BYTES = 128 * 1024;
const FC2_PATH = /^\/2016-08-15\/services\/([^/]+)\/functions\/([^/]+)\/invocations$/;
const FC3_PATH = /^\/2023-03-30\/functions\/([^/]+)\/invocations$/;

export function isFcApiPath(path: string): boolean {
  return path.startsWith('/2016-08-15/') || path.startsWith('/2023-03-30/');
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function fcRequestId(now: number): string {
  return `1-${Math.floor(now / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
}

export const DEFAULT_FC_API_BODY_TIMEOUT_MS = 10_000;

function readAll(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  return readLimitedBody(req, {
    limit,
    timeoutMs,
    tooLarge: () => new ApiError(413, 'PayloadTooLarge', `the request body is larger than ${limit} bytes (the limit for this invocation type)`),
    timedOut: () => new ApiError(408, 'RequestTimeout', `the request body did not arrive within ${timeoutMs} ms (a stalled or very slow client)`),
  });
}

/** Whether the request announces a body (Content-Length > 0, or chunked). */
function announcesBody(req: IncomingMessage): boolean {
  const length = header(req, 'content-length');
  return (length !== undefined && length.trim() !== '0') || header(req, 'transfer-encoding') !== undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function withinSkew(time: number, now: number): boolean {
  return Number.isFinite(time) && Math.abs(now - time) <= SKEW_MS;
}

export function createFcApi(options: FcApiOptions): FcApi {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const seenNonces = new Map<string, number>();
  const maxBodyBytes = options.maxBodyBytes ?? MAX_SYNC_BYTES;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_FC_API_BODY_TIMEOUT_MS;
  const checkHost = hostCheck(options.allowedHosts ?? LOOPBACK_HOST_NAMES);
  let running = 0;
  let waiters: (() => void)[] = [];

  /** FC 2.0 API: the signature over the request as @alicloud/fc2 signs it (headers only). */
  function checkFc2(req: IncomingMessage, path: string): void {
    const auth = parseFc2Authorization(header(req, 'authorization'));
    if (!auth) throw new ApiError(403, 'AccessDenied', 'the Authorization header is missing or is not "FC <AccessKeyId>:<Signature>"');
    const date = header(req, 'date');
    if (!date || !withinSkew(Date.parse(date), now())) {
      throw new ApiError(403, 'RequestTimeTooSkewed', `the Date header ${JSON.stringify(date ?? '')} is missing or more than 15 minutes from the server time`);
    }
    if (auth.accessKeyId !== options.credentials.accessKeyId) {
      throw new ApiError(403, 'InvalidAccessKeyId', `the AccessKeyId ${JSON.stringify(auth.accessKeyId)} is not the local one (LOCAL_FC_ACCESS_KEY_ID)`);
    }
    const token = options.credentials.securityToken;
    if (token && header(req, 'x-fc-security-token') !== token) {
      throw new ApiError(403, 'InvalidSecurityToken', 'the x-fc-security-token does not belong to the local STS key pair');
    }
    const headers: Record<string, string | undefined> = {};
    for (const name of Object.keys(req.headers)) headers[name] = header(req, name);
    const stringToSign = fc2StringToSign(req.method ?? 'POST', path, headers, null);
    if (!sameText(auth.signature, fc2Signature(options.credentials.accessKeySecret, stringToSign))) {
      throw new ApiError(403, 'SignatureNotMatch', `the signature does not match; the string to sign was ${JSON.stringify(stringToSign)}`);
    }
    if (announcesBody(req) && header(req, 'content-md5') === undefined) {
      throw new ApiError(400, 'InvalidArgument', 'a request with a body must send Content-MD5 (it binds the body to the signature); @alicloud/fc2 sends it');
    }
  }

  /** FC 2.0 API: the body is the one the signed Content-MD5 names. */
  function checkFc2Body(req: IncomingMessage, body: Buffer): void {
    const md5 = header(req, 'content-md5');
    if (md5 === undefined ? body.length > 0 : md5 !== fc2ContentMd5(body)) {
      throw new ApiError(400, 'InvalidArgument', 'the Content-MD5 is missing or does not match the body (expected base64 of the hex md5 of the body)');
    }
  }

  /** FC 3.0 API: ACS3-HMAC-SHA256 over the signed headers. */
  function checkFc3(req: IncomingMessage, path: string, query: URLSearchParams): void {
    const auth = parseAcs3Authorization(header(req, 'authorization'));
    if (!auth) throw new ApiError(400, 'IncompleteSignature', 'the Authorization header is missing or is not ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…');
    const sent = Object.keys(req.headers).filter((name) => name === 'host' || name.startsWith('x-acs-'));
    const unsigned = sent.filter((name) => !auth.signedHeaders.includes(name));
    if (unsigned.length > 0 || !auth.signedHeaders.includes('host')) {
      throw new ApiError(400, 'IncompleteSignature', `SignedHeaders must include host and every x-acs-* header; missing: ${[...unsigned, ...(auth.signedHeaders.includes('host') ? [] : ['host'])].join(', ')}`);
    }
    const date = header(req, 'x-acs-date');
    if (!date || !withinSkew(Date.parse(date), now())) {
      throw new ApiError(400, 'InvalidTimeStamp.Expired', `x-acs-date ${JSON.stringify(date ?? '')} is missing or more than 15 minutes from the server time`);
    }
    if (auth.accessKeyId !== options.credentials.accessKeyId) {
      throw new ApiError(404, 'InvalidAccessKeyId.NotFound', `the AccessKeyId ${JSON.stringify(auth.accessKeyId)} is not the local one (LOCAL_FC_ACCESS_KEY_ID)`);
    }
    const token = options.credentials.securityToken;
    if (token && header(req, 'x-acs-security-token') !== token) {
      throw new ApiError(403, 'InvalidSecurityToken.Mismatch', 'the x-acs-security-token does not belong to the local STS key pair');
    }
    const hashed = header(req, 'x-acs-content-sha256') ?? '';
    if (!/^[0-9a-f]{64}$/.test(hashed)) throw new ApiError(400, 'ContentSHA256Mismatch', 'x-acs-content-sha256 (the body\'s SHA-256, hex) is missing or malformed');
    const signed: Record<string, string> = {};
    for (const name of auth.signedHeaders) signed[name] = header(req, name) ?? '';
    const { stringToSign } = acs3StringToSign({ method: req.method ?? 'POST', pathname: path, query: Object.fromEntries(query), headers: signed }, hashed);
    if (!sameText(auth.signature, acs3Signature(options.credentials.accessKeySecret, stringToSign))) {
      throw new ApiError(400, 'SignatureDoesNotMatch', `the signature does not match; the string to sign was ${JSON.stringify(stringToSign)}`);
    }
    const nonce = header(req, 'x-acs-signature-nonce');
    if (nonce) {
      for (const [seen, at] of seenNonces) if (now() - at > SKEW_MS) seenNonces.delete(seen);
      if (seenNonces.has(nonce)) throw new ApiError(400, 'SignatureNonceUsed', 'this x-acs-signature-nonce was already used');
      seenNonces.set(nonce, now());
    }
  }

  /** FC 3.0 API: the body is the one the signed x-acs-content-sha256 names. */
  function checkFc3Body(req: IncomingMessage, body: Buffer): void {
    if (header(req, 'x-acs-content-sha256') !== sha256Hex(body)) throw new ApiError(400, 'ContentSHA256Mismatch', 'x-acs-content-sha256 is not the SHA-256 of the body');
  }

  function finishRun(): void {
    running -= 1;
    if (running === 0) {
      const done = waiters;
      waiters = [];
      for (const resolve of done) resolve();
    }
  }

  async function serve(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const requestId = fcRequestId(now());
    const v3 = path.startsWith('/2023-03-30/');
    const fail = (error: ApiError) => {
      const body = JSON.stringify(v3 ? { Code: error.code, Message: error.message, RequestId: requestId } : { ErrorCode: error.code, ErrorMessage: error.message });
      res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-fc-request-id': requestId });
      res.end(body);
      log({ fcApi: v3 ? '2023-03-30' : '2016-08-15', path, status: error.status, outcome: error.code, message: error.message, requestId });
    };
    let bodyRead = false;
    try {
      const wrongHost = checkHost(req);
      if (wrongHost) throw new ApiError(421, wrongHost.code, wrongHost.message);
      if (req.method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', 'the local FC API only answers POST …/invocations');
      const fc2 = FC2_PATH.exec(path);
      const fc3 = FC3_PATH.exec(path);
      if (!fc2 && !fc3) throw new ApiError(404, 'PathNotSupported', `the local FC API only serves function invocations, not ${path}`);
      const invocation = (header(req, 'x-fc-invocation-type') ?? 'Sync').toLowerCase() === 'async' ? 'Async' : 'Sync';
      if (fc2) checkFc2(req, path);
      else checkFc3(req, path, query);
      bodyRead = true;
      const body = await readAll(req, invocation === 'Async' ? Math.min(MAX_ASYNC_BYTES, maxBodyBytes) : maxBodyBytes, bodyTimeoutMs);
      if (fc2) checkFc2Body(req, body);
      else checkFc3Body(req, body);
      const [serviceName, serviceQualifier] = fc2 ? decodeURIComponent(fc2[1]!).split('.') : [undefined, undefined];
      const functionName = decodeURIComponent(fc2 ? fc2[2]! : fc3![1]!);
      const handler = options.functions.get(functionName);
      if (!handler) {
        throw new ApiError(404, 'FunctionNotFound', `no local function ${JSON.stringify(functionName)}; there are: ${[...options.functions.keys()].join(', ')}`);
      }
      const context: LocalFcContext = {
        requestId,
        credentials: { ...options.credentials },
        function: { name: functionName, handler: 'index.handler', memory: 512, timeout: 60 },
        service: { ...(serviceName ? { name: serviceName } : {}), qualifier: serviceQualifier ?? query.get('qualifier') ?? 'LATEST' },
        region: options.region,
        accountId: options.accountId,
        retryCount: 0,
      };
      if (invocation === 'Async') {
        res.writeHead(202, { 'content-length': 0, 'x-fc-request-id': requestId });
        res.end();
        running += 1;
        const started = performance.now();
        Promise.resolve()
          .then(() => handler(body, context))
          .then(
            () => log({ fcApi: 'async', function: functionName, requestId, status: 200, outcome: 'OK', durationMs: Math.round(performance.now() - started) }),
            (error: unknown) =>
              log({ fcApi: 'async', function: functionName, requestId, status: 500, outcome: 'UnhandledInvocationError', message: error instanceof Error ? error.message : String(error) }),
          )
          .finally(finishRun);
        return;
      }
      let result: Buffer;
      const headers: Record<string, string | number> = { 'x-fc-request-id': requestId };
      try {
        const value = await handler(body, context);
        result = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''), 'utf8');
        if (!Buffer.isBuffer(value) && typeof value !== 'string') headers['content-type'] = 'application/json';
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        result = Buffer.from(JSON.stringify({ errorMessage: e.message, errorType: e.name, stackTrace: (e.stack ?? '').split('\n').slice(1).map((s) => s.trim()) }));
        headers['content-type'] = 'application/json';
        headers['x-fc-error-type'] = 'UnhandledInvocationError';
      }
      headers['content-length'] = result.length;
      res.writeHead(200, headers);
      res.end(result);
    } catch (error) {
      // A body that was refused unread (not authenticated, too large, stalled) is never read: the
      // connection ends with the reply.
      if (!bodyRead || (error instanceof ApiError && (error.status === 413 || error.status === 408))) closeAfterReply(req, res);
      else req.resume();
      fail(error instanceof ApiError ? error : new ApiError(500, 'InternalServerError', error instanceof Error ? error.message : String(error)));
    }
  }

  return {
    handle(req, res) {
      const target = req.url ?? '/';
      const mark = target.indexOf('?');
      const path = mark < 0 ? target : target.slice(0, mark);
      if (!isFcApiPath(path)) return false;
      void serve(req, res, path, new URLSearchParams(mark < 0 ? '' : target.slice(mark + 1)));
      return true;
    },
    idle() {
      return running === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}
