/**
 * The per-upload jobs' tables are deployed: what `migrate()` runs for them (CREATE TABLE, indexes,
 * each named migration and its checksum) on SQLite, PostgreSQL and MySQL must stay as recorded in
 * test/fixtures/schema/job-tables.json, byte for byte, however the definitions are written
 * (shared columns such as OBJECT_COLUMNS included). A new migration regenerates the fixture
 * (test/fixtures/schema/generate-job-tables.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { uploads } from '../../../functions/record-upload/index.js';
import { defineTable } from '../../../shared/store/table.js';
import { sqliteDialect } from '../../../shared/store/sql.js';
import { FIXTURE, migrationTranscript, transcripts } from '../../fixtures/schema/generate-job-tables.js';

const recorded = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Awaited<ReturnType<typeof transcripts>>;

describe('job tables: the deployed schema does not change', () => {
  it('every statement and checksum on SQLite, PostgreSQL and MySQL is as recorded', async () => {
    const now = await transcripts();
    assert.deepEqual(Object.keys(now), Object.keys(recorded), 'the same tables');
    for (const [table, dialects] of Object.entries(now)) {
      for (const [dialect, planned] of Object.entries(dialects)) {
        assert.deepEqual(planned, recorded[table]![dialect], `${table} on ${dialect}`);
      }
    }
  });

  it('the comparison sees a change of one column option or of the column order', async () => {
    const columns = uploads.columns as Record<string, { type: any; maxLength?: number; nullable?: boolean }>;
    const options = { primaryKey: uploads.primaryKey, unique: uploads.unique, indexes: uploads.indexes, migrations: uploads.migrations };
    const longer = defineTable('oss_uploads', { ...columns, etag: { ...columns.etag!, maxLength: 129 } }, options as any);
    const { etag, ...rest } = columns;
    const reordered = defineTable('oss_uploads', { etag: etag!, ...rest }, options as any);
    const same = defineTable('oss_uploads', { ...columns }, options as any);
    const expected = recorded.oss_uploads!.sqlite!;
    assert.deepEqual(await migrationTranscript(sqliteDialect, same), expected);
    assert.notDeepEqual(await migrationTranscript(sqliteDialect, longer), expected);
    const moved = await migrationTranscript(sqliteDialect, reordered);
    assert.notDeepEqual(moved, expected);
    assert.notEqual(moved[0]!.checksum, expected[0]!.checksum, 'the order is part of the @1 checksum');
  });
});
