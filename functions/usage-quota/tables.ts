/** usage-quota's tables (the ledger is in ./ledger.ts). */
import { defineTable } from '../../shared/index.js';

export const owners = defineTable(
  'usage_quota_owners',
  {
    owner: { type: 'string', maxLength: 128 },
    usedBytes: { type: 'bigint' },
    objectCount: { type: 'bigint' },
    /** Set by the application for this owner; null = USAGE_QUOTA_DEFAULT_BYTES. */
    quotaBytes: { type: 'bigint', nullable: true },
    updatedAt: { type: 'timestamp' },
  },
  { primaryKey: ['owner'] },
);

/** What each stored object counts for now, keyed by SHA-256(bucket + "/" + object) (keys are up to 1023 bytes). */
export const objects = defineTable(
  'usage_quota_objects',
  {
    objectHash: { type: 'string', maxLength: 64 },
    bucket: { type: 'string', maxLength: 63 },
    object: { type: 'text' },
    owner: { type: 'string', maxLength: 128 },
    size: { type: 'bigint' },
    etag: { type: 'string', maxLength: 128 },
    updatedAt: { type: 'timestamp' },
  },
  { primaryKey: ['objectHash'], indexes: [['owner']] },
);

/** One row per upload (the idempotency record), with what it did. */
export const uploads = defineTable(
  'usage_quota_uploads',
  {
    id: { type: 'string', maxLength: 36 },
    idempotencyKey: { type: 'string', maxLength: 160 },
    objectHash: { type: 'string', maxLength: 64 },
    owner: { type: 'string', maxLength: 128 },
    size: { type: 'bigint' },
    deltaBytes: { type: 'bigint' },
    usedBytes: { type: 'bigint' },
    quotaBytes: { type: 'bigint' },
    overQuota: { type: 'bool' },
    receivedAt: { type: 'timestamp' },
  },
  { primaryKey: ['id'], unique: [['idempotencyKey']], indexes: [['owner', 'receivedAt']] },
);
