/**
 * Multipart uploads: InitiateMultipartUpload, UploadPart, CompleteMultipartUpload (and Abort), kept
 * under `<dataDir>/multipart/<uploadId>/` until completed. The completed object's ETag is OSS's
 * `<MD5 of the concatenated part MD5s>-<number of parts>`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Received, Storage } from './storage.js';
import { ERRORS, OssError, unescapeXml } from './xml.js';

export interface UploadInfo {
  bucket: string;
  key: string;
  contentType: string;
  userMeta: Record<string, string>;
  initiated: string;
  /** `x-oss-forbid-overwrite: true` on InitiateMultipartUpload (CompleteMultipartUpload may also say so). */
  forbidOverwrite?: boolean;
}

export interface CompletedParts {
  /** Files in part order. */
  files: string[];
  /** The parts' MD5 digests in order. */
  digests: Buffer[];
}

export const MAX_PART_NUMBER = 10000;

export class Multipart {
  constructor(private readonly storage: Storage) {}

  private dir(uploadId: string): string {
    if (!/^[0-9A-F]{32}$/.test(uploadId)) throw ERRORS.noSuchUpload(uploadId);
    return join(this.storage.dataDir, 'multipart', uploadId);
  }

  async initiate(info: UploadInfo): Promise<string> {
    const uploadId = randomBytes(16).toString('hex').toUpperCase();
    const dir = this.dir(uploadId);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'upload.json'), JSON.stringify(info));
    return uploadId;
  }

  async info(uploadId: string, bucket: string, key: string): Promise<UploadInfo> {
    const file = join(this.dir(uploadId), 'upload.json');
    if (!existsSync(file)) throw ERRORS.noSuchUpload(uploadId);
    const info = JSON.parse(await readFile(file, 'utf8')) as UploadInfo;
    if (info.bucket !== bucket || info.key !== key) throw ERRORS.noSuchUpload(uploadId);
    return info;
  }

  async putPart(uploadId: string, partNumber: number, received: Received): Promise<void> {
    const dir = this.dir(uploadId);
    await rename(received.path, join(dir, `part-${partNumber}`));
    await writeFile(join(dir, `part-${partNumber}.json`), JSON.stringify({ md5: received.md5.toString('hex').toUpperCase(), size: received.size }));
  }

  /** Checks the CompleteMultipartUpload list against the stored parts. */
  async parts(uploadId: string, xml: string): Promise<CompletedParts> {
    const dir = this.dir(uploadId);
    const listed = [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      number: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1]!)?.[1]),
      etag: unescapeXml(/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1]!)?.[1] ?? '').replace(/"/g, '').trim().toUpperCase(),
    }));
    if (listed.length === 0 || listed.some((p) => !Number.isInteger(p.number))) throw ERRORS.malformedXml();
    const files: string[] = [];
    const digests: Buffer[] = [];
    let previous = 0;
    for (const part of listed) {
      if (part.number <= previous) {
        throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts list must specified in order by part number.', { UploadId: uploadId });
      }
      previous = part.number;
      const metaFile = join(dir, `part-${part.number}.json`);
      const stored = existsSync(metaFile) ? (JSON.parse(await readFile(metaFile, 'utf8')) as { md5: string }) : undefined;
      if (!stored || stored.md5 !== part.etag) {
        throw new OssError(
          400,
          'InvalidPart',
          "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
          { UploadId: uploadId, PartNumber: String(part.number), ETag: part.etag },
        );
      }
      files.push(join(dir, `part-${part.number}`));
      digests.push(Buffer.from(stored.md5, 'hex'));
    }
    return { files, digests };
  }

  async remove(uploadId: string): Promise<void> {
    await rm(this.dir(uploadId), { recursive: true, force: true });
  }
}
