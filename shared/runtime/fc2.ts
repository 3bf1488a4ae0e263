/**
 * Function Compute 2.0 HTTP functions: `handler(req, resp, context)` behind an HTTP trigger.
 *
 * What the FC 2.0 Node.js runtime passes (documented contract, and what the runtime really does;
 * see the Function Compute reference §2):
 *  - `req` is an `http.IncomingMessage` subclass: lower-cased `headers` (repeats joined by ", "),
 *    `path`, `queries` (decoded; a repeated key is an array), `method`, `clientIP`, and `url`, the
 *    request URI as it arrived: the raw target, query included (on the default domain it starts with
 *    `/2016-08-15/proxy/<service>/<function>/`, which is what OSS requested and signed);
 *  - `req.body` is usually the whole body as a Buffer already; the stream yields the same bytes;
 *  - `resp.setStatusCode(int)`, `resp.setHeader(name, value)`, `resp.send(Buffer)`, at most once.
 *
 * So the raw target comes from `req.url`; `req.queries` only matters when `url` carries no query
 * (then its plausible spellings are tried, as for FC 3.0).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { CallbackRequest, CallbackResponse } from '../core/http.js';
import type { Job } from '../core/job.js';
import type { Runtime } from '../core/pipeline.js';
import { platformFromFcContext } from '../core/platform.js';
import { headerMap, jobServer, refuse, type RequestServer } from './common.js';
import { queryCandidates } from './fc3.js';
import { readBody } from './node.js';

export type Fc2Request = IncomingMessage & {
  path?: string;
  queries?: Record<string, string | string[]>;
  clientIP?: string;
  body?: Buffer | string;
};

export interface Fc2Response {
  setStatusCode(statusCode: number): unknown;
  setHeader(name: string, value: string | string[]): unknown;
  send(body: Buffer | string): unknown;
}

/** The parts of the FC 2.0 context we use (the same shape as FC 3.0's, plus `service`). */
export interface Fc2Context {
  requestId?: string;
  function?: { name?: string; handler?: string };
  service?: { name?: string; qualifier?: string };
  region?: string;
  accountId?: string;
  credentials?: { accessKeyId?: string; accessKeySecret?: string; securityToken?: string };
}

/** True for the `resp` object of an FC 2.0 HTTP function (the dispatch test in handler.ts). */
export function isFc2Response(value: unknown): value is Fc2Response {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Fc2Response).setStatusCode === 'function' &&
    typeof (value as Fc2Response).send === 'function'
  );
}

/** The raw target's path and query from `req.url`, falling back to `req.path` + `req.queries`. */
export function fc2Target(req: Pick<Fc2Request, 'url' | 'path' | 'queries'>): Pick<CallbackRequest, 'rawPath' | 'rawQuery' | 'altQueries'> {
  let target = typeof req.url === 'string' ? req.url : '';
  const origin = /^https?:\/\/[^/?#]*/i.exec(target);
  if (origin) target = target.slice(origin[0].length) || '/';
  const rebuilt = queryCandidates(req.queries);
  if (!target.startsWith('/')) {
    const [first, ...rest] = rebuilt;
    return { rawPath: req.path || '/', rawQuery: first ?? null, altQueries: rest };
  }
  const mark = target.indexOf('?');
  if (mark >= 0) {
    // The query exactly as sent; the rebuilt spellings only in case a runtime normalised `url`.
    const rawQuery = target.slice(mark + 1);
    return { rawPath: target.slice(0, mark), rawQuery, altQueries: rebuilt.filter((q) => q !== rawQuery && q !== null) };
  }
  // No "?" in url: either there was no query, or the runtime left it out of url.
  const [first, ...rest] = rebuilt;
  return { rawPath: target, rawQuery: first ?? null, altQueries: rest };
}

/** The body bytes: `req.body` when the runtime filled it in, else read from the stream (capped). */
export async function fc2Body(req: Fc2Request, limit: number): Promise<Buffer> {
  // A string body (some other wrapper's doing) may have lost bytes in decoding: read the stream.
  return Buffer.isBuffer(req.body) ? req.body : readBody(req, limit);
}

export function fc2ToRequest(req: Fc2Request, body: Buffer, context: Fc2Context | undefined, receivedAt = Date.now()): CallbackRequest {
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    ...fc2Target(req),
    headers: headerMap(req.headers),
    body,
    sourceIp: req.clientIP || req.socket?.remoteAddress,
    requestId: context?.requestId ?? randomUUID(),
    receivedAt,
    platform: platformFromFcContext(context),
  };
}

/** Replies through `resp`. FC computes Content-Length itself from the Buffer we send. */
export function sendFc2(resp: Fc2Response, response: CallbackResponse): void {
  resp.setStatusCode(response.status);
  for (const [name, value] of Object.entries(response.headers)) resp.setHeader(name, value);
  resp.send(response.body);
}

/** The FC 2.0 HTTP handler for one job: read body, read target and headers, reply through `resp`. */
export function createFc2Handler(job: Job, getRuntime: () => Runtime) {
  return createFc2Adapter(jobServer(job, getRuntime));
}

/** The FC 2.0 HTTP handler for any server (a job or a plain HTTP function). */
export function createFc2Adapter(server: RequestServer) {
  return async (req: Fc2Request, resp: Fc2Response, context?: Fc2Context): Promise<void> => {
    const receivedAt = Date.now();
    const started = performance.now();
    const requestId = context?.requestId ?? randomUUID();
    let response: CallbackResponse;
    try {
      const body = await fc2Body(req, server.maxBodyBytes());
      response = await server.serve(fc2ToRequest(req, body, { ...context, requestId }, receivedAt));
    } catch (error) {
      // What comes before the pipeline: the configuration, a streamed body over the limit or too slow.
      response = refuse(server, error, { requestId, started, headers: req.headers }).response;
    }
    sendFc2(resp, response);
  };
}
