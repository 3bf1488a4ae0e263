/**
 * Replies OSS accepts: JSON, an explicit positive Content-Length, at most 1 MB. OSS passes the body
 * through to the uploader unchanged.
 */
import type { HttpReply } from './http.js';
import { CallbackError } from './errors.js';

export const MAX_REPLY_BYTES = 1_000_000;
const MAX_ERROR_MESSAGE_CHARS = 2000;
const RESERVED_ERROR_KEYS = new Set(['code', 'message', 'requestId', '__proto__']);

export function jsonReply(status: number, value: unknown): HttpReply {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new CallbackError('Internal', `invalid reply status ${status}`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new CallbackError('Internal', `the reply is not JSON-serializable: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new CallbackError('Internal', `the reply is not JSON-serializable (${typeof value})`);
  const body = Buffer.from(text, 'utf8');
  if (body.length > MAX_REPLY_BYTES) {
    throw new CallbackError(
      'Internal',
      `the reply is ${body.length} bytes; OSS refuses replies over ${MAX_REPLY_BYTES} bytes (1 MB)`,
    );
  }
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) },
    body,
  };
}

/**
 * `{"error":{"code","message","requestId",…details}}` with `error.status`. Never throws: if the
 * details cannot be sent they are dropped, and an overlong message is shortened.
 */
export function errorReply(error: CallbackError, requestId: string): HttpReply {
  const message =
    error.message.length > MAX_ERROR_MESSAGE_CHARS ? `${error.message.slice(0, MAX_ERROR_MESSAGE_CHARS)}…` : error.message;
  const status = Number.isInteger(error.status) && error.status >= 400 && error.status <= 599 ? error.status : 500;
  const base = { code: error.code, message, requestId };
  if (error.details) {
    const withDetails: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(error.details)) {
      if (!RESERVED_ERROR_KEYS.has(key)) withDetails[key] = value;
    }
    try {
      return jsonReply(status, { error: withDetails });
    } catch {
      // fall through: reply without the details
    }
  }
  return jsonReply(status, { error: base });
}
