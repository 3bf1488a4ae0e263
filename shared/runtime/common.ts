/** Small helpers every runtime adapter shares: errors become replies, never exceptions. */
import type { Runtime } from '../core/pipeline.js';
import { CallbackError, configurationError } from '../protocol/errors.js';

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
