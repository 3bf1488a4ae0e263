/**
 * Every rejection this project sends is a `CallbackError`: a stable `code`, the HTTP status that goes
 * with it, and a message that names the likely cause. OSS only distinguishes 200 from "anything else":
 * the uploader then gets HTTP 203 `CallbackFailed` whose message carries only our status
 * ("Error status : 403."), so each refusal has a telling status, and the code and message are in
 * our JSON reply (for tools that call the function directly) and in the log line.
 */

/** The codes the protocol core and the runtime adapters use. Jobs may add their own (e.g. `QuotaExceeded`). */
export const ERROR_STATUS = {
  MethodNotAllowed: 405,
  NotFound: 404,
  InvalidEvent: 400,
  SignatureMissing: 401,
  SignatureInvalid: 401,
  PublicKeyUrlForbidden: 403,
  PublicKeyUnavailable: 502,
  UnsupportedContentType: 415,
  BodyTooLarge: 413,
  BodyTimeout: 408,
  HostNotAllowed: 421,
  MalformedBody: 400,
  InvalidPayload: 422,
  BucketNotAllowed: 403,
  ObjectNotFound: 409,
  ObjectMismatch: 409,
  OssAccessDenied: 502,
  OssUnavailable: 503,
  OwnerUnverified: 403,
  UploadTokenInvalid: 403,
  StoreUnavailable: 503,
  DeadlineExceeded: 504,
  ConfigurationError: 500,
  Internal: 500,
} as const;

export type CoreErrorCode = keyof typeof ERROR_STATUS;

export interface CallbackErrorOptions {
  /** HTTP status; defaults to the table above for core codes and 400 for job codes. */
  status?: number;
  cause?: unknown;
  /** Extra JSON-safe fields added to the error object of the reply (never secrets). */
  details?: Record<string, unknown>;
}

export class CallbackError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: CoreErrorCode | (string & {}), message: string, options: CallbackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CallbackError';
    this.code = code;
    this.status = options.status ?? (ERROR_STATUS as Record<string, number>)[code] ?? 400;
    this.details = options.details;
  }
}

export function isCallbackError(error: unknown): error is CallbackError {
  return error instanceof CallbackError;
}

/**
 * `ConfigurationError` (500): the function is deployed with a setting it cannot use. `message` names
 * the variable and the problem; it must never carry a secret (a password, a key): callers redact.
 */
export function configurationError(message: string, cause?: unknown): CallbackError {
  return new CallbackError('ConfigurationError', message, { cause });
}
