/**
 * Small helpers every runtime adapter shares: errors become replies, never exceptions; and the one
 * thing an adapter drives, a `RequestServer`: an OSS callback job (`jobServer`) or a plain HTTP
 * function (`httpServer`). Each adapter only turns its platform's event into a request and the
 * response back into its platform's result.
 */
import type { CallbackRequest, CallbackResponse } from '../core/http.js';
import type { HttpFunction } from '../core/http-function.js';
import type { Job } from '../core/job.js';
import { handleCallback, type Runtime } from '../core/pipeline.js';
import { CallbackError, configurationError } from '../protocol/errors.js';

/** What the adapters serve: read at most `maxBodyBytes()` of body, then `serve` the request. */
export interface RequestServer {
  /** The largest body to read; throws a configuration error as a CallbackError. */
  maxBodyBytes(): number;
  /** How long a client may take to send the body (default: the adapter's). */
  bodyTimeoutMs?(): number | undefined;
  /** Answers one request; may throw (the adapter then answers with an error reply). */
  serve(request: CallbackRequest): Promise<CallbackResponse>;
}

/** An OSS callback job, with the process runtime (configuration, keys, store). */
export function jobServer(job: Job, getRuntime: () => Runtime): RequestServer {
  return {
    maxBodyBytes: () => runtimeOrConfigError(getRuntime).config.maxBodyBytes,
    bodyTimeoutMs: () => runtimeOrConfigError(getRuntime).config.bodyTimeoutMs,
    serve: (request) => handleCallback(job, request, runtimeOrConfigError(getRuntime)),
  };
}

/** A plain HTTP function (defineHttpFunction). */
export function httpServer(fn: HttpFunction): RequestServer {
  return { maxBodyBytes: () => fn.maxBodyBytes, serve: (request) => fn.serve(request) };
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
 * An adapter-level failure as a reply: `InvalidEvent` names what could not be read; `Internal` keeps
 * its details out of the reply and writes them to stderr (the function log) instead.
 */
export function toCallbackError(error: unknown, code: 'Internal' | 'InvalidEvent' = 'Internal'): CallbackError {
  if (error instanceof CallbackError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'InvalidEvent') return new CallbackError(code, message, { cause: error });
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', outcome: 'Internal', error: error instanceof Error ? (error.stack ?? message) : message })}\n`);
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
