/**
 * The callback request as OSS sends it (protocol reference §6–§7), and sending it: one URL at a time,
 * a fresh connection each (`Connection: close`), at most 5 s per URL.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { signCallback } from '../sign.js';
import type { CallbackParams, CallbackUrl } from './params.js';

export const CALLBACK_TIMEOUT_MS = 5000;

export interface SigningKey {
  privateKeyPem: string;
  /** What `x-oss-pub-key-url` announces; the functions must trust it (OSS_PUBLIC_KEYS_FILE). */
  keyUrl: string;
}

export interface OutgoingCallback {
  url: CallbackUrl;
  /** `POST` target: the path and query exactly as signed. */
  target: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface CallbackMeta {
  bucket: string;
  ossRequestId: string;
  requester: string;
  date: Date;
}

/** Builds the request OSS would send to `url`: §6 headers, signed over the path, query and body. */
export function buildCallback(params: CallbackParams, url: CallbackUrl, body: Buffer, key: SigningKey, meta: CallbackMeta): OutgoingCallback {
  const signature = signCallback({ privateKeyPem: key.privateKeyPem, keyUrl: key.keyUrl, rawPath: url.rawPath, rawQuery: url.rawQuery, body });
  return {
    url,
    target: url.rawQuery === null ? url.rawPath : `${url.rawPath}?${url.rawQuery}`,
    headers: {
      // callbackHost, else the host of callbackUrl (OSS's example shows it without the port).
      host: params.callbackHost ?? url.hostname,
      connection: 'close',
      authorization: signature.authorization,
      'content-length': String(body.length),
      'content-md5': createHash('md5').update(body).digest('base64'),
      'content-type': params.callbackBodyType,
      date: meta.date.toUTCString(),
      'user-agent': 'aliyun-oss-callback',
      'x-oss-bucket': meta.bucket,
      'x-oss-pub-key-url': signature['x-oss-pub-key-url'],
      'x-oss-request-id': meta.ossRequestId,
      'x-oss-requester': meta.requester,
      'x-oss-signature-version': '1.0',
      'x-oss-tag': 'CALLBACK',
    },
    body,
  };
}

/** What came back on the wire, before OSS's rules are applied (reply.ts). */
export type Transport =
  | {
      kind: 'reply';
      status: number;
      headers: IncomingHttpHeaders;
      /** The body, unless it was not read (declared too long). */
      body: Buffer | undefined;
      durationMs: number;
    }
  | { kind: 'timeout'; durationMs: number }
  | { kind: 'connect-failed'; code: string; durationMs: number }
  | { kind: 'invalid-content-length'; durationMs: number };

export interface SendOptions {
  timeoutMs?: number;
  /** Connect here (`http://127.0.0.1:9000`) instead of the URL's host; the path, query and Host header stay. */
  to?: string;
  /** Accept any TLS certificate. */
  insecure?: boolean;
  /** Send TLS SNI (callbackSNI). */
  sni?: boolean;
  /** Replies whose Content-Length says more than this are not read. */
  maxReplyBytes: number;
}

class Timeout extends Error {}

export function sendCallback(callback: OutgoingCallback, options: SendOptions): Promise<Transport> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const timeoutMs = options.timeoutMs ?? CALLBACK_TIMEOUT_MS;
  const target = options.to ? new URL(options.to) : undefined;
  const protocol = target ? target.protocol : callback.url.protocol;
  const hostname = target ? target.hostname.replace(/^\[|\]$/g, '') : callback.url.hostname;
  const port = target ? Number(target.port || (protocol === 'https:' ? 443 : 80)) : callback.url.port;
  const request = protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Transport) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = request(
      {
        host: hostname,
        port,
        method: 'POST',
        path: callback.target,
        headers: callback.headers,
        setHost: false,
        agent: false,
        ...(protocol === 'https:'
          ? { servername: options.sni ? (callback.headers.host ?? hostname) : '', rejectUnauthorized: !options.insecure }
          : {}),
      },
      (res) => {
        const declared = res.headers['content-length'];
        if (declared !== undefined && Number(declared) > options.maxReplyBytes) {
          res.destroy();
          finish({ kind: 'reply', status: res.statusCode ?? 0, headers: res.headers, body: undefined, durationMs: elapsed() });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxReplyBytes) {
            res.destroy();
            finish({ kind: 'reply', status: res.statusCode ?? 0, headers: res.headers, body: undefined, durationMs: elapsed() });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish({ kind: 'reply', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), durationMs: elapsed() }));
        res.on('error', (error) => fail(error));
      },
    );
    const fail = (error: Error & { code?: string }) => {
      if (error instanceof Timeout) finish({ kind: 'timeout', durationMs: elapsed() });
      else if (error.code === 'HPE_INVALID_CONTENT_LENGTH' || error.code === 'HPE_UNEXPECTED_CONTENT_LENGTH') {
        finish({ kind: 'invalid-content-length', durationMs: elapsed() });
      } else finish({ kind: 'connect-failed', code: error.code ?? error.message, durationMs: elapsed() });
    };
    const timer = setTimeout(() => req.destroy(new Timeout(`no reply within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', fail);
    req.end(callback.body);
  });
}
