/**
 * A loopback stand-in for OSS's HeadObject, for what the local OSS emulator cannot do: stall (a silent
 * OSS), answer 403 to everything (a role without oss:GetObject), and show the requests it got (the
 * signature, Host and STS token of each HEAD). Answers about real objects come from the emulator
 * (test/integration/trust.test.ts, oss-head.test.ts). Answers HEAD as OSS does (200 with a quoted ETag, Content-Length, Content-Type, Last-Modified,
 * x-oss-hash-crc64ecma, x-oss-request-id; 404 NoSuchKey and 403 with the base64 XML error in
 * `x-oss-err`, no body) and checks the signature with the access key it was given: V4 header
 * authentication as ali-oss's own `authorizationV4` computes it (what shared/core/oss-head.ts sends), or
 * V1 (HMAC-SHA1 over verb, Content-MD5, Content-Type, date, x-oss-* headers and /bucket/key). Buckets are addressed as
 * ali-oss does with an IP endpoint (Host `<bucket>.oss-<region>.aliyuncs.com`, path `/<key>`) or
 * path-style (`/<bucket>/<key>`).
 *
 * `mode`: `serve` (default), `stall` (reads the request, never answers: a silent OSS), `deny` (403
 * AccessDenied to everything: the role lacks oss:GetObject).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

const aliOssSign = createRequire(import.meta.url)('ali-oss/lib/common/signUtils') as {
  authorizationV4(accessKeyId: string, accessKeySecret: string, region: string, method: string, request: { headers: object }, bucket: string, object: string): string;
};

export const TEST_OSS_KEY = { accessKeyId: 'test-oss-access-key-id', accessKeySecret: 'test-oss-access-key-secret' };

export interface StoredObject {
  etag: string;
  size: number;
  contentType?: string;
  crc64?: string;
  lastModified?: Date;
}

export interface SeenRequest {
  method: string;
  host: string;
  path: string;
  bucket: string | undefined;
  key: string | undefined;
  signed: boolean;
  securityToken: string | undefined;
}

export interface OssHeadServer {
  endpoint: string;
  /** Stores an object (its ETag defaults to the MD5 of `size` random bytes, upper-case hex). */
  put(bucket: string, key: string, object?: Partial<StoredObject>): StoredObject;
  remove(bucket: string, key: string): void;
  requests: SeenRequest[];
  mode: 'serve' | 'stall' | 'deny';
  close(): Promise<void>;
}

function ossError(res: ServerResponse, status: number, code: string, message: string, requestId: string): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${code}</Code>\n  <Message>${message}</Message>\n  <RequestId>${requestId}</RequestId>\n  <HostId>oss-test</HostId>\n  <EC>0026-00000001</EC>\n</Error>\n`;
  res.writeHead(status, {
    'x-oss-request-id': requestId,
    'x-oss-err': Buffer.from(xml).toString('base64'),
    'x-oss-ec': '0026-00000001',
    'content-type': 'application/xml',
    'content-length': String(Buffer.byteLength(xml)),
    server: 'AliyunOSS',
  });
  res.end(); // a HEAD reply carries no body
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

/** The V1 signature OSS expects for this request. */
function v1Signature(req: IncomingMessage, resource: string, secret: string): string {
  const ossHeaders = Object.keys(req.headers)
    .filter((name) => name.startsWith('x-oss-'))
    .sort()
    .map((name) => `${name}:${header(req, name).trim()}\n`)
    .join('');
  const date = header(req, 'x-oss-date') || header(req, 'date');
  const text = `${req.method}\n${header(req, 'content-md5')}\n${header(req, 'content-type')}\n${date}\n${ossHeaders}${resource}`;
  return createHmac('sha1', secret).update(text).digest('base64');
}

/** The V4 Authorization ali-oss would send for this request (signed headers: content-type, content-md5, x-oss-*). */
function v4Authorization(req: IncomingMessage, region: string, bucket: string, key: string, credentials: typeof TEST_OSS_KEY): string {
  const headers = Object.fromEntries(Object.keys(req.headers).filter((name) => name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')).map((name) => [name, header(req, name)]));
  return aliOssSign.authorizationV4(credentials.accessKeyId, credentials.accessKeySecret, region, req.method ?? '', { headers }, bucket, key);
}

export async function startOssHeadServer(options: { region?: string; credentials?: typeof TEST_OSS_KEY } = {}): Promise<OssHeadServer> {
  const region = options.region ?? 'cn-hangzhou';
  const credentials = options.credentials ?? TEST_OSS_KEY;
  const objects = new Map<string, StoredObject>();
  const requests: SeenRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const state: { mode: OssHeadServer['mode'] } = { mode: 'serve' };
  const virtualHost = new RegExp(`^([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\\.oss-${region}(?:-internal)?\\.aliyuncs\\.com(?::\\d+)?$`);

  const server: Server = createServer((req, res) => {
    const requestId = randomBytes(12).toString('hex').toUpperCase();
    const host = header(req, 'host');
    const path = (req.url ?? '/').split('?')[0]!;
    const decoded = decodeURIComponent(path);
    const vhost = virtualHost.exec(host);
    let bucket: string | undefined;
    let key: string | undefined;
    if (vhost) {
      bucket = vhost[1];
      key = decoded.slice(1);
    } else {
      const slash = decoded.indexOf('/', 1);
      bucket = slash > 0 ? decoded.slice(1, slash) : undefined;
      key = slash > 0 ? decoded.slice(slash + 1) : undefined;
    }
    const authorization = header(req, 'authorization');
    const resource = `/${bucket ?? ''}/${key ?? ''}`;
    const signed = authorization.startsWith('OSS4-HMAC-SHA256 ')
      ? authorization === v4Authorization(req, region, bucket ?? '', key ?? '', credentials)
      : authorization === `OSS ${credentials.accessKeyId}:${v1Signature(req, resource, credentials.accessKeySecret)}`;
    const securityToken = header(req, 'x-oss-security-token') || undefined;
    requests.push({ method: req.method ?? '', host, path, bucket, key, signed, securityToken });
    req.resume();
    if (state.mode === 'stall') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (state.mode === 'deny') return ossError(res, 403, 'AccessDenied', 'You have no right to access this object because of bucket acl.', requestId);
    if (req.method !== 'HEAD') return ossError(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', requestId);
    if (!signed) return ossError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.', requestId);
    if (!bucket || !key) return ossError(res, 400, 'InvalidArgument', 'no bucket or key', requestId);
    const object = objects.get(`${bucket}\0${key}`);
    if (!object) return ossError(res, 404, 'NoSuchKey', 'The specified key does not exist.', requestId);
    res.writeHead(200, {
      'x-oss-request-id': requestId,
      etag: `"${object.etag}"`,
      'content-length': String(object.size),
      'content-type': object.contentType ?? 'application/octet-stream',
      'last-modified': (object.lastModified ?? new Date(0)).toUTCString(),
      'accept-ranges': 'bytes',
      'x-oss-object-type': 'Normal',
      'x-oss-storage-class': 'Standard',
      ...(object.crc64 ? { 'x-oss-hash-crc64ecma': object.crc64 } : {}),
      server: 'AliyunOSS',
    });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    get mode() {
      return state.mode;
    },
    set mode(mode) {
      state.mode = mode;
    },
    put(bucket, key, object = {}) {
      const size = object.size ?? 1024;
      const stored: StoredObject = {
        etag: object.etag ?? createHash('md5').update(randomBytes(size)).digest('hex').toUpperCase(),
        size,
        contentType: object.contentType ?? 'application/octet-stream',
        crc64: object.crc64 ?? BigInt.asUintN(64, BigInt(`0x${randomBytes(8).toString('hex')}`)).toString(),
        lastModified: object.lastModified ?? new Date(Math.floor(Date.now() / 1000) * 1000),
      };
      objects.set(`${bucket}\0${key}`, stored);
      return stored;
    },
    remove(bucket, key) {
      objects.delete(`${bucket}\0${key}`);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on (for "OSS refused the connection"). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
