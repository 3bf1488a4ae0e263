/**
 * `createHandler(job)` is what every function exports as `handler` (`index.handler`): ONE function
 * that serves every platform the bundle may be deployed to, told apart by its arguments:
 *
 *  - FC 2.0 HTTP function `(req, resp, context)`: the 2nd argument has `setStatusCode`/`send`
 *    → replies through `resp`;
 *  - AWS Lambda `(event, context)`: an object event with `httpMethod` (API Gateway v1) or
 *    `version: "2.0"` (HTTP API v2, Function URLs) → returns the proxy result of that version;
 *  - an OSS trigger event, FC 3.0 `(event, context)` or FC 2.0 event function `(event, context,
 *    callback)`: the JSON (Buffer, string or object) has a top-level `events` property → the job's
 *    OSS event path (core/events.ts); returns the summary, throws when FC should retry. On FC 2.0 the
 *    result also goes to `callback` (its Node.js ≤16 runtimes finish an invocation only through the
 *    callback; a returned promise counts only when it rejects);
 *  - FC 3.0 `(event, context)`: anything else — the Buffer (or string) FC 3.0 passes, an already
 *    parsed `{ version: "v1", requestContext: { http } }` object — → returns the FC 3.0 response
 *    struct (or an `InvalidEvent` reply for an event that is not an HTTP trigger event).
 *
 * The runtime (configuration, keys, store) is built from environment variables on the first
 * invocation and reused while the instance lives. `createHttpHandler(fn)` is the same for a plain
 * HTTP function (shared/core/http-function.ts): the same adapters, another server behind them.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { handleObjectEvents, type ObjectEventsSummary } from '../core/events.js';
import type { HttpFunction } from '../core/http-function.js';
import type { Job } from '../core/job.js';
import { type Runtime, runtimeFromEnv } from '../core/pipeline.js';
import { platformFromFcContext } from '../core/platform.js';
import { type AwsContext, type AwsHttpEvent, createAwsAdapter, isAwsHttpEvent } from './aws.js';
import { httpServer, jobServer, type RequestServer, runtimeOrConfigError, toCallbackError } from './common.js';
import { createFc2Adapter, type Fc2Context, type Fc2Request, type Fc2Response, isFc2Response } from './fc2.js';
import { createFc3Adapter, type Fc3Context, type Fc3HttpResult } from './fc3.js';
import { eventJson, isOssTriggerEvent, type ParsedOssEvent, parseOssEvent } from './oss-event.js';

/** FC 3.0 invocation: an HTTP trigger event gives the response struct, an OSS trigger event the summary. */
export type Fc3Handler = (event: unknown, context?: Fc3Context) => Promise<Fc3HttpResult | ObjectEventsSummary>;

/** The callback FC 2.0 (and Node.js ≤16) event functions get as 3rd argument. */
export type FcEventCallback = (error: unknown, result?: unknown) => void;

/** The exported handler: one function, typed per platform. */
export interface CallbackHandler {
  (req: Fc2Request, resp: Fc2Response, context?: Fc2Context): Promise<void>;
  (event: APIGatewayProxyEventV2, context?: AwsContext): Promise<APIGatewayProxyStructuredResultV2>;
  (event: APIGatewayProxyEvent, context?: AwsContext): Promise<APIGatewayProxyResult>;
  (event: { events: unknown[] }, context?: Fc3Context, callback?: FcEventCallback): Promise<ObjectEventsSummary>;
  /** An HTTP trigger event. (A Buffer holding an OSS trigger event resolves to an `ObjectEventsSummary`.) */
  (event: unknown, context?: Fc3Context, callback?: FcEventCallback): Promise<Fc3HttpResult>;
}

/**
 * The OSS event path for one job. A runtime that cannot be built throws (FC retries); an event
 * that cannot be read is logged as `InvalidEvent` (index -1: the whole event) and not thrown.
 */
export function createOssEventHandler(job: Job, getRuntime: () => Runtime) {
  return async (event: unknown, context?: Fc3Context): Promise<ObjectEventsSummary> => {
    const runtime = runtimeOrConfigError(getRuntime);
    let parsed: ParsedOssEvent;
    try {
      parsed = parseOssEvent(event);
    } catch (caught) {
      parsed = { events: [], issues: [{ index: -1, code: 'InvalidEvent', message: toCallbackError(caught, 'InvalidEvent').message }] };
    }
    return handleObjectEvents(job, parsed.events, runtime, platformFromFcContext(context), {
      requestId: context?.requestId,
      issues: parsed.issues,
    });
  };
}

/** Also reports the outcome through an FC 2.0 event callback, when the platform passed one. */
function settle<T>(work: Promise<T>, callback: unknown): Promise<T> {
  if (typeof callback === 'function') {
    const done = callback as FcEventCallback;
    work.then(
      (result) => done(null, result),
      (error: unknown) => done(error),
    );
  }
  return work;
}

export type Platform = 'fc2' | 'aws' | 'fc3';

/** Which platform called, from the first two arguments alone (see the header comment). */
export function platformOf(first: unknown, second: unknown): Platform {
  if (isFc2Response(second)) return 'fc2';
  if (isAwsHttpEvent(first)) return 'aws';
  return 'fc3';
}

export function createHandler(job: Job, runtime?: () => Runtime): CallbackHandler {
  const getRuntime = runtime ?? runtimeFromEnv;
  return createPlatformHandler(jobServer(job, getRuntime), createOssEventHandler(job, getRuntime));
}

/** The handler of a plain HTTP function (defineHttpFunction): `export const handler = createHttpHandler(http)`. */
export function createHttpHandler(fn: HttpFunction): CallbackHandler {
  return createPlatformHandler(httpServer(fn));
}

/**
 * One handler for every platform around a server (a job or a plain HTTP function) and, for a job,
 * its OSS event path.
 */
export function createPlatformHandler(server: RequestServer, events?: ReturnType<typeof createOssEventHandler>): CallbackHandler {
  const fc3 = createFc3Adapter(server);
  const fc2 = createFc2Adapter(server);
  const aws = createAwsAdapter(server);
  // `(first, ...rest)` keeps handler.length at 1: AWS Lambda's nodejs24.x runtime refuses handlers
  // that declare 3 parameters (it takes them for callback-style handlers).
  const handler = (first: unknown, ...rest: unknown[]): Promise<unknown> => {
    const [second, third] = rest;
    switch (platformOf(first, second)) {
      case 'fc2':
        return fc2(first as Fc2Request, second as Fc2Response, third as Fc2Context | undefined);
      case 'aws':
        return aws(first as AwsHttpEvent, second as AwsContext | undefined);
      default: {
        // Parsed once here: an OSS trigger event goes to the event path, anything else to FC 3.0 HTTP.
        const parsed = eventJson(first);
        if (events && isOssTriggerEvent(parsed)) return settle(events(parsed, second as Fc3Context | undefined), third);
        return fc3(parsed ?? first, second as Fc3Context | undefined);
      }
    }
  };
  return handler as CallbackHandler;
}
