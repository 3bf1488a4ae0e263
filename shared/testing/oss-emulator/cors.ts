/**
 * CORS as OSS answers it, so a page served from another origin can upload (PostObject, presigned PUT)
 * and read the response headers: a preflight OPTIONS is answered from the allowed origins (the local
 * default allows any origin, like a permissive bucket CORS rule), and every response to an allowed
 * Origin carries Access-Control-Allow-Origin and exposes ETag and x-oss-request-id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const CORS_METHODS = 'GET, PUT, POST, DELETE, HEAD';
export const EXPOSED_HEADERS = 'ETag, x-oss-request-id, x-oss-hash-crc64ecma, x-oss-version-id, Content-MD5, x-oss-object-type, x-oss-next-append-position';

export type CorsOrigins = '*' | readonly string[];

export function parseCorsOrigins(text: string | undefined): CorsOrigins {
  const list = (text ?? '*').split(',').map((o) => o.trim()).filter((o) => o !== '');
  return list.length === 0 || list.includes('*') ? '*' : list;
}

export function originAllowed(origins: CorsOrigins, origin: string): boolean {
  return origins === '*' || origins.includes(origin);
}

/** Headers for a response to a request with an Origin (none when the origin is not allowed). */
export function corsHeaders(origins: CorsOrigins, req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !originAllowed(origins, origin)) return {};
  return {
    'access-control-allow-origin': origins === '*' ? '*' : origin,
    'access-control-allow-methods': CORS_METHODS,
    'access-control-expose-headers': EXPOSED_HEADERS,
    ...(origins === '*' ? {} : { vary: 'Origin' }),
  };
}

/** Answers a preflight: 200 with the allowed methods and the requested headers, or OSS's 403. Returns false if not a preflight. */
export function answerPreflight(origins: CorsOrigins, req: IncomingMessage, res: ServerResponse, base: Record<string, string>, forbidden: (message: string) => void): boolean {
  if (req.method !== 'OPTIONS') return false;
  const origin = req.headers.origin;
  const method = req.headers['access-control-request-method'];
  if (!origin || !method || !originAllowed(origins, origin) || !CORS_METHODS.split(', ').includes(method.toUpperCase())) {
    forbidden(
      "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Requet-Headers are not whitelisted by the resource's CORS spec.",
    );
    return true;
  }
  res.writeHead(200, {
    ...base,
    'access-control-allow-origin': origins === '*' ? '*' : origin,
    'access-control-allow-methods': CORS_METHODS,
    'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*',
    'access-control-expose-headers': EXPOSED_HEADERS,
    'access-control-max-age': '600',
    'content-length': '0',
    ...(origins === '*' ? {} : { vary: 'Origin' }),
  });
  res.end();
  return true;
}
