/**
 * Function Compute 3.0 event handler behind an HTTP trigger: `handler(event, context)`.
 *
 * The event is a Buffer holding JSON (a string or an object in tests and some tools). Shape, from
 * the FC 3.0 "HTTP trigger" documentation and the official Go SDK `HTTPTriggerEvent`:
 *   { version: "v1", rawPath, body, isBase64Encoded, headers, queryParameters,
 *     requestContext: { requestId, timeEpoch (string ms), http: { method, path, sourceIp, ... } } }
 *
 * Two things FC 3.0 hides that the OSS signature covers:
 *  - the raw query: only `queryParameters` (decoded, repeated keys comma-joined) is passed. We
 *    rebuild it (see `queryCandidates`) and the verifier tries the plausible spellings. This works
 *    for the usual `?a=1&b=2` queries; it cannot recover arbitrary encodings or key orders, so put
 *    data in `x:` variables (signed, in the body) rather than in the callback URL's query.
 *  - nothing else: `rawPath` is the path as requested (percent-encoded), which is what OSS signed.
 */
import { randomUUID } from 'node:crypto';
import type { CallbackRequest, CallbackResponse } from '../core/http.js';
import type { Job } from '../core/job.js';
import type { Runtime } from '../core/pipeline.js';
import { platformFromFcContext } from '../core/platform.js';
import { CallbackError } from '../protocol/errors.js';
import { headerMap, jobServer, refuse, type RequestServer } from './common.js';

export interface Fc3HttpEvent {
  version?: string;
  rawPath?: string;
  body?: string;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | string[]>;
  queryParameters?: Record<string, string>;
  requestContext?: {
    accountId?: string;
    domainName?: string;
    domainPrefix?: string;
    http?: { method?: string; path?: string; protocol?: string; sourceIp?: string; userAgent?: string };
    requestId?: string;
    time?: string;
    timeEpoch?: string | number;
  };
}

/** The parts of the FC 3.0 context we use (it also carries credentials, logger, tracing, ...). */
export interface Fc3Context {
  requestId?: string;
  function?: { name?: string; handler?: string; memory?: number; timeout?: number };
  region?: string;
  accountId?: string;
  credentials?: { accessKeyId?: string; accessKeySecret?: string; securityToken?: string };
}

export interface Fc3HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  isBase64Encoded: boolean;
  body: string;
}

export function parseFc3Event(event: unknown): Fc3HttpEvent {
  let parsed: unknown = event;
  if (Buffer.isBuffer(event) || event instanceof Uint8Array || typeof event === 'string') {
    const text = typeof event === 'string' ? event : Buffer.from(event).toString('utf8');
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CallbackError('InvalidEvent', 'the FC event is not JSON: is this function behind an HTTP trigger?');
    }
  }
  const candidate = parsed as Fc3HttpEvent | null;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.requestContext?.http?.method !== 'string' ||
    (typeof candidate.rawPath !== 'string' && typeof candidate.requestContext.http.path !== 'string')
  ) {
    throw new CallbackError(
      'InvalidEvent',
      'the FC event is not an HTTP trigger event (no requestContext.http.method or rawPath): invoke this function through its HTTP trigger, or locally with an FC 3.0 HTTP event file',
    );
  }
  return candidate;
}

/** RFC 3986 percent-encoding (what most clients and OSS's own examples produce). */
function encodeStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Plausible raw spellings of a query a platform only gave us as a decoded map, most likely first.
 * `null` means "no query at all"; `''` means a bare `?` (the Ruby SDK always appends one).
 * A string value may be several values joined with commas (FC 3.0 joins repeated keys: `a=1&a=2`
 * arrives as `{ a: "1,2" }`); an array value (FC 2.0, API Gateway v1) lists the repeats exactly.
 */
export function queryCandidates(parameters: Readonly<Record<string, string | readonly string[]>> | undefined): (string | null)[] {
  const entries = Object.entries(parameters ?? {});
  if (entries.length === 0) return [null, ''];
  const orders = [entries, [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
  const encoders: ((s: string) => string)[] = [
    encodeStrict,
    encodeURIComponent,
    (s) => encodeURIComponent(s).replace(/%20/g, '+'),
    (s) => s, // sent unencoded (values made only of safe characters)
  ];
  // Platforms give a string, or an array for a repeated key; anything else is read as no value.
  const asGiven = (value: unknown): readonly string[] =>
    typeof value === 'string' ? [value] : Array.isArray(value) ? value.map(String) : [];
  const commaSplit = (value: unknown): readonly string[] => (typeof value === 'string' ? value.split(',') : asGiven(value));
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (query: string) => {
    if (!seen.has(query)) {
      seen.add(query);
      out.push(query);
    }
  };
  for (const order of orders) {
    for (const encode of encoders) {
      for (const values of [asGiven, commaSplit]) {
        add(order.flatMap(([k, value]) => values(value).map((part) => `${encode(k)}=${encode(part)}`)).join('&'));
      }
    }
  }
  return out;
}

export function fc3ToRequest(event: Fc3HttpEvent, context: Fc3Context | undefined): CallbackRequest {
  const http = event.requestContext?.http ?? {};
  let rawPath = event.rawPath ?? http.path ?? '/';
  let candidates = queryCandidates(event.queryParameters);
  const mark = rawPath.indexOf('?');
  if (mark >= 0) {
    // Some gateways keep the query in rawPath: then we have it exactly as sent.
    candidates = [rawPath.slice(mark + 1), ...candidates];
    rawPath = rawPath.slice(0, mark);
  }
  const [first, ...rest] = candidates;
  const epoch = Number(event.requestContext?.timeEpoch);
  const body = event.body ?? '';
  return {
    method: (http.method ?? 'GET').toUpperCase(),
    // rawPath is percent-encoded as requested; http.path is FC's decoded copy (fallback only).
    rawPath,
    rawQuery: first ?? null,
    altQueries: rest,
    headers: headerMap(event.headers),
    body: event.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8'),
    sourceIp: http.sourceIp,
    requestId: context?.requestId ?? event.requestContext?.requestId ?? randomUUID(),
    receivedAt: Number.isFinite(epoch) && epoch > 0 ? epoch : undefined,
    platform: platformFromFcContext(context),
  };
}

export function responseToFc3(response: CallbackResponse): Fc3HttpResult {
  // Our bodies are always UTF-8 JSON, so they travel as text. content-length is set explicitly:
  // OSS refuses replies without a positive Content-Length.
  return {
    statusCode: response.status,
    headers: { ...response.headers },
    isBase64Encoded: false,
    body: response.body.toString('utf8'),
  };
}

/** The FC 3.0 event handler for one job: parse the event, run the core, return the response struct. */
export function createFc3Handler(job: Job, getRuntime: () => Runtime) {
  return createFc3Adapter(jobServer(job, getRuntime));
}

/** The FC 3.0 event handler for any server (a job or a plain HTTP function). */
export function createFc3Adapter(server: RequestServer) {
  return async (event: unknown, context?: Fc3Context): Promise<Fc3HttpResult> => {
    const started = performance.now();
    let request: CallbackRequest;
    try {
      request = fc3ToRequest(parseFc3Event(event), context);
    } catch (caught) {
      return responseToFc3(refuse(server, caught, { requestId: context?.requestId ?? 'unknown', started, code: 'InvalidEvent' }).response);
    }
    try {
      return responseToFc3(await server.serve(request));
    } catch (caught) {
      // serve throws only what comes before the pipeline (a configuration that cannot be read).
      return responseToFc3(refuse(server, caught, { requestId: request.requestId, started, headers: request.headers }).response);
    }
  };
}
