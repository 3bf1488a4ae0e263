/**
 * The callback simulator: plays OSS's part in an upload with callback, locally.
 *
 *   validate the callback parameters (400 InvalidArgument) → work out the object's facts →
 *   fill in the body → for each callbackUrl in order: sign, send (5 s), judge the reply →
 *   what the uploader gets: the callback reply passed through (200), or 203 CallbackFailed.
 *
 * Unlike OSS it calls back private and loopback addresses (that is its point); it says so.
 */
import { randomBytes } from 'node:crypto';
import { type OssErrorInfo, InvalidArgument, ossErrorXml } from './errors.js';
import { type ObjectFacts, type ObjectInput, type Operation, objectFacts } from './object.js';
import { type CallbackParams, type CallbackUrl, checkCustomKey, isPrivateHost, JSON_BODY_TYPE, parseCallback, parseCallbackVar } from './params.js';
import { interpretReply, MAX_REPLY_BYTES, type Verdict } from './reply.js';
import { buildCallback, type OutgoingCallback, type SigningKey, sendCallback, type Transport } from './send.js';
import { fillBody, variableWarnings } from './template.js';
import { devSigningKey } from './keys.js';

export interface UploadInput {
  /** The `x-oss-callback` value: base64 JSON as SDKs send it, or the JSON itself. */
  callback: string;
  /** The `x-oss-callback-var` value (base64 JSON or JSON). */
  callbackVar?: string;
  /** More custom variables (`x:` added when missing), like PostObject's form fields. */
  vars?: Readonly<Record<string, string>>;
  object: ObjectInput;
  clientIp?: string;
  vpcId?: string;
  /** OSS's request id (`${reqId}`, `x-oss-request-id`); default random, 24 hex digits. */
  reqId?: string;
  /** The uploader's account id (`x-oss-requester`). */
  requester?: string;
  /** Default: the development key pair (test/fixtures/keys). */
  key?: SigningKey;
  /** Per callback URL; OSS: 5000. */
  timeoutMs?: number;
  /** Connect to this origin instead of each callbackUrl's host (path, query and Host header unchanged). */
  to?: string;
  insecure?: boolean;
  /** For the error's HostId: `<bucket>.oss-<region>.aliyuncs.com`. */
  region?: string;
  now?: Date;
}

export interface Attempt {
  url: CallbackUrl;
  request: OutgoingCallback;
  transport: Transport;
  verdict: Verdict;
}

/** The response to the upload request, as the uploader's SDK receives it. */
export interface UploaderResponse {
  status: 200 | 203 | 400;
  headers: Record<string, string>;
  body: string;
}

export interface UploadResult {
  outcome: 'ok' | 'callback-failed' | 'invalid-argument';
  uploader: UploaderResponse;
  /** The OSS error, when there is one. */
  error?: OssErrorInfo;
  params?: CallbackParams;
  object?: ObjectFacts;
  custom: Record<string, string>;
  /** The body sent to the callback URLs. */
  body?: string;
  attempts: Attempt[];
  warnings: string[];
}

function randomRequestId(): string {
  return randomBytes(12).toString('hex').toUpperCase();
}

function customVariables(input: UploadInput, operation: Operation, warnings: string[]): Record<string, string> {
  const custom = parseCallbackVar(input.callbackVar);
  if (input.callbackVar && operation === 'PostObject') {
    warnings.push('PostObject has no callback-var parameter: an uploader sends custom variables as form fields (--var)');
  }
  for (const [name, value] of Object.entries(input.vars ?? {})) {
    const key = name.startsWith('x:') ? name : `x:${name}`;
    checkCustomKey(key);
    custom[key] = value;
  }
  return custom;
}

function systemValues(object: ObjectFacts, input: { clientIp?: string; vpcId?: string }, reqId: string, operation: Operation): Record<string, string | number> {
  return {
    bucket: object.bucket,
    object: object.key,
    etag: object.etag,
    size: object.size,
    mimeType: object.mimeType,
    'imageInfo.width': object.image?.width ?? '',
    'imageInfo.height': object.image?.height ?? '',
    'imageInfo.format': object.image?.format ?? '',
    crc64: object.crc64,
    contentMd5: object.contentMd5,
    vpcId: input.vpcId ?? '',
    clientIp: input.clientIp ?? '127.0.0.1',
    reqId,
    operation,
  };
}

export async function simulateUpload(input: UploadInput): Promise<UploadResult> {
  const reqId = input.reqId ?? randomRequestId();
  const operation = input.object.operation ?? 'PutObject';
  const hostId = `${input.object.bucket}.oss-${input.region ?? 'cn-hangzhou'}.aliyuncs.com`;
  const warnings: string[] = [];
  const refuse = (error: OssErrorInfo, partial: Partial<UploadResult> = {}): UploadResult => ({
    outcome: error.code === 'InvalidArgument' ? 'invalid-argument' : 'callback-failed',
    uploader: {
      status: error.status,
      headers: { 'content-type': 'application/xml', 'x-oss-request-id': reqId, ...(error.ec ? { 'x-oss-ec': error.ec } : {}) },
      body: ossErrorXml(error, reqId, hostId),
    },
    error,
    custom: {},
    attempts: [],
    warnings,
    ...partial,
  });

  let params: CallbackParams;
  let custom: Record<string, string>;
  try {
    params = parseCallback(input.callback);
    custom = customVariables(input, operation, warnings);
  } catch (error) {
    if (error instanceof InvalidArgument) return refuse(error);
    throw error;
  }
  warnings.push(...params.warnings, ...variableWarnings(params.variables, custom));
  if (!input.to) warnings.push(...privateAddressWarnings(params));

  const object = await objectFacts(input.object);
  const delivered = await deliverCallback({
    params,
    custom,
    object,
    operation,
    reqId,
    clientIp: input.clientIp,
    vpcId: input.vpcId,
    requester: input.requester,
    key: input.key,
    timeoutMs: input.timeoutMs,
    to: input.to,
    insecure: input.insecure,
    region: input.region,
    now: input.now,
  });
  return { ...delivered, params, object, custom, warnings };
}

export interface DeliverInput {
  params: CallbackParams;
  /** The custom `x:` variables (callback-var, or PostObject's form fields). */
  custom: Readonly<Record<string, string>>;
  /** The stored object's facts (ETag, size, CRC-64, MIME type, image info). */
  object: ObjectFacts;
  operation: Operation;
  /** OSS's request id of the upload (`${reqId}`, `x-oss-request-id`). */
  reqId: string;
  clientIp?: string;
  vpcId?: string;
  requester?: string;
  /** Default: the development key pair (test/fixtures/keys). */
  key?: SigningKey;
  timeoutMs?: number;
  to?: string;
  insecure?: boolean;
  region?: string;
  now?: Date;
}

export interface Delivered {
  outcome: 'ok' | 'callback-failed';
  uploader: UploaderResponse;
  error?: OssErrorInfo;
  /** The body sent to the callback URLs. */
  body: string;
  attempts: Attempt[];
}

/**
 * The part of an upload after the object is stored, as OSS does it: fill in the body, then for each
 * callbackUrl in order sign, send (5 s) and judge the reply, until one succeeds. Shared by the
 * simulator and the local OSS emulator (shared/testing/oss-emulator).
 */
export async function deliverCallback(input: DeliverInput): Promise<Delivered> {
  const { params, object, reqId, operation } = input;
  const type = params.callbackBodyType === JSON_BODY_TYPE ? 'json' : 'form';
  const body = fillBody(params.callbackBody, type, { ...systemValues(object, input, reqId, operation), ...input.custom }, params.variables);
  const key = input.key ?? devSigningKey();
  const date = input.now ?? new Date();

  const attempts: Attempt[] = [];
  for (const url of params.urls) {
    const request = buildCallback(params, url, Buffer.from(body, 'utf8'), key, {
      bucket: object.bucket,
      ossRequestId: reqId,
      requester: input.requester ?? '1234567890123456',
      date,
    });
    const transport = await sendCallback(request, {
      timeoutMs: input.timeoutMs,
      to: input.to,
      insecure: input.insecure,
      sni: params.callbackSNI,
      maxReplyBytes: MAX_REPLY_BYTES,
    });
    const verdict = interpretReply(transport, url);
    attempts.push({ url, request, transport, verdict });
    if (verdict.ok) {
      const reply = verdict.body.toString('utf8');
      return {
        outcome: 'ok',
        uploader: {
          status: 200,
          headers: {
            'content-type': verdict.contentType ?? 'application/json',
            'content-length': String(verdict.body.length),
            etag: `"${object.etag}"`,
            'x-oss-hash-crc64ecma': object.crc64,
            'x-oss-request-id': reqId,
            ...(object.contentMd5 ? { 'content-md5': object.contentMd5 } : {}),
          },
          body: reply,
        },
        body,
        attempts,
      };
    }
  }
  // Every URL failed: the uploader sees the last failure.
  const last = attempts[attempts.length - 1]!.verdict as OssErrorInfo;
  const hostId = `${object.bucket}.oss-${input.region ?? 'cn-hangzhou'}.aliyuncs.com`;
  return {
    outcome: 'callback-failed',
    uploader: {
      status: last.status as 203,
      headers: {
        'content-type': 'application/xml',
        'x-oss-request-id': reqId,
        ...(last.ec ? { 'x-oss-ec': last.ec } : {}),
        etag: `"${object.etag}"`,
      },
      body: ossErrorXml(last, reqId, hostId),
    },
    error: last,
    body,
    attempts,
  };
}

/** Warnings for callbackUrls OSS would refuse as private ("Private address is forbidden to callback."). */
export function privateAddressWarnings(params: CallbackParams, who = 'the simulator'): string[] {
  const warnings: string[] = [];
  for (const hostname of new Set(params.urls.map((url) => url.hostname))) {
    if (isPrivateHost(hostname)) {
      warnings.push(`${hostname} is a private or loopback address: OSS would refuse this callbackUrl ("Private address is forbidden to callback."); ${who} calls it anyway`);
    }
  }
  return warnings;
}

export type { OssErrorInfo } from './errors.js';
export type { ObjectFacts, ObjectInput, Operation } from './object.js';
export type { CallbackParams, CallbackUrl } from './params.js';
export type { SigningKey } from './send.js';
export { InvalidArgument, ossErrorXml } from './errors.js';
export { OPERATIONS, objectFacts, multipartEtag } from './object.js';
export { parseCallback, parseCallbackVar, parseCallbackUrl, isPrivateHost } from './params.js';
export { interpretReply, MAX_REPLY_BYTES } from './reply.js';
export { buildCallback, sendCallback, CALLBACK_TIMEOUT_MS } from './send.js';
export { checkTemplate, fillBody, SYSTEM_VARIABLES } from './template.js';
export { crc64, Crc64 } from './crc64.js';
export { imageInfo } from './image.js';
export { mimeTypeFor } from './mime.js';
export { devSigningKey, DEV_PUBLIC_KEYS_FILE, publicKeyPem, signingKeyFromFile, writeTrustedKeysFile } from './keys.js';
