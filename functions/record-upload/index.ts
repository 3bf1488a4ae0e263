/**
 * record-upload: the upload registry. Records every verified upload once; a repeated or replayed
 * callback for the same upload (same bucket, key and ETag) gets the same id back with `"duplicate": true`.
 *
 * On a callback: records the upload (source 'callback'). On an OSS event (FC OSS trigger), through the
 * rule of shared/core/object-state.ts: an upload whose callback never arrived is recorded (source
 * 'event', facts from the event); a deleted or overwritten object gets `deleted_at`; any order of
 * callbacks, events and redeliveries leaves one record per upload and converges to what the bucket holds.
 * Bucket, key, ETag, size, MIME type and CRC-64 are OSS's (HeadObject); image info, Content-MD5,
 * VPC id, client IP, operation, request id and custom variables are what the uploader's template says.
 *
 * Reply: 200 {"id":"<record id>","duplicate":false}
 * Template (form): see `job.template.form`, or `npm run template -- record-upload`.
 */
import * as v from 'valibot';
import { applyObjectChange, callbackVersion, changeOfEvent, OBJECT_COLUMNS, objectKeysTable, VERSION_COLUMNS, versionMigration } from '../../shared/core/object-state.js';
import { createHandler, defineJob, defineTable, newId, oss } from '../../shared/index.js';

export const uploads = defineTable(
  'oss_uploads',
  {
    ...OBJECT_COLUMNS,
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
    ...VERSION_COLUMNS,
  },
  { primaryKey: ['id'], unique: [['idempotencyKey']], indexes: [['bucket', 'receivedAt']], migrations: [versionMigration()] },
);

/** One row per object key: serializes callbacks and events of one key. */
export const keys = objectKeysTable('oss_uploads');

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
  tables: [uploads, keys],

  async handle({ payload: p, custom, object, callback, store, signal, deadline, log }) {
    // What only the callback knows (the template's values); OSS's facts come from `object`.
    const fromCallback = {
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
    };
    // One statement: a transaction of its own, in as few round trips as the store allows.
    let { row, duplicate } = await store.insertOnce(
      uploads,
      {
        id: newId(),
        idempotencyKey: callback.idempotencyKey,
        bucket: object.bucket,
        object: object.key,
        etag: object.etag,
        size: object.size,
        ...fromCallback,
        receivedAt: callback.receivedAt,
        ...callbackVersion(object.bucket, object.key, callback.receivedAt),
      },
      { signal, deadline },
    );
    if (duplicate && row.callbackAt === null) {
      // Its OSS event recorded the upload first: this is its callback, not a duplicate; it adds what only it knows.
      const patch = { ...fromCallback, callbackAt: callback.receivedAt };
      if ((await store.transaction((tx) => tx.update(uploads, { id: row.id, callbackAt: null }, patch), { signal })) === 1) {
        ({ row, duplicate } = { row: { ...row, ...patch }, duplicate: false });
      }
    }
    log({ recordId: row.id, duplicate, source: row.ossCreatedFrom });
    return { id: row.id, duplicate };
  },

  async onEvent({ event: e, store, signal, log }) {
    const change = changeOfEvent(e);
    const now = new Date();
    const { row, inserted, transitions } = await store.transaction(
      (tx) =>
        applyObjectChange(tx, {
          table: uploads,
          keys,
          change,
          now,
          // An upload whose callback never came (or a removal seen first): recorded from the event.
          newRow: (etag, base) => ({
            ...base,
            id: newId(),
            bucket: e.bucket,
            object: e.key,
            etag,
            size: e.size ?? 0,
            mimeType: e.mimeType ?? null,
            imageWidth: null,
            imageHeight: null,
            imageFormat: null,
            crc64: null,
            contentMd5: null,
            vpcId: null,
            clientIp: e.sourceIp ?? '',
            ossRequestId: e.requestId ?? '',
            operation: e.name.slice(e.name.indexOf(':') + 1),
            custom: {},
            receivedAt: now,
          }),
        }),
      { signal },
    );
    log({ recordId: row?.id, inserted, deletedAt: row?.deletedAt ?? null, changed: transitions.length, requestIdMatches: row?.ossRequestId && e.requestId ? row.ossRequestId === e.requestId : undefined });
  },
});

export const handler = createHandler(job);
