/**
 * OSS's response vocabulary for the local OSS emulator: request ids (24 upper-case hex digits, the
 * first 8 the Unix time in seconds, as OSS's are), XML escaping, and OSS's error XML
 * (`<Error><Code/><Message/><RequestId/><HostId/>…extra elements…</Error>`).
 */
import { randomBytes } from 'node:crypto';

export function newRequestId(now = Date.now()): string {
  return `${Math.floor(now / 1000).toString(16).padStart(8, '0')}${randomBytes(8).toString('hex')}`.toUpperCase();
}

/** Element text: `<`, `>`, `&` escaped; quotes stay as they are (OSS writes `<ETag>"…"</ETag>`). */
export function escapeXml(text: string): string {
  return text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
}

export function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#(\d+)|#x([0-9a-f]+));/gi, (whole, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[name.toLowerCase()] ?? whole;
  });
}

/** `<?xml …?>` + one root element of child elements; arrays repeat the element, objects nest. */
export type XmlValue = string | number | boolean | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue | undefined;
}

function render(name: string, value: XmlValue | undefined, indent: string): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((item) => render(name, item, indent));
  if (typeof value === 'object') {
    return [`${indent}<${name}>`, ...Object.entries(value).flatMap(([k, v]) => render(k, v, `${indent}  `)), `${indent}</${name}>`];
  }
  return [`${indent}<${name}>${escapeXml(String(value))}</${name}>`];
}

export function xmlDocument(root: string, body: XmlNode): string {
  return `${['<?xml version="1.0" encoding="UTF-8"?>', ...render(root, body, '')].join('\n')}\n`;
}

/** An OSS error: the HTTP status, the code, OSS's message, and the extra elements OSS adds. */
export class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
    /** For the emulator's log only: why, in the emulator's words (OSS's message stays OSS's). */
    readonly hint?: string,
  ) {
    super(message);
    this.name = code;
  }
}

export function errorXml(error: OssError, requestId: string, hostId: string): string {
  return xmlDocument('Error', { Code: error.code, Message: error.message, RequestId: requestId, HostId: hostId, ...error.extra });
}

/** The elements OSS adds to SignatureDoesNotMatch: what it signed, and its bytes in hex. */
export function signatureMismatch(accessKeyId: string, provided: string, stringToSign: string, extra: Record<string, string> = {}): OssError {
  return new OssError(
    403,
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    {
      OSSAccessKeyId: accessKeyId,
      SignatureProvided: provided,
      StringToSign: stringToSign,
      StringToSignBytes: [...Buffer.from(stringToSign, 'utf8')].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' '),
      ...extra,
    },
  );
}

export const ERRORS = {
  noSuchBucket: (bucket: string) => new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: bucket }),
  noSuchKey: (key: string) => new OssError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key }),
  noSuchUpload: (uploadId: string) =>
    new OssError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId }),
  invalidAccessKeyId: (accessKeyId: string) =>
    new OssError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.', { OSSAccessKeyId: accessKeyId }),
  anonymous: () => new OssError(403, 'AccessDenied', 'You have no right to access this object because of bucket acl.'),
  expired: (expires: string, serverTime: string) => new OssError(403, 'AccessDenied', 'Request has expired.', { Expires: expires, ServerTime: serverTime }),
  skewed: (requestTime: string, serverTime: string) =>
    new OssError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { RequestTime: requestTime, ServerTime: serverTime }),
  invalidDigest: (provided: string) => new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': provided }),
  methodNotAllowed: (method: string) => new OssError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method }),
  notImplemented: (what: string) => new OssError(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented.', {}, what),
  /** `x-oss-forbid-overwrite: true` and the key exists (PutObject, PostObject, CompleteMultipartUpload; EC per operation). */
  fileAlreadyExists: (ec: string) => new OssError(409, 'FileAlreadyExists', 'The object you specified already exists and can not be overwritten.', { EC: ec }),
  malformedXml: () => new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.'),
};
