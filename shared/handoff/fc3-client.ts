/**
 * Asynchronous invocation through the FC 3.0 API (2023-03-30), for functions created in FC 3.0 (they
 * have no service, so the 2016-08-15 API of `@alicloud/fc2` has no path for them):
 *
 *   POST /2023-03-30/functions/{functionName}/invocations[?qualifier=…]
 *   x-fc-invocation-type: Async            → 202 Accepted, x-fc-request-id
 *
 * signed with ACS3-HMAC-SHA256 (./acs3.ts). The official SDK, `@alicloud/fc20230330`, sends the same
 * request; this small client avoids a dependency that the FC runtime does not preinstall. Loaded
 * (dynamically) only when a hand-off uses the FC 3.0 API.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PlatformCredentials } from '../core/platform.js';
import { acs3Authorization, acsEncode, sha256Hex } from './acs3.js';

export interface Fc3InvokeOptions {
  /** e.g. https://<account>.<region>.fc.aliyuncs.com */
  endpoint: string;
  functionName: string;
  qualifier?: string;
  credentials: PlatformCredentials;
  body: Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Sync invocations exist too; the hand-off only uses Async. */
  invocationType?: 'Async' | 'Sync';
}

export interface Fc3InvokeResult {
  status: number;
  requestId: string | undefined;
  body: Buffer;
}

/** `2026-11-20T08:00:00Z`: ISO 8601 in UTC, without milliseconds, as x-acs-date wants it. */
export function acsDate(now = new Date()): string {
  return `${now.toISOString().slice(0, 19)}Z`;
}

export function buildFc3InvokeRequest(options: Fc3InvokeOptions, now = new Date(), nonce = randomBytes(16).toString('hex')) {
  const base = new URL(options.endpoint);
  const pathname = `${base.pathname.replace(/\/+$/, '')}/2023-03-30/functions/${acsEncode(options.functionName)}/invocations`;
  const query: Record<string, string> = options.qualifier ? { qualifier: options.qualifier } : {};
  const search = options.qualifier ? `?qualifier=${acsEncode(options.qualifier)}` : '';
  const headers: Record<string, string> = {
    host: base.host,
    accept: 'application/json',
    'content-type': 'application/octet-stream',
    'content-length': String(options.body.length),
    'user-agent': `oss-callback-functions (Node.js ${process.version})`,
    'x-acs-action': 'InvokeFunction',
    'x-acs-version': '2023-03-30',
    'x-acs-date': acsDate(now),
    'x-acs-signature-nonce': nonce,
    'x-acs-content-sha256': sha256Hex(options.body),
    'x-fc-invocation-type': options.invocationType ?? 'Async',
  };
  if (options.credentials.securityToken) headers['x-acs-security-token'] = options.credentials.securityToken;
  headers.authorization = acs3Authorization(
    { method: 'POST', pathname, query, headers },
    headers['x-acs-content-sha256']!,
    options.credentials.accessKeyId,
    options.credentials.accessKeySecret,
  );
  return { url: new URL(`${pathname}${search}`, base), headers };
}

export function invokeFc3(options: Fc3InvokeOptions): Promise<Fc3InvokeResult> {
  const { url, headers } = buildFc3InvokeRequest(options);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Fc3InvokeResult>((resolve, reject) => {
    const req = send(url, { method: 'POST', headers, timeout: options.timeoutMs, signal: options.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const requestId = [res.headers['x-fc-request-id']].flat()[0];
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve({ status, requestId, body });
        let detail = body.toString('utf8').slice(0, 500);
        try {
          const parsed = JSON.parse(detail) as { Code?: string; Message?: string; ErrorCode?: string; ErrorMessage?: string };
          detail = `${parsed.Code ?? parsed.ErrorCode ?? 'Error'}: ${parsed.Message ?? parsed.ErrorMessage ?? ''}`;
        } catch {
          // not JSON: keep the text
        }
        reject(new Error(`POST ${url.pathname} failed with ${status} (request id ${requestId ?? 'none'}): ${detail}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.host} within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
