/**
 * What OSS knows about the uploaded object when it calls back: the facts behind `${etag}`,
 * `${size}`, `${mimeType}`, `${contentMd5}`, `${crc64}` and `${imageInfo.*}`, computed from a local
 * file, or declared (bucket/key/size/MIME type) for an object that is not at hand.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Crc64 } from './crc64.js';
import { type ImageInfo, imageInfo } from './image.js';
import { mimeTypeFor } from './mime.js';

export type Operation = 'PutObject' | 'PostObject' | 'CompleteMultipartUpload';
export const OPERATIONS: readonly Operation[] = ['PutObject', 'PostObject', 'CompleteMultipartUpload'];

export interface ObjectFacts {
  bucket: string;
  key: string;
  size: number;
  /** As OSS reports it (no quotes): upper-case MD5 hex; `<hex>-<parts>` for a multipart upload. */
  etag: string;
  mimeType: string;
  /** base64 MD5 of the content; empty for CompleteMultipartUpload (OSS fills it only for Put/PostObject). */
  contentMd5: string;
  /** CRC-64/ECMA as an unsigned decimal (`x-oss-hash-crc64ecma`). */
  crc64: string;
  image: ImageInfo | undefined;
  /** Where the facts came from: a file, or declared values (random but well-formed hashes). */
  source: 'file' | 'declared';
}

export interface ObjectInput {
  bucket: string;
  /** The object key; default: the file's name, or example.txt. */
  key?: string;
  /** A local file standing for the uploaded object. */
  file?: string;
  /** Without a file: the size to declare (default 1024). */
  size?: number;
  /** The Content-Type the uploader sets; default: guessed from the key, as OSS does. */
  mimeType?: string;
  operation?: Operation;
  /** Part size for CompleteMultipartUpload's ETag (default 1 MiB). */
  partSize?: number;
  /** CompleteMultipartUpload: the MD5 digests of the parts as they were uploaded (instead of cutting the file into partSize parts). */
  partDigests?: readonly Buffer[];
}

export const DEFAULT_PART_SIZE = 1024 * 1024;
/** Enough of the file to read any image header we understand. */
const HEADER_BYTES = 64 * 1024;

/** Reads the file once: MD5, CRC-64, size, first bytes, and per-part MD5s for a multipart ETag. */
async function digestFile(path: string, partSize: number) {
  const md5 = createHash('md5');
  const crc = new Crc64();
  const partDigests: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  let size = 0;
  const head: Buffer[] = [];
  let headBytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    crc.update(chunk);
    size += chunk.length;
    if (headBytes < HEADER_BYTES) {
      head.push(chunk.subarray(0, HEADER_BYTES - headBytes));
      headBytes += Math.min(chunk.length, HEADER_BYTES - headBytes);
    }
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(partSize - inPart, chunk.length - offset);
      part.update(chunk.subarray(offset, offset + take));
      inPart += take;
      offset += take;
      if (inPart === partSize) {
        partDigests.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0 || partDigests.length === 0) partDigests.push(part.digest());
  return { md5: md5.digest(), crc64: crc.digest(), size, head: Buffer.concat(head), partDigests };
}

/** `MD5(concat(part MD5s))-<parts>`, upper-case hex, as OSS (and S3) report a multipart object's ETag. */
export function multipartEtag(partDigests: readonly Buffer[]): string {
  return `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex').toUpperCase()}-${partDigests.length}`;
}

export async function objectFacts(input: ObjectInput): Promise<ObjectFacts> {
  const operation = input.operation ?? 'PutObject';
  const key = input.key ?? (input.file ? basename(input.file) : 'example.txt');
  const mimeType = input.mimeType ?? mimeTypeFor(key);
  const multipart = operation === 'CompleteMultipartUpload';
  if (input.file) {
    const digest = await digestFile(input.file, input.partSize ?? DEFAULT_PART_SIZE);
    return {
      bucket: input.bucket,
      key,
      size: digest.size,
      etag: multipart ? multipartEtag(input.partDigests ?? digest.partDigests) : digest.md5.toString('hex').toUpperCase(),
      mimeType,
      contentMd5: multipart ? '' : digest.md5.toString('base64'),
      crc64: digest.crc64,
      image: imageInfo(digest.head),
      source: 'file',
    };
  }
  const md5 = randomBytes(16);
  return {
    bucket: input.bucket,
    key,
    size: input.size ?? 1024,
    etag: multipart ? multipartEtag([md5]) : md5.toString('hex').toUpperCase(),
    mimeType,
    contentMd5: multipart ? '' : md5.toString('base64'),
    crc64: BigInt(`0x${randomBytes(8).toString('hex')}`).toString(),
    image: undefined,
    source: 'declared',
  };
}
