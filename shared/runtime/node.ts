/**
 * The Node request listeners: `createNodeListener` (the local server: every job at
 * `POST /<job-name>` and any path below it, plus `GET /healthz`) and `createJobListener` (one job at
 * any path: what `serverless-http` drives on AWS Lambda).
 *
 * `req.url` is the raw request target, so the path and query reach the verifier exactly as the
 * client (OSS, the simulator, curl) sent them; the body is collected as Buffers, never as strings.
 * A platform that knows more than the request line (AWS: the request id, the receive time, a query
 * that API Gateway v1 only passes decoded) says so through `describe`.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { CallbackRequest, CallbackResponse } from '../core/http.js';
import type { HttpFunction } from '../core/http-function.js';
import type { Job } from '../core/job.js';
import type { Runtime } from '../core/pipeline.js';
import { CallbackError, errorReply, jsonReply } from '../protocol/index.js';
import { closeAfterReply, readLimitedBody } from './body-reader.js';
import { hostCheck, LOOPBACK_HOST_NAMES } from './host-check.js';
import { headerMap, httpServer, jobServer, refuse, type RequestServer } from './common.js';
import { type HealthCheck, runHealthChecks, storeCheck } from './health.js';

/** How long a client may take to send its body: well inside OSS's 5 s callback budget. */
export const DEFAULT_BODY_TIMEOUT_MS = 3000;

/**
 * Reads the whole body, refusing early (without buffering it) when it exceeds `limit` bytes
 * (`BodyTooLarge`), and refusing a client that has not sent all of it within `timeoutMs`
 * (`BodyTimeout`: a stalled or trickling upload must not hold a connection and a callback slot).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs = DEFAULT_BODY_TIMEOUT_MS): Promise<Buffer> {
  return readLimitedBody(req, {
    limit,
    timeoutMs,
    tooLarge: () => new CallbackError('BodyTooLarge', `the body is larger than CALLBACK_MAX_BODY_BYTES=${limit}: OSS callback bodies are small`),
    timedOut: () =>
      new CallbackError(
        'BodyTimeout',
        `the body did not arrive within CALLBACK_BODY_TIMEOUT_MS=${timeoutMs} ms (a stalled or very slow client; OSS sends its small body at once)`,
      ),
  });
}

/** What a platform knows about a request beyond its request line, headers and socket. */
export type RequestFacts = Partial<
  Pick<CallbackRequest, 'rawPath' | 'rawQuery' | 'altQueries' | 'requestId' | 'receivedAt' | 'sourceIp'>
>;

export function nodeToRequest(req: IncomingMessage, body: Buffer, requestId: string = randomUUID(), facts: RequestFacts = {}): CallbackRequest {
  const target = req.url ?? '/';
  const mark = target.indexOf('?');
  const headers = headerMap(req.headers);
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    rawPath: mark < 0 ? target : target.slice(0, mark),
    rawQuery: mark < 0 ? null : target.slice(mark + 1),
    headers,
    body,
    sourceIp: req.socket.remoteAddress,
    requestId,
    receivedAt: Date.now(),
    ...definedOnly(facts),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function sendResponse(res: ServerResponse, response: CallbackResponse): void {
  res.writeHead(response.status, response.headers);
  res.end(response.body);
}

export interface LocalServerOptions {
  jobs: readonly Job[];
  /** Plain HTTP functions (defineHttpFunction), at `/<name>` like the jobs. */
  http?: readonly HttpFunction[];
  runtime: Runtime;
  /** Host names (without port) requests must be addressed to; default LOOPBACK_HOST_NAMES. */
  allowedHosts?: readonly string[];
  /** Extra fields for `GET /healthz`. */
  health?: () => Record<string, unknown>;
  /** What `GET /healthz` checks (health.ts); default: the datastore of `runtime.config.databaseUrl`. */
  checks?: readonly HealthCheck[];
}

/** Finds the job for a raw path: `/<name>` or `/<name>/anything`. */
export function routeFor(jobs: ReadonlyMap<string, Job>, rawPath: string): Job | undefined {
  const name = rawPath.split('/')[1] ?? '';
  return jobs.get(name);
}

/** Reads the body, has the server answer the request (a callback through the core); never throws. */
async function serveRequest(
  server: RequestServer,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  describe?: (req: IncomingMessage) => RequestFacts,
): Promise<void> {
  const started = performance.now();
  const facts = describe?.(req) ?? {};
  const id = facts.requestId ?? requestId;
  let response: CallbackResponse;
  try {
    const body = await readBody(req, server.maxBodyBytes(), server.bodyTimeoutMs?.());
    response = await server.serve(nodeToRequest(req, body, id, facts));
  } catch (caught) {
    // What comes before the pipeline: the configuration, a body over the limit or too slow.
    const refused = refuse(server, caught, { requestId: id, started, headers: req.headers });
    // The rest of a too large or stalled body is never read: the connection ends with the reply.
    if (refused.error.code === 'BodyTooLarge' || refused.error.code === 'BodyTimeout') closeAfterReply(req, res);
    else req.resume();
    response = refused.response;
  }
  sendResponse(res, response);
}

/**
 * A listener for one job at any path (no routing, no /healthz): what `serverless-http` drives on
 * AWS Lambda. `runtime` may be a getter, called per request, so that configuration errors are
 * answered as `Internal` rather than thrown at import time.
 */
export function createJobListener(
  job: Job,
  runtime: Runtime | (() => Runtime),
  describe?: (req: IncomingMessage) => RequestFacts,
): RequestListener {
  return createServerListener(jobServer(job, typeof runtime === 'function' ? runtime : () => runtime), describe);
}

/** A listener for any server (a job or a plain HTTP function) at any path. */
export function createServerListener(server: RequestServer, describe?: (req: IncomingMessage) => RequestFacts): RequestListener {
  return (req, res) => {
    void serveRequest(server, req, res, randomUUID(), describe);
  };
}

export function createNodeListener(options: LocalServerOptions): RequestListener {
  const jobs = new Map(options.jobs.map((job) => [job.name, job]));
  const checkHost = hostCheck(options.allowedHosts ?? LOOPBACK_HOST_NAMES);
  const checks = options.checks ?? [storeCheck(options.runtime.config.databaseUrl)];
  const plain = new Map((options.http ?? []).map((fn) => [fn.name, httpServer(fn)]));
  return (req, res) => {
    const requestId = randomUUID();
    const wrongHost = checkHost(req);
    if (wrongHost) {
      req.resume();
      sendResponse(res, errorReply(wrongHost, requestId));
      return;
    }
    const target = req.url ?? '/';
    const path = target.split('?')[0] ?? '/';
    if (path === '/healthz') {
      req.resume();
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendResponse(res, errorReply(new CallbackError('MethodNotAllowed', '/healthz answers GET'), requestId));
        return;
      }
      // 200 when every check passes, 503 when one is down (health.ts).
      void runHealthChecks(checks).then((report) =>
        sendResponse(res, jsonReply(report.status === 'ok' ? 200 : 503, { status: report.status, functions: [...jobs.keys()], ...options.health?.(), checks: report.checks })),
      );
      return;
    }
    const job = routeFor(jobs, path);
    const fn = job ? undefined : plain.get(path.split('/')[1] ?? '');
    if (!job && !fn) {
      req.resume();
      const known = [...jobs.keys(), ...plain.keys()].map((name) => `POST /${name}`).join(', ');
      sendResponse(res, errorReply(new CallbackError('NotFound', `no function at ${path}; this server has ${known}`), requestId));
      return;
    }
    void serveRequest(job ? jobServer(job, () => options.runtime) : fn!, req, res, requestId);
  };
}
