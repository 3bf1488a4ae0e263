/**
 * record-upload: the upload registry. Records every verified upload once; a repeated or replayed
 * callback for the same upload (same bucket, key and ETag) gets the same id back with `"duplicate": true`.
 * Bucket, key, ETag, size, MIME type and CRC-64 are OSS's (HeadObject); image info, Content-MD5,
 * VPC id, client IP, operation, request id and custom variables are what the uploader's template says.
 *
 * Reply: 200 {"id":"<record id>","duplicate":false}
 * Template (form): see `job.template.form`, or `npm run template -- record-upload`.
 */
import * as v from 'valibot';
import { createHandler, defineJob, defineTable, newId, oss } from '../../shared/index.js';

export const uploads = defineTable(
  'oss_uploads',
  {
    id: { type: 'string', maxLength: 36 },
    idempotencyKey: { type: 'string', maxLength: 160 },
    bucket: { type: 'string', maxLength: 63 },
    object: { type: 'text' },
    etag: { type: 'string', maxLength: 128 },
    size: { type: 'bigint' },
    mimeType: { type: 'string', maxLength: 255, nullable: true },
    imageWidth: { type: 'int', nullable: true },
    imageHeight: { type: 'int', nullable: true },
    imageFormat: { type: 'string', maxLength: 32, nullable: true },
    crc64: { type: 'string', maxLength: 20, nullable: true },
    contentMd5: { type: 'string', maxLength: 32, nullable: true },
    vpcId: { type: 'string', maxLength: 64, nullable: true },
    clientIp: { type: 'string', maxLength: 64 },
    ossRequestId: { type: 'string', maxLength: 64 },
    operation: { type: 'string', maxLength: 64 },
    custom: { type: 'json' },
    receivedAt: { type: 'timestamp' },
  },
  { primaryKey: ['id'], unique: [['idempotencyKey']], indexes: [['bucket', 'receivedAt']] },
);

export const job = defineJob({
  name: 'record-upload',
  description: 'Upload registry: one record per verified upload, idempotent.',
  payload: v.object({
    bucket: oss.bucket,
    object: oss.object,
    etag: oss.etag,
    size: oss.size,
    mimeType: oss.mimeType,
    imageWidth: oss.imageWidth,
    imageHeight: oss.imageHeight,
    imageFormat: oss.imageFormat,
    crc64: oss.crc64,
    contentMd5: oss.contentMd5,
    vpcId: oss.vpcId,
    clientIp: oss.clientIp,
    reqId: oss.reqId,
    operation: oss.operation,
  }),
  // Any custom `x:` variables the uploader adds are recorded as they are.
  custom: v.record(v.string(), v.string()),
  tables: [uploads],

  async handle({ payload: p, custom, object, callback, store, signal, log }) {
    // One statement: a transaction of its own, in as few round trips as the store allows.
    const { row, duplicate } = await store.insertOnce(
      uploads,
      {
        id: newId(),
        idempotencyKey: callback.idempotencyKey,
        bucket: object.bucket,
        object: object.key,
        etag: object.etag,
        size: object.size,
        mimeType: object.contentType ?? null,
        imageWidth: p.imageWidth ?? null,
        imageHeight: p.imageHeight ?? null,
        imageFormat: p.imageFormat ?? null,
        crc64: object.crc64 ?? null,
        contentMd5: p.contentMd5 ?? null,
        vpcId: p.vpcId ?? null,
        clientIp: p.clientIp,
        ossRequestId: p.reqId,
        operation: p.operation,
        custom,
        receivedAt: callback.receivedAt,
      },
      { signal },
    );
    log({ recordId: row.id, duplicate });
    return { id: row.id, duplicate };
  },
});

export const handler = createHandler(job);
