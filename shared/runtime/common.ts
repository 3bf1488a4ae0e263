/** Small helpers every runtime adapter shares: errors become replies, never exceptions. */
import type { Runtime } from '../core/pipeline.js';
import { CallbackError } from '../protocol/errors.js';

/** The process runtime, or `Internal` "configuration error: …" (e.g. a malformed OSS_CALLBACK_PATH_MAP). */
export function runtimeOrConfigError(getRuntime: () => Runtime): Runtime {
  try {
    return getRuntime();
  } catch (error) {
    throw new CallbackError('Internal', `configuration error: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

export function toCallbackError(error: unknown, code: 'Internal' | 'InvalidEvent' = 'Internal'): CallbackError {
  if (error instanceof CallbackError) return error;
  return new CallbackError(code, error instanceof Error ? error.message : String(error), { cause: error });
}
