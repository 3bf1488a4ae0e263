import assert from 'node:assert/strict';
import { CallbackError } from '../../shared/protocol/errors.js';

/** For `assert.throws`/`rejects`: a CallbackError with this code, its message matching each pattern. */
export function isCode(code: string, ...messages: RegExp[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof CallbackError, `expected a CallbackError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const message of messages) assert.match(error.message, message);
    return true;
  };
}
