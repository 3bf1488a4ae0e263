/**
 * `npm run reconcile` (scripts/reconcile.ts) against the local OSS emulator, uploaded to with the real
 * ali-oss client, whose events go nowhere (a lost trigger): objects without records and records
 * without objects are reported with exit 1; --fix feeds them through the job's event path, after
 * which record-upload and usage-quota agree with the bucket (exit 0) and usage is exact.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { job as recordUpload, uploads as records } from '../../functions/record-upload/index.js';
import { owners } from '../../functions/usage-quota/index.js';
import { job as usageQuota } from '../../functions/usage-quota/index.js';
import { handleObjectEvents } from '../../shared/core/events.js';
import { closeStores } from '../../shared/store/index.js';
import { DEFAULT_CREDENTIALS, type OssEmulator, startOssEmulator } from '../../shared/testing/oss-emulator/index.js';
import { parseReconcileArgs, reconcile } from '../../scripts/reconcile.js';
import { testRuntime } from '../helpers/callbacks.js';
import { tempSqlite } from '../helpers/stores.js';

const BUCKET = 'reconcilebucket';
const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => { put(key: string, body: Buffer): Promise<unknown>; delete(key: string): Promise<unknown> };
const dataDir = mkdtempSync(join(tmpdir(), 'reconcile-oss-'));
const db = tempSqlite();
let emulator: OssEmulator;

before(async () => {
  emulator = await startOssEmulator({ port: 0, dataDir, buckets: new Set([BUCKET]), region: 'cn-hangzhou' });
});
after(async () => {
  await emulator?.close();
  await closeStores();
  rmSync(dataDir, { recursive: true, force: true });
  db.remove();
});

const env = () => ({ ALIBABA_CLOUD_ACCESS_KEY_ID: DEFAULT_CREDENTIALS.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEFAULT_CREDENTIALS.accessKeySecret });

describe('npm run reconcile against the local OSS', () => {
  it('reports objects without records and records without objects (exit 1); --fix brings the records in line (exit 0)', async () => {
    const client = new OSS({ endpoint: emulator.url, region: 'oss-cn-hangzhou', bucket: BUCKET, ...DEFAULT_CREDENTIALS });
    for (const key of ['users/rita/a.bin', 'users/rita/b.bin', 'other/c.bin']) await client.put(key, Buffer.from(`content of ${key}`));
    const runtime = testRuntime({ databaseUrl: db.url, owner: { tokenSecret: undefined, tokenGraceSeconds: 3600, defaultFrom: ['x:owner'], vars: { USAGE_QUOTA_OWNER_KEY_PATTERN: '^users/([^/]+)/' } } });
    // A record whose object is gone (its delete event was lost).
    const gone = { kind: 'created' as const, name: 'ObjectCreated:PutObject', bucket: BUCKET, key: 'users/rita/gone.bin', etag: 'ABCDEF0123456789ABCDEF0123456789', size: 999, eventTime: new Date(Date.now() - 60_000) };
    await handleObjectEvents(recordUpload, [gone], runtime);
    await handleObjectEvents(usageQuota, [gone], runtime);

    const lines: string[] = [];
    const options = (fix: boolean, fn: string, prefix = '') => parseReconcileArgs(['--function', fn, '--bucket', BUCKET, '--endpoint', emulator.url, ...(prefix ? ['--prefix', prefix] : []), ...(fix ? ['--fix'] : [])], env());
    assert.equal(await reconcile(options(false, 'record-upload'), runtime, (line) => lines.push(line)), 1);
    assert.ok(lines.includes('objects without records: 3; records without objects: 1'), lines.join('\n'));
    assert.ok(lines.some((line) => /no object: {2}users\/rita\/gone\.bin/.test(line)), lines.join('\n'));

    lines.length = 0;
    assert.equal(await reconcile(options(true, 'record-upload'), runtime, (line) => lines.push(line)), 0, lines.join('\n'));
    const store = await runtime.storeFor(recordUpload);
    const live = await store.transaction((tx) => tx.find(records, { bucket: BUCKET, deletedAt: null }));
    assert.deepEqual(live.map((r) => r.object).sort(), ['other/c.bin', 'users/rita/a.bin', 'users/rita/b.bin']);
    assert.ok(live.every((r) => r.ossCreatedFrom === 'event'));
    assert.equal(await reconcile(options(false, 'record-upload'), runtime, () => {}), 0);

    // usage-quota, one prefix: rita is charged the objects she holds, and no longer the gone one.
    assert.equal((await (await runtime.storeFor(usageQuota)).transaction((tx) => tx.get(owners, { owner: 'rita' })))?.usedBytes, 999);
    assert.equal(await reconcile(options(true, 'usage-quota', 'users/'), runtime, () => {}), 0);
    const rita = await (await runtime.storeFor(usageQuota)).transaction((tx) => tx.get(owners, { owner: 'rita' }));
    assert.deepEqual([rita?.usedBytes, rita?.objectCount], [Buffer.byteLength('content of users/rita/a.bin') * 2, 2]);
  });

  it('misuse is refused with a message naming what is missing (the command then exits 2)', () => {
    assert.throws(() => parseReconcileArgs(['--bucket', BUCKET], env()), /usage: npm run reconcile/);
    assert.throws(() => parseReconcileArgs(['--function', 'record-upload', '--bucket', BUCKET, '--endpoint', 'http://127.0.0.1:1'], {}), /ALIBABA_CLOUD_ACCESS_KEY_ID/);
    assert.throws(() => parseReconcileArgs(['--function', 'record-upload', '--bucket', BUCKET], env()), /--endpoint/);
  });
});
