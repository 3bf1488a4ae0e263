/**
 * A plain HTTP function: one that answers ordinary HTTP requests (an application's own API, such as
 * upload-policy), not OSS callbacks. It runs behind the same runtime adapters as the callback jobs
 * (FC 3.0, FC 2.0, AWS Lambda, the local server): they turn the platform's event into the same
 * request shape and the reply back into the platform's result.
 *
 *   export const http = defineHttpFunction({ name, handle: async (request, context) => jsonReply(200, {...}) });
 *   export const handler = createHttpHandler(http);
 *
 * `handle` throws `CallbackError`s for refusals (JSON error with a stable code); anything else is
 * answered as `Internal` with the details in the log. `replyHeaders` adds headers to every reply,
 * refusals included (CORS: a browser cannot read a 401 without them). One JSON log line per request.
 */
import { CallbackError } from '../protocol/errors.js';
import { errorReply } from '../protocol/reply.js';
import { configFromEnv } from './config.js';
import type { CallbackRequest, CallbackResponse } from './http.js';
import type { JsonObject } from './job.js';
import { createLogger, type Logger } from './log.js';
import type { PlatformContext } from './platform.js';

/** The request as every adapter delivers it (method, raw path and query, headers, body bytes). */
export type HttpRequest = CallbackRequest;
export type HttpResponse = CallbackResponse;

export interface HttpContext {
  requestId: string;
  /** Region, account and role credentials from the platform (FC context). Never log it. */
  platform: PlatformContext;
  /** Adds fields to this request's log line (no secrets). */
  log(fields: JsonObject): void;
}

export interface HttpFunctionDefinition {
  /** The function name: its folder under functions/, its path locally, its FC function name. */
  name: string;
  description?: string;
  /** Largest request body read (default 16 KB); larger is `BodyTooLarge`. */
  maxBodyBytes?: number;
  handle(request: HttpRequest, context: HttpContext): Promise<HttpResponse>;
  /** Headers for every reply to this request, refusals included; may throw (then none are added). */
  replyHeaders?(request: HttpRequest): Record<string, string>;
}

export interface HttpFunction {
  readonly kind: 'http';
  readonly name: string;
  readonly description: string | undefined;
  readonly maxBodyBytes: number;
  /** Answers one request; never throws. */
  serve(request: HttpRequest, deps?: { log?: Logger }): Promise<HttpResponse>;
  /** Writes a line (with the function's name) to the log `serve` writes to by default: the adapters' own refusals. */
  log(line: JsonObject): void;
}

export const DEFAULT_HTTP_MAX_BODY_BYTES = 16 * 1024;

function defaultLogger(): Logger {
  try {
    return createLogger(configFromEnv().logTarget);
  } catch {
    return createLogger('stdout');
  }
}

export function defineHttpFunction(definition: HttpFunctionDefinition): HttpFunction {
  if (!/^[a-z][a-z0-9-]*$/.test(definition.name)) {
    throw new Error(`function name ${JSON.stringify(definition.name)} must be lower-case letters, digits and dashes`);
  }
  let logger: Logger | undefined;
  const log = (line: JsonObject): void => (logger ??= defaultLogger())(line);
  const maxBodyBytes = definition.maxBodyBytes ?? DEFAULT_HTTP_MAX_BODY_BYTES;
  return {
    kind: 'http',
    name: definition.name,
    description: definition.description,
    maxBodyBytes,
    async serve(request, deps = {}) {
      const started = performance.now();
      const line: JsonObject = { function: definition.name, requestId: request.requestId, method: request.method };
      let response: HttpResponse;
      try {
        if (request.body.length > maxBodyBytes) {
          throw new CallbackError('BodyTooLarge', `the request body is ${request.body.length} bytes; ${definition.name} reads at most ${maxBodyBytes}`);
        }
        response = await definition.handle(request, {
          requestId: request.requestId,
          platform: request.platform ?? {},
          log: (fields) => Object.assign(line, fields),
        });
        line.outcome = 'OK';
      } catch (error) {
        const refusal = error instanceof CallbackError ? error : undefined;
        if (!refusal) line.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
        const reply = refusal ?? new CallbackError('Internal', 'the function failed unexpectedly; the error is in the function log', { cause: error });
        line.outcome = reply.code;
        if (refusal) line.message = refusal.message;
        response = errorReply(reply, request.requestId);
      }
      try {
        const extra = definition.replyHeaders?.(request);
        if (extra) response = { ...response, headers: { ...response.headers, ...extra } };
      } catch {
        // no extra headers (e.g. the configuration is broken: the reply already says so)
      }
      line.status = response.status;
      line.durationMs = Math.round((performance.now() - started) * 100) / 100;
      (deps.log ?? log)(line);
      return response;
    },
    log: (line) => log({ function: definition.name, ...line }),
  };
}
