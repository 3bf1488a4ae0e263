/**
 * What OSS makes of the callback server's reply (protocol reference §8–§9): a 200 with a positive
 * Content-Length and a JSON body (no BOM; XML with Content-Type application/xml per the 2025 docs)
 * is passed through to the uploader; anything else makes the upload answer `203 CallbackFailed`
 * with one of OSS's messages.
 */
import type { OssErrorInfo } from './errors.js';
import type { Transport } from './send.js';

/** OSS: "Body大小不能超过1 MB" (the 2025 English page allows a 3 MB Content-Length but a 1 MB body). */
export const MAX_REPLY_BYTES = 1024 * 1024;

export type Verdict =
  | { ok: true; status: 200; contentType: string | undefined; body: Buffer }
  | ({ ok: false } & OssErrorInfo & { status: 203; code: 'CallbackFailed'; reason: string });

function failed(message: string, reason: string, ec?: string): Verdict {
  return { ok: false, status: 203, code: 'CallbackFailed', message, reason, documented: true, ...(ec ? { ec } : {}) };
}

function isJson(body: Buffer): boolean {
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) return false; // a UTF-8 BOM
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    return true;
  } catch {
    return false;
  }
}

export function interpretReply(transport: Transport, target: { hostname: string; port: number }): Verdict {
  switch (transport.kind) {
    case 'timeout':
      // DOC-TS also shows "error status:-1 <ip>: <port> reply timeout, cost: 5000 MS, timeout: 5000 MS".
      return failed('Cost too long time.', `no complete reply from ${target.hostname}:${target.port} within the timeout`, '0007-00000202');
    case 'connect-failed':
      return failed(
        'Error Status : -1.OSS can not connect to your callbackUrl, please check it.',
        `could not connect to ${target.hostname}:${target.port} (${transport.code})`,
        '0007-00000203',
      );
    case 'invalid-content-length':
      return failed('Error Status : 400.User server return invalid conent-length value.', 'the reply has a malformed Content-Length');
    case 'reply':
      break;
  }
  const { status, headers, body } = transport;
  if (status !== 200) return failed(`Error status : ${status}.`, `the callback server answered ${status}; OSS accepts only 200`);
  const declared = headers['content-length'];
  if (declared === undefined) {
    return failed(
      'Error Status : 400.User server missing content-length.',
      `the reply has no Content-Length${headers['transfer-encoding'] ? ` (Transfer-Encoding: ${headers['transfer-encoding']})` : ''}`,
    );
  }
  if (!/^\d+$/.test(declared) || Number(declared) <= 0) {
    return failed('Error Status : 400.User server return invalid conent-length value.', `Content-Length ${JSON.stringify(declared)} is not a positive integer`);
  }
  if (Number(declared) > MAX_REPLY_BYTES || body === undefined) {
    return failed('Error Status : 400.User server return too long content-length value.', `Content-Length ${declared} is over ${MAX_REPLY_BYTES} bytes`);
  }
  const contentType = headers['content-type'];
  const xml = /^(application|text)\/xml\b/i.test(contentType ?? '');
  if (!xml && !isJson(body)) {
    const bom = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
    return failed(
      'Response body is not valid json format.',
      bom ? 'the body starts with a UTF-8 byte order mark' : `the body is not JSON: ${JSON.stringify(body.subarray(0, 80).toString('utf8'))}`,
      '0007-00000205',
    );
  }
  return { ok: true, status: 200, contentType, body };
}
