/**
 * Stand-ins for the platforms the handler runs on, for tests only (never bundled):
 *  - `echoJob`: a job whose reply depends only on the verified body, so that the same callback can
 *    be compared byte for byte across platforms;
 *  - the FC 2.0 runtime's `req`/`resp` (built like the Node.js runtime builds them from the HTTP
 *    parameters FC passes: see the Function Compute reference §2.2);
 *  - builders that turn one request as it was on the wire into each platform's event, starting
 *    from a literal event fixture (test/fixtures/{fc3,fc2,aws}/) and changing only the request.
 */
import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import * as v from 'valibot';
import type { CallbackRequest } from '../core/http.js';
import { defineJob } from '../core/job.js';
import { percentDecodeBytes } from '../protocol/path.js';
import { oss } from '../protocol/variables.js';
import type { Fc2Request, Fc2Response } from '../runtime/fc2.js';
import type { Fc3HttpEvent } from '../runtime/fc3.js';

/** Replies with what it verified: `{ bucket, object, size, custom, bodyType }`. Writes nothing. */
export const echoJob = defineJob({
  name: 'echo',
  description: 'Test job: echoes the verified payload.',
  payload: v.object({ bucket: oss.bucket, object: oss.object, size: oss.size }),
  async handle({ payload, custom, callback }) {
    return { ...payload, custom, bodyType: callback.bodyType };
  },
});

/** A request as it was on the wire (what OSS sent). */
export type WireRequest = Pick<CallbackRequest, 'method' | 'rawPath' | 'rawQuery' | 'headers' | 'body'>;

/** Decoded query parameters, repeated keys in order (`+` is a space, as gateways decode it). */
function decodedQuery(rawQuery: string | null): [string, string][] {
  return rawQuery === null || rawQuery === '' ? [] : [...new URLSearchParams(rawQuery)];
}

function multiMap(pairs: [string, string][]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of pairs) (out[key] ??= []).push(value);
  return out;
}

function commaJoined(pairs: [string, string][]): Record<string, string> {
  return Object.fromEntries(Object.entries(multiMap(pairs)).map(([key, values]) => [key, values.join(',')]));
}

/** Canonical MIME casing (`x-oss-pub-key-url` → `X-Oss-Pub-Key-Url`), as FC 3.0 passes headers. */
function canonical(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

function isText(body: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
    return true;
  } catch {
    return false;
  }
}

export interface EventOptions {
  /** Force the body into base64 transport (platforms do for "binary" content types). Default: only non-UTF-8 bodies. */
  base64?: boolean;
}

function bodyField(body: Buffer, options: EventOptions): { body: string; isBase64Encoded: boolean } {
  const base64 = options.base64 ?? !isText(body);
  return { body: body.toString(base64 ? 'base64' : 'utf8'), isBase64Encoded: base64 };
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** FC 3.0: encoded `rawPath`, decoded `http.path`, comma-joined `queryParameters`, canonical header casing. */
export function fc3Event(base: Fc3HttpEvent, wire: WireRequest, options: EventOptions = {}): Fc3HttpEvent {
  const event = clone(base);
  event.rawPath = wire.rawPath;
  event.queryParameters = commaJoined(decodedQuery(wire.rawQuery));
  event.headers = Object.fromEntries(Object.entries(wire.headers).map(([k, value]) => [canonical(k), value]));
  Object.assign(event, bodyField(wire.body, options));
  event.requestContext = { ...event.requestContext, http: { ...event.requestContext?.http, method: wire.method, path: percentDecodeBytes(wire.rawPath).toString('utf8') } };
  return event;
}

function withQuery(wire: WireRequest): string {
  return wire.rawQuery === null ? wire.rawPath : `${wire.rawPath}?${wire.rawQuery}`;
}

/** API Gateway REST (v1): encoded `path`, decoded multi-value query, headers as sent plus `multiValueHeaders`. */
export function awsRestEvent(base: APIGatewayProxyEvent, wire: WireRequest, options: EventOptions = {}): APIGatewayProxyEvent {
  const event = clone(base);
  const pairs = decodedQuery(wire.rawQuery);
  event.httpMethod = wire.method;
  event.path = wire.rawPath;
  event.resource = '/{proxy+}';
  event.requestContext = { ...event.requestContext, httpMethod: wire.method, path: wire.rawPath };
  event.headers = { ...wire.headers };
  event.multiValueHeaders = Object.fromEntries(Object.entries(wire.headers).map(([k, value]) => [k, [value]]));
  event.queryStringParameters = pairs.length === 0 ? null : Object.fromEntries(pairs);
  event.multiValueQueryStringParameters = pairs.length === 0 ? null : multiMap(pairs);
  Object.assign(event, bodyField(wire.body, options));
  return event;
}

/**
 * API Gateway HTTP API (v2) or a Function URL: raw `rawQueryString`, comma-joined decoded
 * `queryStringParameters`. An HTTP API passes `rawPath` percent-DECODED; a Function URL keeps it encoded.
 */
export function awsV2Event(
  base: APIGatewayProxyEventV2,
  wire: WireRequest,
  options: EventOptions & { decodedPath?: boolean } = {},
): APIGatewayProxyEventV2 {
  const event = clone(base);
  const path = options.decodedPath ? percentDecodeBytes(wire.rawPath).toString('utf8') : wire.rawPath;
  const pairs = decodedQuery(wire.rawQuery);
  event.rawPath = path;
  event.rawQueryString = wire.rawQuery ?? '';
  event.headers = { ...wire.headers };
  if (pairs.length === 0) delete event.queryStringParameters;
  else event.queryStringParameters = commaJoined(pairs);
  event.requestContext = { ...event.requestContext, http: { ...event.requestContext.http, method: wire.method, path } };
  Object.assign(event, bodyField(wire.body, options));
  return event;
}

/** The HTTP parameters FC 2.0 hands its Node.js runtime (base64 JSON in the invoke request). */
export interface Fc2HttpParams {
  requestURI: string;
  method: string;
  path: string;
  clientIP: string;
  host?: string;
  queriesMap?: Record<string, string[]>;
  headersMap?: Record<string, string[]>;
}

export function fc2Params(base: Fc2HttpParams, wire: WireRequest, options: { pathPrefix?: string } = {}): Fc2HttpParams {
  const params = clone(base);
  const prefix = options.pathPrefix ?? '';
  params.method = wire.method;
  params.requestURI = `${prefix}${withQuery(wire)}`;
  params.path = wire.rawPath;
  params.queriesMap = multiMap(decodedQuery(wire.rawQuery));
  params.headersMap = Object.fromEntries(Object.entries(wire.headers).map(([k, value]) => [k, [value]]));
  return params;
}

/** Headers whose repeats keep the first value (the runtime's `headerKeyUniqTypeMap`). */
const UNIQUE_HEADERS = new Set(['authorization', 'content-length', 'content-type', 'host', 'user-agent', 'etag', 'date']);

/**
 * `req` as the FC 2.0 Node.js runtime builds it: an IncomingMessage with lower-cased headers
 * (repeats joined by ", "), `queries` (one value: a string; repeats: an array), `path`, `url` (the
 * request URI), `clientIP`, and the body both in `req.body` and on the stream.
 */
export function fc2Request(params: Fc2HttpParams, body: Buffer, options: { bodyInReq?: boolean } = {}): Fc2Request {
  const socket = new PassThrough() as unknown as Socket;
  Object.assign(socket, { remoteAddress: params.clientIP, encrypted: true });
  const req = new IncomingMessage(socket) as Fc2Request;
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(params.headersMap ?? {})) {
    for (const value of values) {
      const key = name.toLowerCase();
      if (headers[key] === undefined) headers[key] = value;
      else if (!UNIQUE_HEADERS.has(key)) headers[key] = `${headers[key]}, ${value}`;
    }
  }
  const queries: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(params.queriesMap ?? {})) queries[key] = values.length > 1 ? values : values[0]!;
  Object.assign(req, {
    method: params.method,
    url: params.requestURI,
    path: params.path,
    clientIP: params.clientIP,
    headers,
    queries,
    complete: true,
    ...(options.bodyInReq === false ? {} : { body }),
  });
  req._read = () => {
    req.push(body);
    req.push(null);
  };
  return req;
}

/** `resp` as the FC 2.0 runtime provides it, recording what the function did. */
export interface RecordingFc2Response extends Fc2Response {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | undefined;
  readonly sends: number;
}

export function fc2Response(): RecordingFc2Response {
  const state = { statusCode: 200, headers: {} as Record<string, string | string[]>, body: undefined as Buffer | undefined, sends: 0 };
  return {
    get statusCode() {
      return state.statusCode;
    },
    get headers() {
      return state.headers;
    },
    get body() {
      return state.body;
    },
    get sends() {
      return state.sends;
    },
    setStatusCode(code: number) {
      if (state.sends > 0) throw new Error('can not set statusCode after it is sent');
      if (!Number.isInteger(code)) throw new TypeError('statusCode should be a `integer`');
      state.statusCode = code;
    },
    setHeader(name: string, value: string | string[]) {
      if (state.sends > 0) throw new Error('can not set headers after they are sent');
      if (typeof value !== 'string' && !Array.isArray(value)) throw new TypeError('headerValue should be a `string`');
      state.headers[name] = value;
    },
    send(body: Buffer | string) {
      if (state.sends > 0) throw new Error('can not send multi times');
      state.sends++;
      state.body = typeof body === 'string' ? Buffer.from(body) : body;
    },
  };
}
