/**
 * End to end through `npm start` (spawned): ali-oss uploads to its local OSS with a callback, the
 * callback records the upload, and the emulator's OSS events (asynchronous, retried, as an FC OSS
 * trigger) reach the callback function whose key filter matches (s.yaml's defaults, `uploads/<job>/`):
 * the upload stays one record; deleting it with ali-oss marks the record deleted and lowers the owner's
 * usage.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import { job as usageQuota } from '../../functions/usage-quota/index.js';
import { closedPort } from '../helpers/oss-head-server.js';
import { type LocalServer, startLocalServer } from '../helpers/server.js';
import { eventually } from '../integration/jobs-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'oss-cb-events-e2e-'));
const dbFile = join(tmp, 'callbacks.db');
let server: LocalServer;
let ossUrl = '';

before(async () => {
  server = await startLocalServer({ DATABASE_URL: `sqlite:${dbFile}`, OSS_EMULATOR_PORT: String(await closedPort()), OSS_EMULATOR_DATA_DIR: join(tmp, 'oss'), OSS_VERIFY_OBJECTS: undefined, OSS_ENDPOINT: undefined });
  ossUrl = /local OSS \(emulator\) on (http:\/\/\S+)/.exec(server.banner)?.[1] ?? '';
});
after(() => server?.stop());

const Database = createRequire(import.meta.url)('libsql');
function query(sql: string, ...params: unknown[]): Record<string, unknown>[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare(sql).all(...params);
  } catch (error) {
    if (/no such table/.test(String(error))) return [];
    throw error;
  } finally {
    db.close();
  }
}

/** Each under its job's default event prefix (s.yaml, shared/core/event-filter.ts). */
const A = 'uploads/record-upload/e2e/a.txt';
const Q = 'uploads/usage-quota/evan/q.txt';

describe('npm start: OSS events reach the callback jobs', () => {
  it('upload with callback → one record; delete → marked deleted, usage lowered', async () => {
    const OSS = createRequire(import.meta.url)('ali-oss');
    const client = new OSS({ endpoint: ossUrl, region: 'oss-cn-hangzhou', bucket: 'examplebucket', accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' });
    const recorded = await client.put(A, Buffer.from('twenty bytes of data'), { callback: { url: `${server.base}/record-upload`, body: recordUpload.template.form } });
    assert.equal(recorded.res.status, 200);
    const counted = await client.put(Q, Buffer.from('0123456789'), {
      callback: { url: `${server.base}/usage-quota`, body: usageQuota.template.form, customValue: { owner: 'evan' } },
    });
    assert.equal(counted.data.usedBytes, 10, JSON.stringify(counted.data));
    // The upload's own event (delivered after the callback) joins the callback's record.
    await eventually(async () => (query('SELECT * FROM oss_uploads WHERE object = ? AND oss_created_from = ?', A, 'event').length === 1 ? true : undefined), 10_000, 'the PutObject event');
    assert.equal(query('SELECT * FROM oss_uploads WHERE object = ?', A).length, 1);

    await client.delete(A);
    await client.delete(Q);
    await eventually(async () => (query('SELECT * FROM oss_uploads WHERE object = ? AND deleted_at IS NOT NULL', A).length === 1 ? true : undefined), 10_000, 'record-upload marking the deletion');
    const evan = await eventually(async () => query('SELECT * FROM usage_quota_owners WHERE owner = ? AND used_bytes = 0', 'evan')[0], 10_000, 'usage-quota giving the bytes back');
    assert.equal(Number(evan.object_count), 0);
    assert.equal(query('SELECT * FROM oss_uploads WHERE object = ?', A).length, 1);
  });
});
