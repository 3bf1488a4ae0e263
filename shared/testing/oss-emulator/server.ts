/**
 * The local OSS endpoint: addressing (virtual-host through Host, or path-style), authentication,
 * and the object operations, answering with OSS's status codes, headers and XML.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import Busboy from 'busboy';
import { InvalidArgument, mimeTypeFor, ossErrorXml, type Operation, type SigningKey } from '../simulator/index.js';
import { authenticate, type Credentials, type SignedRequest } from './auth/index.js';
import { type CallbackRequest, parseCallbackRequest, runCallback, storedFacts } from './callback.js';
import { answerPreflight, corsHeaders, type CorsOrigins } from './cors.js';
import { type EventDelivery, type OssEventName, ossEventRecord } from './events.js';
import { Multipart, MAX_PART_NUMBER } from './multipart.js';
import { checkPolicy, verifyPostSignature } from './policy.js';
import type { ObjectMeta, Received, Storage } from './storage.js';
import { ERRORS, errorXml, newRequestId, OssError, xmlDocument } from './xml.js';

export interface EmulatorConfig {
  storage: Storage;
  buckets: '*' | ReadonlySet<string>;
  credentials: Credentials;
  region: string;
  accountId: string;
  callbackKey: SigningKey | undefined;
  callbackTimeoutMs: number | undefined;
  corsOrigins: CorsOrigins;
  events: EventDelivery;
  log: (line: Record<string, unknown>) => void;
  now: () => number;
}

/** `<bucket>.oss-<region>[-internal].aliyuncs.com` (what ali-oss sends with an IP endpoint), or `<bucket>.localhost`. */
const VIRTUAL_HOST = /^([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.(?:oss-[a-z0-9-]+(?:\.[a-z0-9-]+)*\.aliyuncs\.com|localhost)(?::\d+)?$/i;
const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

interface Addressed {
  bucket: string | undefined;
  key: string;
  query: [string, string][];
  hostId: string;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function address(req: IncomingMessage, region: string): Addressed {
  const target = req.url ?? '/';
  const mark = target.indexOf('?');
  const rawPath = mark < 0 ? target : target.slice(0, mark);
  const rawQuery = mark < 0 ? '' : target.slice(mark + 1);
  const query: [string, string][] = rawQuery === '' ? [] : rawQuery.split('&').filter((p) => p !== '').map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? [decode(pair), ''] : [decode(pair.slice(0, eq)), decode(pair.slice(eq + 1))];
  });
  const host = req.headers.host ?? '';
  const virtual = VIRTUAL_HOST.exec(host);
  let bucket: string | undefined;
  let key: string;
  if (virtual) {
    bucket = virtual[1]!.toLowerCase();
    key = decode(rawPath.slice(1));
  } else {
    const rest = rawPath.slice(1);
    const slash = rest.indexOf('/');
    bucket = decode(slash < 0 ? rest : rest.slice(0, slash)) || undefined;
    key = slash < 0 ? '' : decode(rest.slice(slash + 1));
  }
  return { bucket, key, query, hostId: bucket ? `${bucket}.oss-${region}.aliyuncs.com` : `oss-${region}.aliyuncs.com` };
}

function headerMap(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(',') : value;
  return out;
}

function clientIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
}

function userMetaFrom(headers: Record<string, string>): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (name.startsWith('x-oss-meta-')) meta[name.slice('x-oss-meta-'.length)] = value;
  return meta;
}

/** `x-oss-forbid-overwrite` (header or form field): only `true` forbids; anything else (or none) allows. */
function forbidsOverwrite(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

/** OSS's EC for FileAlreadyExists, by operation (its documented error pages). */
const ALREADY_EXISTS_EC: Record<Operation, string> = {
  PutObject: '0026-00000201',
  PostObject: '0026-00000201',
  CompleteMultipartUpload: '0042-00000214',
};

function readBody(req: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => (size > limit ? reject(new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.')) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

export function createOssHandler(config: EmulatorConfig): (req: IncomingMessage, res: ServerResponse) => void {
  const { storage, log } = config;
  const multipart = new Multipart(storage);
  // One commit at a time per object: "does it exist?" and "store it" are one step for
  // x-oss-forbid-overwrite, as they are in OSS (two uploads of one key cannot both win).
  const commits = new Map<string, Promise<unknown>>();
  function serialized<T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> {
    const id = `${bucket}/${key}`;
    const previous = commits.get(id) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    commits.set(id, next);
    void next.catch(() => {}).finally(() => {
      if (commits.get(id) === next) commits.delete(id);
    });
    return next;
  }

  function bucketAllowed(bucket: string): boolean {
    return BUCKET_NAME.test(bucket) && (config.buckets === '*' || config.buckets.has(bucket));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = newRequestId(config.now());
    const base: Record<string, string> = {
      server: 'AliyunOSS',
      date: new Date(config.now()).toUTCString(),
      'x-oss-request-id': requestId,
      ...corsHeaders(config.corsOrigins, req),
    };
    const addressed = address(req, config.region);
    const method = (req.method ?? 'GET').toUpperCase();

    const send = (status: number, headers: Record<string, string>, body: string | Buffer = '') => {
      const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      res.writeHead(status, { ...base, 'content-length': String(payload.length), ...headers });
      res.end(method === 'HEAD' ? undefined : payload);
    };
    const fail = (error: OssError) => {
      const xml = errorXml(error, requestId, addressed.hostId);
      if (method === 'HEAD') {
        // OSS answers HEAD errors without a body, the XML base64 in x-oss-err.
        res.writeHead(error.status, { ...base, 'content-type': 'application/xml', 'content-length': '0', 'x-oss-err': Buffer.from(xml).toString('base64') });
        res.end();
      } else send(error.status, { 'content-type': 'application/xml', ...(error.extra.EC ? { 'x-oss-ec': error.extra.EC } : {}) }, xml);
      outcome = { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
    };
    let outcome: Record<string, string> = {};

    try {
      if (answerPreflight(config.corsOrigins, req, res, base, (message) => fail(new OssError(403, 'AccessForbidden', message)))) return;
      const { bucket, key, query } = addressed;
      if (!bucket) {
        throw new OssError(403, 'AccessDenied', 'AccessDenied', {}, 'the local OSS serves objects only: name a bucket (path-style /<bucket>/<key>, or Host <bucket>.oss-<region>.aliyuncs.com)');
      }
      if (!bucketAllowed(bucket)) throw ERRORS.noSuchBucket(bucket);
      const headers = headerMap(req);
      const has = (name: string) => query.some(([k]) => k === name);
      const q = (name: string) => query.find(([k]) => k === name)?.[1];

      // PostObject authenticates through its form, not the request.
      if (method === 'POST' && key === '' && /^multipart\/form-data/i.test(headers['content-type'] ?? '')) {
        await postObject(req, bucket, requestId, send, clientIp(req));
        return;
      }

      const signed: SignedRequest = { method, bucket, key, query, headers };
      const auth = authenticate(signed, { credentials: config.credentials, region: config.region, now: config.now() });
      void auth;

      if (key === '') {
        if (method === 'GET' && !has('uploads')) return send(200, { 'content-type': 'application/xml' }, await listObjects(bucket, query));
        if (method === 'POST' && has('delete')) return send(200, { 'content-type': 'application/xml' }, await deleteMultiple(req, bucket, headers, requestId, clientIp(req)));
        throw ERRORS.notImplemented(`${method} on a bucket`);
      }
      switch (method) {
        case 'PUT':
          if (has('uploadId')) return send(200, await uploadPart(req, bucket, key, q('uploadId')!, q('partNumber'), headers));
          if (headers['x-oss-copy-source']) throw ERRORS.notImplemented('CopyObject');
          return await putObject(req, bucket, key, headers, q, requestId, send, clientIp(req));
        case 'POST':
          if (has('uploads')) {
            const uploadId = await multipart.initiate({ bucket, key, contentType: headers['content-type'] || mimeTypeFor(key), userMeta: userMetaFrom(headers), initiated: new Date(config.now()).toISOString(), forbidOverwrite: forbidsOverwrite(headers['x-oss-forbid-overwrite']) });
            return send(200, { 'content-type': 'application/xml' }, xmlDocument('InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: uploadId }));
          }
          if (has('uploadId')) return await completeMultipart(req, bucket, key, q('uploadId')!, headers, q, requestId, send, clientIp(req));
          throw ERRORS.notImplemented('POST on an object (AppendObject, …)');
        case 'GET':
        case 'HEAD': {
          const meta = await storage.head(bucket, key);
          if (!meta) throw ERRORS.noSuchKey(key);
          const objectHeaders: Record<string, string> = {
            'content-type': meta.contentType,
            'content-length': String(meta.size),
            etag: `"${meta.etag}"`,
            'last-modified': new Date(meta.lastModified).toUTCString(),
            'accept-ranges': 'bytes',
            'x-oss-object-type': meta.type,
            'x-oss-storage-class': 'Standard',
            'x-oss-hash-crc64ecma': meta.crc64,
            ...(meta.contentMd5 ? { 'content-md5': meta.contentMd5 } : {}),
            ...Object.fromEntries(Object.entries(meta.userMeta).map(([k, v]) => [`x-oss-meta-${k}`, v])),
          };
          res.writeHead(200, { ...base, ...objectHeaders });
          if (method === 'HEAD') {
            res.end();
            return;
          }
          storage.open(bucket, key).on('error', () => res.destroy()).pipe(res);
          return;
        }
        case 'DELETE':
          if (has('uploadId')) {
            await multipart.info(q('uploadId')!, bucket, key);
            await multipart.remove(q('uploadId')!);
            return send(204, {});
          }
          await removeObject(bucket, key, 'ObjectRemoved:DeleteObject', requestId, clientIp(req));
          return send(204, {});
        default:
          throw ERRORS.methodNotAllowed(method);
      }
    } catch (error) {
      req.resume();
      if (error instanceof InvalidArgument) {
        send(400, { 'content-type': 'application/xml', ...(error.ec ? { 'x-oss-ec': error.ec } : {}) }, ossErrorXml(error, requestId, addressed.hostId));
        outcome = { code: 'InvalidArgument', message: error.message };
      } else if (error instanceof OssError) fail(error);
      else {
        fail(new OssError(500, 'InternalError', 'We encountered an internal error. Please try again.', {}, error instanceof Error ? error.stack ?? error.message : String(error)));
      }
    } finally {
      log({ ossEmulator: method, bucket: addressed.bucket, key: addressed.key, status: res.statusCode, ...outcome, requestId, durationMs: Math.round(performance.now() - started) });
    }
  }

  function emit(eventName: OssEventName, bucket: string, meta: Pick<ObjectMeta, 'key' | 'size' | 'etag' | 'contentType'>, deltaSize: number, requestId: string, sourceIp: string) {
    config.events.deliver(
      ossEventRecord({
        eventName,
        bucket,
        key: meta.key,
        size: meta.size,
        deltaSize,
        eTag: meta.etag,
        ...(eventName.startsWith('ObjectCreated') ? { mimeType: meta.contentType } : {}),
        region: config.region,
        ownerId: config.accountId,
        requestId,
        sourceIp,
        time: new Date(config.now()),
      }),
    );
  }

  async function removeObject(bucket: string, key: string, eventName: OssEventName, requestId: string, sourceIp: string): Promise<boolean> {
    const old = await storage.delete(bucket, key);
    if (old) emit(eventName, bucket, old, -old.size, requestId, sourceIp);
    return old !== undefined;
  }

  /** Stores a received file as the object, then runs the callback (if any) and emits the event. */
  async function store(
    bucket: string,
    key: string,
    received: Received,
    operation: Operation,
    contentType: string,
    userMeta: Record<string, string>,
    callback: CallbackRequest | undefined,
    requestId: string,
    sourceIp: string,
    forbidOverwrite: boolean,
    partDigests?: Buffer[],
  ) {
    const facts = await storedFacts({ bucket, key, file: received.path, mimeType: contentType, operation, partDigests });
    const meta: ObjectMeta = {
      key,
      size: facts.size,
      etag: facts.etag,
      contentType,
      contentMd5: facts.contentMd5,
      crc64: facts.crc64,
      lastModified: new Date(config.now()).toISOString(),
      type: operation === 'CompleteMultipartUpload' ? 'Multipart' : 'Normal',
      userMeta,
    };
    const old = await serialized(bucket, key, async () => {
      const existing = await storage.head(bucket, key);
      if (existing && forbidOverwrite) {
        await storage.discard(received.path);
        throw ERRORS.fileAlreadyExists(ALREADY_EXISTS_EC[operation]);
      }
      await storage.commit(bucket, received.path, meta);
      return existing;
    });
    emit(`ObjectCreated:${operation}`, bucket, meta, facts.size - (old?.size ?? 0), requestId, sourceIp);
    const objectHeaders: Record<string, string> = {
      etag: `"${facts.etag}"`,
      'x-oss-hash-crc64ecma': facts.crc64,
      ...(facts.contentMd5 ? { 'content-md5': facts.contentMd5 } : {}),
    };
    if (!callback) return { meta, objectHeaders, delivered: undefined };
    const delivered = await runCallback({
      request: callback,
      facts,
      operation,
      reqId: requestId,
      clientIp: sourceIp,
      key: config.callbackKey,
      region: config.region,
      requester: config.accountId,
      timeoutMs: config.callbackTimeoutMs,
      log,
    });
    return { meta, objectHeaders, delivered };
  }

  type Send = (status: number, headers: Record<string, string>, body?: string | Buffer) => void;

  function sendDelivered(send: Send, objectHeaders: Record<string, string>, delivered: NonNullable<Awaited<ReturnType<typeof store>>['delivered']>) {
    const { status, headers, body } = delivered.uploader;
    const { 'x-oss-request-id': _id, 'content-length': _length, ...rest } = headers;
    send(status, { ...objectHeaders, ...rest }, body);
  }

  function checkContentMd5(headers: Record<string, string>, received: Received): void {
    const provided = headers['content-md5'];
    if (provided !== undefined && provided !== received.md5.toString('base64')) throw ERRORS.invalidDigest(provided);
  }

  async function putObject(req: IncomingMessage, bucket: string, key: string, headers: Record<string, string>, q: (n: string) => string | undefined, requestId: string, send: Send, sourceIp: string) {
    // Parameters are checked before anything is stored, as OSS does.
    const callback = parseCallbackRequest(headers['x-oss-callback'] ?? q('callback'), headers['x-oss-callback-var'] ?? q('callback-var'));
    const received = await storage.receive(req);
    try {
      checkContentMd5(headers, received);
    } catch (error) {
      await storage.discard(received.path);
      throw error;
    }
    const stored = await store(bucket, key, received, 'PutObject', headers['content-type'] || mimeTypeFor(key), userMetaFrom(headers), callback, requestId, sourceIp, forbidsOverwrite(headers['x-oss-forbid-overwrite']));
    if (stored.delivered) return sendDelivered(send, stored.objectHeaders, stored.delivered);
    send(200, stored.objectHeaders);
  }

  async function uploadPart(req: IncomingMessage, bucket: string, key: string, uploadId: string, partNumber: string | undefined, headers: Record<string, string>) {
    const n = Number(partNumber);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER) {
      req.resume();
      throw new OssError(400, 'InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive.`, { ArgumentName: 'partNumber', ArgumentValue: partNumber ?? '' });
    }
    await multipart.info(uploadId, bucket, key);
    const received = await storage.receive(req);
    try {
      checkContentMd5(headers, received);
    } catch (error) {
      await storage.discard(received.path);
      throw error;
    }
    await multipart.putPart(uploadId, n, received);
    return { etag: `"${received.md5.toString('hex').toUpperCase()}"` };
  }

  async function completeMultipart(req: IncomingMessage, bucket: string, key: string, uploadId: string, headers: Record<string, string>, q: (n: string) => string | undefined, requestId: string, send: Send, sourceIp: string) {
    const info = await multipart.info(uploadId, bucket, key);
    const callback = parseCallbackRequest(headers['x-oss-callback'] ?? q('callback'), headers['x-oss-callback-var'] ?? q('callback-var'));
    const xml = (await readBody(req, 4 * 1024 * 1024)).toString('utf8');
    const parts = await multipart.parts(uploadId, xml);
    const into = await storage.tempPath();
    await storage.concat(parts.files, into);
    const md5 = createHash('md5');
    const received: Received = { path: into, size: 0, md5: md5.digest() };
    const forbid = forbidsOverwrite(headers['x-oss-forbid-overwrite']) || info.forbidOverwrite === true;
    const stored = await store(bucket, key, received, 'CompleteMultipartUpload', info.contentType, info.userMeta, callback, requestId, sourceIp, forbid, parts.digests);
    await multipart.remove(uploadId);
    if (stored.delivered) return sendDelivered(send, { etag: stored.objectHeaders.etag!, 'x-oss-hash-crc64ecma': stored.objectHeaders['x-oss-hash-crc64ecma']! }, stored.delivered);
    send(
      200,
      { 'content-type': 'application/xml', etag: stored.objectHeaders.etag!, 'x-oss-hash-crc64ecma': stored.objectHeaders['x-oss-hash-crc64ecma']! },
      xmlDocument('CompleteMultipartUploadResult', { Location: `http://${bucket}.oss-${config.region}.aliyuncs.com/${encodeURIComponent(key).replace(/%2F/g, '/')}`, Bucket: bucket, Key: key, ETag: `"${stored.meta.etag}"` }),
    );
  }

  async function listObjects(bucket: string, query: [string, string][]): Promise<string> {
    const q = (name: string) => query.find(([k]) => k === name)?.[1];
    const v2 = q('list-type') === '2';
    const prefix = q('prefix') ?? '';
    const delimiter = q('delimiter') ?? '';
    const maxKeys = Math.min(Math.max(Number(q('max-keys') ?? 100) || 100, 1), 1000);
    const token = q('continuation-token');
    const after = v2 ? (token ? Buffer.from(token, 'base64url').toString('utf8') : q('start-after') ?? '') : q('marker') ?? '';
    const contents: ObjectMeta[] = [];
    const prefixes: string[] = [];
    let truncated = false;
    let last = '';
    for (const meta of await storage.list(bucket)) {
      if (!meta.key.startsWith(prefix) || (after && meta.key <= after)) continue;
      let commonPrefix: string | undefined;
      if (delimiter) {
        const at = meta.key.indexOf(delimiter, prefix.length);
        if (at >= 0) commonPrefix = meta.key.slice(0, at + delimiter.length);
      }
      if (commonPrefix && prefixes.includes(commonPrefix)) continue;
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = true;
        break;
      }
      if (commonPrefix) prefixes.push(commonPrefix);
      else contents.push(meta);
      last = commonPrefix ?? meta.key;
    }
    const items = contents.map((m) => ({ Key: m.key, LastModified: m.lastModified, ETag: `"${m.etag}"`, Type: m.type, Size: m.size, StorageClass: 'Standard' }));
    const common = prefixes.map((p) => ({ Prefix: p }));
    if (v2) {
      return xmlDocument('ListBucketResult', {
        Name: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
        MaxKeys: maxKeys,
        Delimiter: delimiter,
        IsTruncated: truncated,
        ...(truncated ? { NextContinuationToken: Buffer.from(last).toString('base64url') } : {}),
        KeyCount: items.length + common.length,
        Contents: items,
        CommonPrefixes: common,
      });
    }
    return xmlDocument('ListBucketResult', {
      Name: bucket,
      Prefix: prefix,
      Marker: after,
      MaxKeys: maxKeys,
      Delimiter: delimiter,
      IsTruncated: truncated,
      ...(truncated ? { NextMarker: last } : {}),
      Contents: items,
      CommonPrefixes: common,
    });
  }

  async function deleteMultiple(req: IncomingMessage, bucket: string, headers: Record<string, string>, requestId: string, sourceIp: string): Promise<string> {
    const body = await readBody(req, 2 * 1024 * 1024);
    const provided = headers['content-md5'];
    if (provided !== undefined && provided !== createHash('md5').update(body).digest('base64')) throw ERRORS.invalidDigest(provided);
    const xml = body.toString('utf8');
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(xml);
    const keys = [...xml.matchAll(/<Object>\s*<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Object>/g)].map((m) => unescape(m[1]!));
    if (keys.length === 0) throw ERRORS.malformedXml();
    if (keys.length > 1000) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.', {}, 'at most 1000 keys');
    for (const key of keys) await removeObject(bucket, key, 'ObjectRemoved:DeleteObjects', requestId, sourceIp);
    return xmlDocument('DeleteResult', { Deleted: quiet ? [] : keys.map((k) => ({ Key: k })) });
  }

  function unescape(text: string): string {
    return text.replace(/&(lt|gt|amp|quot|apos);/g, (_, n: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[n]!);
  }

  /** PostObject: a browser form (multipart/form-data) with the file last. */
  async function postObject(req: IncomingMessage, bucket: string, requestId: string, send: Send, sourceIp: string): Promise<void> {
    const fields = new Map<string, string>();
    let file: { received: Received; filename: string } | undefined;
    let files = 0;
    await new Promise<void>((resolve, reject) => {
      let busboy: Busboy.Busboy;
      try {
        busboy = Busboy({ headers: req.headers, limits: { fieldSize: 2 * 1024 * 1024, fieldNameSize: 8 * 1024 } });
      } catch {
        reject(new OssError(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.'));
        return;
      }
      const work: Promise<unknown>[] = [];
      busboy.on('field', (name, value, info) => {
        if (info.valueTruncated || info.nameTruncated) {
          reject(new OssError(400, 'FieldItemTooLong', 'Your POST request fields preceeding the upload file was too large.', { FieldName: name }));
          return;
        }
        if (files > 0) return; // OSS ignores fields after the file
        fields.set(name.toLowerCase().startsWith('x:') ? name : name.toLowerCase(), value);
      });
      busboy.on('file', (name, stream, info) => {
        files += 1;
        if (files > 1 || name.toLowerCase() !== 'file') {
          stream.resume();
          return;
        }
        work.push(storage.receive(stream).then((received) => (file = { received, filename: info.filename ?? '' })));
      });
      busboy.on('error', () => reject(new OssError(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.')));
      busboy.on('close', () => void Promise.all(work).then(() => resolve(), reject));
      req.pipe(busboy);
    });
    const discard = async (error: unknown): Promise<never> => {
      if (file) await storage.discard(file.received.path);
      throw error;
    };
    if (!file) return discard(new OssError(400, 'IncorrectNumberOfFilesInPOSTRequest', 'POST requires exactly one file upload per request.', { FileCount: String(files) }));
    const keyField = fields.get('key');
    if (!keyField) return discard(new OssError(400, 'InvalidArgument', "Bucket POST must contain a field named 'key'.", { ArgumentName: 'key', ArgumentValue: '' }));
    try {
      const form = { fields, bucket, size: file.received.size };
      const context = { credentials: config.credentials, region: config.region, now: config.now() };
      if (!verifyPostSignature(form, context)) throw ERRORS.anonymous();
      checkPolicy(form, config.now());
    } catch (error) {
      return discard(error);
    }
    const key = keyField.replace(/\$\{filename\}/g, file.filename);
    let callback: CallbackRequest | undefined;
    try {
      const vars = new Map([...fields].filter(([name]) => name.startsWith('x:')));
      callback = parseCallbackRequest(fields.get('callback'), undefined, vars);
      const md5 = fields.get('content-md5');
      if (md5 !== undefined && md5 !== file.received.md5.toString('base64')) throw ERRORS.invalidDigest(md5);
    } catch (error) {
      return discard(error);
    }
    const userMeta: Record<string, string> = {};
    for (const [name, value] of fields) if (name.startsWith('x-oss-meta-')) userMeta[name.slice('x-oss-meta-'.length)] = value;
    const stored = await store(bucket, key, file.received, 'PostObject', fields.get('content-type') || mimeTypeFor(key), userMeta, callback, requestId, sourceIp, forbidsOverwrite(fields.get('x-oss-forbid-overwrite')));
    if (stored.delivered) return sendDelivered(send, stored.objectHeaders, stored.delivered);
    const status = fields.get('success_action_status');
    const location = `http://${bucket}.oss-${config.region}.aliyuncs.com/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
    if (status === '201') {
      send(201, { ...stored.objectHeaders, location, 'content-type': 'application/xml' }, xmlDocument('PostResponse', { Bucket: bucket, Location: location, Key: key, ETag: `"${stored.meta.etag}"` }));
    } else send(status === '200' ? 200 : 204, { ...stored.objectHeaders, location });
  }

  return (req, res) => {
    void handle(req, res);
  };
}

