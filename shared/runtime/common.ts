/**
 * Small helpers every runtime adapter shares: errors become replies, never exceptions; and the one
 * thing an adapter drives, a `RequestServer`: an OSS callback job (`jobServer`) or a plain HTTP
 * function (`httpServer`). Each adapter only turns its platform's event into a request and the
 * response back into its platform's result.
 */
import type { CallbackRequest, CallbackResponse } from '../core/http.js';
import type { HttpFunction } from '../core/http-function.js';
import type { Job, JsonObject } from '../core/job.js';
import { createLogger, type Logger } from '../core/log.js';
import { handleCallback, type Runtime } from '../core/pipeline.js';
import { CallbackError, configurationError } from '../protocol/errors.js';
import { errorReply } from '../protocol/reply.js';

/** What the adapters serve: read at most `maxBodyBytes()` of body, then `serve` the request. */
export interface RequestServer {
  /** The largest body to read; throws a configuration error as a CallbackError. */
  maxBodyBytes(): number;
  /** How long a client may take to send the body (default: the adapter's). */
  bodyTimeoutMs?(): number | undefined;
  /** Answers one request; may throw (the adapter then answers with an error reply). */
  serve(request: CallbackRequest): Promise<CallbackResponse>;
  /** Writes the log line of a request the adapter refused itself (`refuse`), where `serve` writes its own. */
  logRefusal(line: JsonObject): void;
}

/** An OSS callback job, with the process runtime (configuration, keys, store). */
export function jobServer(job: Job, getRuntime: () => Runtime): RequestServer {
  return {
    maxBodyBytes: () => runtimeOrConfigError(getRuntime).config.maxBodyBytes,
    bodyTimeoutMs: () => runtimeOrConfigError(getRuntime).config.bodyTimeoutMs,
    serve: (request) => handleCallback(job, request, runtimeOrConfigError(getRuntime)),
    logRefusal: (line) => {
      let runtime: Runtime | undefined;
      try {
        runtime = getRuntime();
      } catch {
        // The configuration is what is refused: the line goes where OSS_CALLBACK_LOG says, else stdout.
      }
      // The pipeline's fields, in its order (pipeline.ts handleCallback); objectCheck when the configuration says.
      const { requestId, ossRequestId, ...outcome } = line;
      const objectCheck = runtime ? { objectCheck: runtime.config.objects.verify } : {};
      (runtime?.log ?? fallbackLogger())({ function: job.name, requestId, ossRequestId, ...objectCheck, ...outcome });
    },
  };
}

/** A plain HTTP function (defineHttpFunction). */
export function httpServer(fn: HttpFunction): RequestServer {
  return { maxBodyBytes: () => fn.maxBodyBytes, serve: (request) => fn.serve(request), logRefusal: (line) => fn.log(line) };
}

/** The log of a process whose configuration cannot be read: OSS_CALLBACK_LOG when it is valid, else stdout. */
function fallbackLogger(): Logger {
  const target = process.env.OSS_CALLBACK_LOG?.trim();
  return createLogger(target === 'stderr' || target === 'off' ? target : 'stdout');
}

/** What an adapter knows of a request it refuses. */
export interface RefusedRequest {
  /** The platform's request id, or the one the adapter made up ('unknown' when there is none). */
  requestId: string;
  /** `performance.now()` when the adapter got the request. */
  started: number;
  /** The request's headers, when the adapter got that far (for x-oss-request-id). */
  headers?: Readonly<Record<string, unknown>>;
  /** What a failure that is not a CallbackError stands for (default Internal). */
  code?: 'Internal' | 'InvalidEvent';
}

/**
 * A request the runtime adapter refuses before the pipeline (or a plain HTTP function) answers it: an
 * event it cannot read (`InvalidEvent`), a configuration it cannot load (`ConfigurationError`), a
 * body over the limit or too slow while it reads the stream (`BodyTooLarge`, `BodyTimeout`). Returns
 * the JSON error reply and writes the one log line the pipeline writes for a rejection: function,
 * requestId, ossRequestId, outcome (the stable code), message, status, durationMs (and `error`, the
 * stack, for an Internal one; never in the reply).
 */
export function refuse(server: Pick<RequestServer, 'logRefusal'>, caught: unknown, request: RefusedRequest): { error: CallbackError; response: CallbackResponse } {
  const error = toCallbackError(caught, request.code ?? 'Internal');
  const response = errorReply(error, request.requestId);
  const ossRequestId = request.headers ? headerMap(request.headers)['x-oss-request-id'] : undefined;
  const line: JsonObject = { requestId: request.requestId, ossRequestId, outcome: error.code, message: error.message };
  if (error.code === 'Internal' && !(caught instanceof CallbackError)) line.error = caught instanceof Error ? (caught.stack ?? caught.message) : String(caught);
  line.status = response.status;
  line.durationMs = Math.round((performance.now() - request.started) * 100) / 100;
  server.logRefusal(line);
  return { error, response };
}

/**
 * The process runtime, or `ConfigurationError` naming the variable and the problem (e.g. a malformed
 * OSS_CALLBACK_PATH_MAP). The core's messages name variables and their values, never a secret.
 */
export function runtimeOrConfigError(getRuntime: () => Runtime): Runtime {
  try {
    return getRuntime();
  } catch (error) {
    if (error instanceof CallbackError) throw error;
    throw configurationError(error instanceof Error ? error.message : String(error), error);
  }
}

/**
 * An adapter-level failure as a CallbackError: `InvalidEvent` names what could not be read; `Internal`
 * keeps its details out of the reply (`refuse` writes them to the function log).
 */
export function toCallbackError(error: unknown, code: 'Internal' | 'InvalidEvent' = 'Internal'): CallbackError {
  if (error instanceof CallbackError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'InvalidEvent') return new CallbackError(code, message, { cause: error });
  return new CallbackError('Internal', 'the function failed unexpectedly; the error is in the function log', { cause: error });
}

/**
 * Request headers as the core wants them: names lower-cased, a repeated header (an array, or the
 * same name in another case) joined with ", ". Undefined values are skipped.
 */
export function headerMap(headers: Readonly<Record<string, unknown>> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    out[key] = out[key] === undefined ? text : `${out[key]}, ${text}`;
  }
  return out;
}
