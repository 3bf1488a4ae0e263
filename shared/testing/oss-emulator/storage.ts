/**
 * Objects on disk, so they survive a restart: `<dataDir>/buckets/<bucket>/<sha256(key)>.data` holds
 * the bytes and `…json` beside it the metadata (key, ETag, size, type, CRC-64, user metadata). A new
 * object is written to a temporary file first and renamed into place, so a reader never sees half.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';

export interface ObjectMeta {
  key: string;
  size: number;
  /** Upper-case, no quotes. */
  etag: string;
  contentType: string;
  /** base64 MD5 ('' for a multipart object). */
  contentMd5: string;
  crc64: string;
  /** ISO 8601. */
  lastModified: string;
  type: 'Normal' | 'Multipart';
  /** `x-oss-meta-*` headers, lower-case names without the prefix. */
  userMeta: Record<string, string>;
}

export interface Received {
  path: string;
  size: number;
  md5: Buffer;
}

export class Storage {
  constructor(readonly dataDir: string) {}

  private bucketDir(bucket: string): string {
    return join(this.dataDir, 'buckets', bucket);
  }

  private base(bucket: string, key: string): string {
    return join(this.bucketDir(bucket), createHash('sha256').update(key, 'utf8').digest('hex'));
  }

  dataPath(bucket: string, key: string): string {
    return `${this.base(bucket, key)}.data`;
  }

  /** A fresh temporary path under the data dir (same file system: renames are atomic). */
  async tempPath(): Promise<string> {
    const dir = join(this.dataDir, 'tmp');
    await mkdir(dir, { recursive: true });
    return join(dir, randomBytes(12).toString('hex'));
  }

  /** Writes a stream to a temporary file, measuring its size and MD5. */
  async receive(stream: Readable, limit = Number.MAX_SAFE_INTEGER): Promise<Received> {
    const path = await this.tempPath();
    const md5 = createHash('md5');
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      md5.update(chunk);
      size += chunk.length;
      if (size > limit) stream.destroy(new Error(`more than ${limit} bytes`));
    });
    await pipeline(stream, createWriteStream(path));
    return { path, size, md5: md5.digest() };
  }

  async discard(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  /** Moves a received file into place as the object, with its metadata. */
  async commit(bucket: string, tempFile: string, meta: ObjectMeta): Promise<void> {
    await mkdir(this.bucketDir(bucket), { recursive: true });
    const base = this.base(bucket, meta.key);
    const metaTemp = `${tempFile}.json`;
    await writeFile(metaTemp, `${JSON.stringify(meta, null, 2)}\n`);
    await rename(tempFile, `${base}.data`);
    await rename(metaTemp, `${base}.json`);
  }

  async head(bucket: string, key: string): Promise<ObjectMeta | undefined> {
    try {
      return JSON.parse(await readFile(`${this.base(bucket, key)}.json`, 'utf8')) as ObjectMeta;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  open(bucket: string, key: string): Readable {
    return createReadStream(this.dataPath(bucket, key));
  }

  /** Deletes the object; returns what was there. */
  async delete(bucket: string, key: string): Promise<ObjectMeta | undefined> {
    const meta = await this.head(bucket, key);
    const base = this.base(bucket, key);
    await rm(`${base}.json`, { force: true });
    await rm(`${base}.data`, { force: true });
    return meta;
  }

  /** Every object of the bucket, sorted by key (byte order, as OSS lists). */
  async list(bucket: string): Promise<ObjectMeta[]> {
    const dir = this.bucketDir(bucket);
    if (!existsSync(dir)) return [];
    const out: ObjectMeta[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as ObjectMeta);
      } catch {
        // deleted meanwhile
      }
    }
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  /** Copies files into one (multipart completion). */
  async concat(parts: readonly string[], into: string): Promise<void> {
    const out = createWriteStream(into);
    for (const part of parts) await pipeline(createReadStream(part), out, { end: false });
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
