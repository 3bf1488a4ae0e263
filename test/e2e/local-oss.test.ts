/**
 * End to end, as the "done" reads: `npm start` (scripts/serve.ts, spawned) runs the local OSS
 * endpoint too, and unchanged ali-oss upload code pointed at it with the local key pair uploads with
 * a callback to the local record-upload function, which records the upload.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import { type LocalServer, startLocalServer } from '../helpers/server.js';

const tmp = mkdtempSync(join(tmpdir(), 'oss-cb-local-oss-'));
const dbFile = join(tmp, 'callbacks.db');
let server: LocalServer;
let ossUrl = '';

/** A free loopback port for the emulator (the server itself takes PORT=0). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

before(async () => {
  server = await startLocalServer({ DATABASE_URL: `sqlite:${dbFile}`, OSS_EMULATOR_PORT: String(await freePort()), OSS_EMULATOR_DATA_DIR: join(tmp, 'oss') });
  ossUrl = /local OSS \(emulator\) on (http:\/\/\S+)/.exec(server.banner)?.[1] ?? '';
});

after(() => server?.stop());

describe('npm start: the local OSS endpoint', () => {
  it('prints its address, the local key pair and an ali-oss snippet', () => {
    assert.match(ossUrl, /^http:\/\/127\.0\.0\.1:\d+$/, server.banner);
    assert.match(server.banner, /key pair: local-dev-access-key-id \/ local-dev-access-key-secret/);
    assert.match(server.banner, /new OSS\(\{ endpoint: 'http:\/\/127\.0\.0\.1:\d+'/);
  });

  it('ali-oss put with the record-upload callback: the function records it and its JSON is the upload response', async () => {
    const OSS = createRequire(import.meta.url)('ali-oss');
    const client = new OSS({ endpoint: ossUrl, region: 'oss-cn-hangzhou', bucket: 'examplebucket', accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' });
    const result = await client.put('e2e/local-oss.txt', Buffer.from('uploaded through the local OSS'), {
      callback: { url: `${server.base}/record-upload`, body: recordUpload.template.form },
    });
    assert.equal(result.res.status, 200);
    assert.equal(result.data.duplicate, false);
    assert.match(result.data.id, /^[0-9a-f-]{36}$/);
    const Database = createRequire(import.meta.url)('libsql');
    const db = new Database(dbFile, { readonly: true });
    try {
      const row = db.prepare('SELECT * FROM oss_uploads WHERE object = ?').get('e2e/local-oss.txt');
      assert.equal(row.oss_request_id, result.res.headers['x-oss-request-id']);
      assert.equal(Number(row.size), 30);
      assert.equal(row.operation, 'PutObject');
    } finally {
      db.close();
    }
  });
});
