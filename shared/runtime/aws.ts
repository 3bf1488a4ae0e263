/**
 * AWS Lambda behind API Gateway REST APIs (payload v1), HTTP APIs (payload 2.0, and 1.0) and
 * Lambda Function URLs (2.0): `handler(event, context)` returning the proxy result.
 *
 * The request goes through `serverless-http` into the same node:http listener the local server
 * uses (`createJobListener`), and the reply comes back as the result type of the event's version.
 * serverless-http keeps what the OSS signature covers, with one exception (tests:
 * test/unit/runtime/aws.test.ts and the table in test/integration/runtimes.test.ts):
 *  - the body: built as a Buffer (base64 bodies decoded byte for byte) and streamed to the listener;
 *  - v2 / Function URLs: `rawPath` + `?` + `rawQueryString`, both as AWS passed them;
 *  - v1: NOT the query. API Gateway v1 only passes it decoded (`multiValueQueryStringParameters`)
 *    and serverless-http re-encodes it with `querystring.stringify`, which is one spelling among
 *    several (`a=x+y` arrives as `a=x%20y`, key order is lost, ...). So for v1 this adapter
 *    rebuilds the plausible spellings itself (`queryCandidates`, as for FC 3.0) and hands them to
 *    the listener through `awsFacts`, with the full request path (`requestContext.path`, which
 *    keeps the stage prefix OSS requested; `path` drops it).
 *
 * Paths: REST APIs and Function URLs pass the path still percent-encoded; HTTP APIs pass `rawPath`
 * already decoded. The verifier percent-decodes the path anyway, so both verify, except for the
 * rare path whose decoded form still contains `%XX` (a `%25` in the callback URL) or a `?`.
 *
 * serverless-http (~18 KB minified, ~10 ms to evaluate with node:http) is imported on the first
 * AWS invocation only, so FC cold starts never pay for it.
 */
import type { IncomingMessage } from 'node:http';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
  APIGatewayProxyStructuredResultV2,
  Context as AwsContext,
} from 'aws-lambda';
import type { CallbackResponse } from '../core/http.js';
import type { Job } from '../core/job.js';
import type { Runtime } from '../core/pipeline.js';
import { jobServer, refuse, type RequestServer } from './common.js';
import { queryCandidates } from './fc3.js';
import { createServerListener, type RequestFacts } from './node.js';

export type { Context as AwsContext } from 'aws-lambda';
export type AwsHttpEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;
export type AwsHttpResult = APIGatewayProxyResult | APIGatewayProxyStructuredResultV2;

/** API Gateway v1 (REST, or HTTP API payload 1.0) has `httpMethod`; v2 and Function URLs say `version: "2.0"`. */
export function isAwsHttpEvent(event: unknown): event is AwsHttpEvent {
  if (typeof event !== 'object' || event === null || Buffer.isBuffer(event)) return false;
  const candidate = event as { httpMethod?: unknown; version?: unknown };
  return typeof candidate.httpMethod === 'string' || candidate.version === '2.0';
}

/** Why an event that looks like AWS's is not a usable HTTP event, or undefined when it is. */
function eventProblem(event: AwsHttpEvent): string | undefined {
  const e = event as { requestContext?: { http?: { method?: unknown } }; rawPath?: unknown; path?: unknown };
  if (isV2(event)) {
    if (typeof e.requestContext?.http?.method !== 'string') {
      return 'the payload 2.0 event has no requestContext.http.method: is this function behind an HTTP API or a Function URL?';
    }
    if (typeof e.rawPath !== 'string') return 'the payload 2.0 event has no rawPath';
  } else if (typeof e.path !== 'string') {
    return 'the API Gateway event has no path: is this function behind a REST API proxy integration?';
  }
  return undefined;
}

/** The event's headers, when it has an object of them (a malformed event may not). */
function headersOf(event: AwsHttpEvent): Record<string, unknown> | undefined {
  const headers = (event as { headers?: unknown }).headers;
  return typeof headers === 'object' && headers !== null ? (headers as Record<string, unknown>) : undefined;
}

function isV2(event: AwsHttpEvent): event is APIGatewayProxyEventV2 {
  return (event as { version?: unknown }).version === '2.0';
}

/** The v1 query parameters, repeated keys as arrays (`multiValueQueryStringParameters` wins). */
function v1Parameters(event: APIGatewayProxyEvent): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(event.queryStringParameters ?? {})) if (value !== undefined) out[key] = value;
  for (const [key, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    if (values && values.length > 0) out[key] = values.length === 1 ? values[0]! : values;
  }
  return out;
}

/** What the listener cannot see in the request serverless-http builds (see the header comment). */
export function awsFacts(event: AwsHttpEvent, context: Partial<AwsContext> | undefined): RequestFacts {
  if (isV2(event)) {
    const epoch = event.requestContext?.timeEpoch;
    return {
      requestId: context?.awsRequestId ?? event.requestContext?.requestId,
      receivedAt: typeof epoch === 'number' && epoch > 0 ? epoch : undefined,
      // rawQueryString "" cannot tell "no ?" from a bare "?": try both, no query first.
      ...(event.rawQueryString ? {} : { rawQuery: null, altQueries: [''] }),
    };
  }
  const [first, ...rest] = queryCandidates(v1Parameters(event));
  const epoch = event.requestContext?.requestTimeEpoch;
  return {
    rawPath: event.requestContext?.path || event.path || '/',
    rawQuery: first ?? null,
    altQueries: rest,
    requestId: context?.awsRequestId ?? event.requestContext?.requestId,
    receivedAt: typeof epoch === 'number' && epoch > 0 ? epoch : undefined,
  };
}

/** A result of the event's version built without serverless-http (when it could not run at all). */
export function responseToAws(event: AwsHttpEvent, response: CallbackResponse): AwsHttpResult {
  const result = {
    statusCode: response.status,
    headers: { ...response.headers },
    isBase64Encoded: false,
    body: response.body.toString('utf8'),
  };
  return isV2(event) ? result : { ...result, multiValueHeaders: {} };
}

type ServerlessHandler = (event: object, context: object) => Promise<object>;

interface WithApiGateway {
  apiGateway?: { event?: AwsHttpEvent; context?: Partial<AwsContext> };
}

export function createAwsHandler(job: Job, getRuntime: () => Runtime) {
  return createAwsAdapter(jobServer(job, getRuntime));
}

/** The AWS Lambda handler for any server (a job or a plain HTTP function). */
export function createAwsAdapter(server: RequestServer) {
  let handle: ServerlessHandler | undefined;
  const describe = (req: IncomingMessage): RequestFacts => {
    const { event, context } = (req as IncomingMessage & WithApiGateway).apiGateway ?? {};
    return event ? awsFacts(event, context) : {};
  };
  const load = async (): Promise<ServerlessHandler> => {
    const { default: serverless } = await import('serverless-http');
    // binary: false — our replies are JSON text; never base64 them (BINARY_CONTENT_TYPES is ignored).
    return serverless(createServerListener(server, describe), { binary: false }) as ServerlessHandler;
  };
  return async (event: AwsHttpEvent, context?: AwsContext): Promise<AwsHttpResult> => {
    const started = performance.now();
    const requestId = context?.awsRequestId ?? event.requestContext?.requestId ?? 'unknown';
    const refused = (error: unknown, code: 'Internal' | 'InvalidEvent') =>
      responseToAws(event, refuse(server, error, { requestId, started, headers: headersOf(event), code }).response);
    const problem = eventProblem(event);
    if (problem) return refused(new Error(problem), 'InvalidEvent');
    try {
      handle ??= await load(); // a failed load is retried by the next invocation
    } catch (error) {
      return refused(error, 'Internal');
    }
    try {
      return (await handle(event, context ?? {})) as AwsHttpResult;
    } catch (error) {
      // The listener answers (and logs) every request itself: what escapes comes from reading the event.
      return refused(new Error(`the AWS event could not be read as an HTTP request: ${error instanceof Error ? error.message : String(error)}`), 'InvalidEvent');
    }
  };
}
