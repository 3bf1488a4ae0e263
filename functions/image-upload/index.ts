/**
 * image-upload: the image catalog. Checks each uploaded image against a policy (formats, pixels,
 * bytes, key prefixes), records it once per upload, refusals included (status "rejected" and the
 * reason, so the application can delete the stored object), and replies with the record id and
 * ready-to-use URLs of the configured variants (OSS image processing) on a public base URL.
 *
 * Reply: 200 {"id","duplicate","url","variants":{"thumb":"https://…/a.jpg?x-oss-process=image/resize,w_320",…}}
 * Refused (JSON error, recorded): KeyPrefixNotAllowed 403, ImageFormatNotAllowed 415, ImageTooLarge 413,
 *   ImageKeyNotAddressable 422 (a "." or ".." key segment). The owner is bound per IMAGE_UPLOAD_OWNER_FROM
 *   (shared/core/owner.ts); size, ETag and MIME type are OSS's (HeadObject). The image info (format,
 *   width, height) is what the uploader's template says: OSS fills it in a genuine callback.
 * Template (form): see `job.template.form`, or `npm run template -- image-upload`.
 *
 * On an OSS event (shared/core/object-state.ts): a deleted or overwritten image gets `deleted_at`.
 */
import * as v from 'valibot';
import { applyObjectChange, callbackVersion, changeOfEvent, objectHash, OBJECT_COLUMNS, objectKeysTable, VERSION_COLUMNS, versionMigration } from '../../shared/core/object-state.js';
import { isAddressableKey, objectUrl, parseVariants, publicBaseUrl } from '../../shared/core/oss-urls.js';
import { CallbackError, createHandler, defineJob, defineTable, env, envConfig, newId, oss } from '../../shared/index.js';

export const config = envConfig({
  /** Image formats as OSS reports them in imageInfo.format (jpeg counts as jpg). */
  IMAGE_ALLOWED_FORMATS: env.list({ default: ['jpg', 'png', 'gif', 'webp'], lowerCase: true, item: (f) => (f === 'jpeg' ? 'jpg' : f) }),
  IMAGE_MAX_PIXELS: env.integer({ default: 50_000_000, min: 1 }),
  /** 20 MB: the largest source OSS image processing accepts. */
  IMAGE_MAX_BYTES: env.integer({ default: 20 * 1024 * 1024, min: 1 }),
  /** Comma-separated key prefixes; empty = any key. */
  IMAGE_ALLOWED_PREFIXES: env.list({ default: [] }),
  /** May contain {bucket} and {region} (the function's region). */
  IMAGE_PUBLIC_BASE_URL: env.url({ default: 'https://{bucket}.oss-{region}.aliyuncs.com' }),
  IMAGE_VARIANTS: env.custom((raw) => {
    try {
      return parseVariants(raw ?? 'thumb=image/resize,w_320;medium=image/resize,w_1024');
    } catch (error) {
      return env.invalid((error as Error).message);
    }
  }),
});

/** The refusals, with their HTTP status. */
const REFUSED = { KeyPrefixNotAllowed: 403, ImageFormatNotAllowed: 415, ImageTooLarge: 413, ImageKeyNotAddressable: 422 } as const;
type Refusal = { reason: keyof typeof REFUSED; message: string };

export const images = defineTable(
  'image_upload_images',
  {
    // OBJECT_COLUMNS, in the order the deployed table has them.
    id: OBJECT_COLUMNS.id,
    idempotencyKey: OBJECT_COLUMNS.idempotencyKey,
    bucket: OBJECT_COLUMNS.bucket,
    object: OBJECT_COLUMNS.object,
    /** SHA-256 of bucket + "/" + object: keys are up to 1023 bytes, too long to index. */
    objectHash: { type: 'string', maxLength: 64 },
    owner: { type: 'string', maxLength: 128 },
    format: { type: 'string', maxLength: 32, nullable: true },
    width: { type: 'int', nullable: true },
    height: { type: 'int', nullable: true },
    size: OBJECT_COLUMNS.size,
    mimeType: { type: 'string', maxLength: 255, nullable: true },
    etag: OBJECT_COLUMNS.etag,
    status: { type: 'string', maxLength: 16 }, // accepted | rejected
    reason: { type: 'string', maxLength: 64, nullable: true },
    message: { type: 'text', nullable: true },
    receivedAt: { type: 'timestamp' },
    ...imageVersionColumns(),
  },
  {
    primaryKey: ['id'],
    unique: [['idempotencyKey']],
    indexes: [['owner', 'receivedAt'], ['status', 'receivedAt'], ['objectHash']],
    migrations: [versionMigration('events', { hasObjectHash: true })],
  },
);

/** The rule's columns but objectHash, which images had from the start. */
function imageVersionColumns() {
  const { objectHash: _, ...rest } = VERSION_COLUMNS;
  return rest;
}

/** One row per object key: serializes callbacks and events of one key. */
export const imageKeys = objectKeysTable('image_upload');

type Image = { object: string; size: number; format: string | undefined; width: number | undefined; height: number | undefined; mimeType: string | undefined };

/** The first policy rule the image breaks, or undefined. */
export function checkPolicy(image: Image, c: ReturnType<typeof config>): Refusal | undefined {
  const prefixes = c.IMAGE_ALLOWED_PREFIXES;
  if (prefixes.length > 0 && !prefixes.some((prefix) => image.object.startsWith(prefix))) {
    return { reason: 'KeyPrefixNotAllowed', message: `the object key ${JSON.stringify(image.object)} is not under an allowed prefix (IMAGE_ALLOWED_PREFIXES: ${prefixes.join(', ')})` };
  }
  const format = image.format?.toLowerCase() === 'jpeg' ? 'jpg' : image.format?.toLowerCase();
  if (!format || !image.width || !image.height) {
    return { reason: 'ImageFormatNotAllowed', message: `OSS found no image in this object (MIME type ${JSON.stringify(image.mimeType ?? '')}, no imageInfo): upload an image in one of ${c.IMAGE_ALLOWED_FORMATS.join(', ')}` };
  }
  if (!c.IMAGE_ALLOWED_FORMATS.includes(format)) {
    return { reason: 'ImageFormatNotAllowed', message: `image format ${JSON.stringify(format)} is not allowed (IMAGE_ALLOWED_FORMATS: ${c.IMAGE_ALLOWED_FORMATS.join(', ')})` };
  }
  if (image.size > c.IMAGE_MAX_BYTES) {
    return { reason: 'ImageTooLarge', message: `the image is ${image.size} bytes, more than IMAGE_MAX_BYTES=${c.IMAGE_MAX_BYTES}` };
  }
  if (image.width * image.height > c.IMAGE_MAX_PIXELS) {
    return { reason: 'ImageTooLarge', message: `the image is ${image.width}×${image.height} = ${image.width * image.height} pixels, more than IMAGE_MAX_PIXELS=${c.IMAGE_MAX_PIXELS}` };
  }
  if (!isAddressableKey(image.object)) {
    return { reason: 'ImageKeyNotAddressable', message: `the object key ${JSON.stringify(image.object)} has a "." or ".." segment, which no URL can address: rename the object` };
  }
  return undefined;
}

export const job = defineJob({
  name: 'image-upload',
  description: 'Image catalog: policy check, one record per upload, variant URLs.',
  payload: v.object({
    bucket: oss.bucket,
    object: oss.object,
    etag: oss.etag,
    size: oss.size,
    mimeType: oss.mimeType,
    imageWidth: oss.imageWidth,
    imageHeight: oss.imageHeight,
    imageFormat: oss.imageFormat,
    reqId: oss.reqId,
  }),
  // x:owner is read only with IMAGE_UPLOAD_OWNER_FROM=x:owner (the template lists it for that case).
  custom: v.object({ owner: v.optional(v.string()) }),
  tables: [images, imageKeys],
  owner: true,

  async handle({ payload: p, object: o, owner, callback, store, signal, log }) {
    const c = config();
    const image = { object: o.key, size: o.size, format: p.imageFormat, width: p.imageWidth, height: p.imageHeight, mimeType: o.contentType };
    const refusal = checkPolicy(image, c);
    const { row, duplicate } = await store.transaction(
      (tx) =>
        tx.insertOnce(images, {
          id: newId(),
          idempotencyKey: callback.idempotencyKey,
          bucket: o.bucket,
          object: o.key,

          owner: owner!.id,
          format: p.imageFormat ?? null,
          width: p.imageWidth ?? null,
          height: p.imageHeight ?? null,
          size: o.size,
          mimeType: o.contentType ?? null,
          etag: o.etag,
          status: refusal ? 'rejected' : 'accepted',
          reason: refusal?.reason ?? null,
          message: refusal?.message ?? null,
          receivedAt: callback.receivedAt,
          ...callbackVersion(o.bucket, o.key, callback.receivedAt),
          objectHash: objectHash(o.bucket, o.key),
        }),
      { signal },
    );
    log({ imageId: row.id, duplicate, status: row.status });
    if (row.status === 'rejected') {
      const reason = row.reason as keyof typeof REFUSED;
      throw new CallbackError(reason, row.message ?? reason, { status: REFUSED[reason] ?? 422, details: { id: row.id, duplicate } });
    }
    const base = publicBaseUrl(c.IMAGE_PUBLIC_BASE_URL, o.bucket, callback.platform?.region ?? process.env.FC_REGION, 'IMAGE_PUBLIC_BASE_URL');
    const variants = Object.fromEntries(c.IMAGE_VARIANTS.map((variant) => [variant.name, objectUrl(base, o.key, variant.process)]));
    return { id: row.id, duplicate, url: objectUrl(base, o.key), variants };
  },

  /** An event: marks deleted (or overwritten) images (deleted_at); an image seen only by its event is not catalogued (no image info). */
  async onEvent({ event, store, signal, log }) {
    const { transitions } = await store.transaction(
      (tx) => applyObjectChange(tx, { table: images, keys: imageKeys, change: changeOfEvent(event), newRow: () => undefined }),
      { signal },
    );
    log({ deleted: transitions.filter((t) => !t.isLive).map((t) => t.row.id), revived: transitions.filter((t) => t.isLive).map((t) => t.row.id) });
  },
});

export const handler = createHandler(job);
