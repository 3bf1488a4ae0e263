/**
 * The demo page in a real headless Chromium against `npm start`: sign in as a demo user, pick a file,
 * get a policy from upload-policy through the page, and post the form to where the policy says.
 *  - OSS a closed loopback port: the page reports the failed upload by its URL;
 *  - `npm start` with its local OSS endpoint (OSS_EMULATOR_PORT on a free port): the whole flow,
 *    page → upload-policy → the emulator → the usage-quota callback → the datastore → the page, with
 *    the store and the emulator read directly; and, from the page's own context, the policy's limits:
 *    a replay of the same form is 409 FileAlreadyExists, a larger file than the policy allows is
 *    400 EntityTooLarge.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyUploadToken } from '../../shared/core/upload-token.js';
import { LOCAL_UPLOAD_DEV_SECRETS } from '../../scripts/local-env.js';
import { browserUnavailable, launchBrowser, withPage } from '../helpers/browser.js';
import { type LocalServer, startLocalServer } from '../helpers/server.js';

const unavailable = browserUnavailable();
if (unavailable && process.env.CI === 'true') throw new Error(`browser tests must run under CI=true: ${unavailable}`);

/** A loopback port with nothing listening: an unreachable OSS. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('demo page in Chromium', { skip: unavailable }, () => {
  let server: LocalServer;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let ossUrl = '';
  before(async () => {
    ossUrl = `http://127.0.0.1:${await closedPort()}`;
    const dbFile = join(mkdtempSync(join(tmpdir(), 'oss-cb-demo-')), 'callbacks.db');
    server = await startLocalServer({ DATABASE_URL: `sqlite:${dbFile}`, LOCAL_OSS_URL: ossUrl, UPLOAD_JWT_SECRET: undefined, UPLOAD_TOKEN_SECRET: undefined, UPLOAD_URL: undefined, UPLOAD_BUCKET: undefined, UPLOAD_CALLBACK_BASE_URL: undefined, UPLOAD_ALLOWED_ORIGINS: undefined, UPLOAD_JOBS: undefined });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    server?.stop();
  });

  it('signs in, gets a policy for the chosen job and posts the form to the policy URL', async () => {
    await withPage(browser.context, 'demo-sign-in-and-policy', async (page) => {
      await page.goto(`${server.base}/`);
      await page.locator('#job option[value="usage-quota"]').waitFor({ state: 'attached' });
      assert.equal(await page.locator('#upload').isDisabled(), true);
      await page.fill('#name', 'alice');
      await page.click('#signin');
      await page.locator('#who', { hasText: 'Signed in as alice' }).waitFor();
      await page.locator('#usage', { hasText: 'alice has no usage yet' }).waitFor();
      await page.selectOption('#job', 'usage-quota');
      await page.setInputFiles('#file', { name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from('hello, OSS\n') });
      await page.click('#upload');
      await page.locator('#upload-status', { hasText: 'failed' }).waitFor();

      assert.deepEqual(JSON.parse((await page.textContent('#policy-request'))!), { job: 'usage-quota', filename: 'hello.txt', contentType: 'text/plain', size: 11 });
      const reply = JSON.parse((await page.textContent('#policy-reply'))!);
      assert.equal(reply.url, `${ossUrl}/local-bucket`);
      assert.match(reply.key, /^uploads\/usage-quota\/alice\/[A-Za-z0-9_-]{22}\.txt$/);
      assert.equal(reply.fields.key, reply.key);
      assert.equal(reply.fields['Content-Type'], 'text/plain');
      const callback = JSON.parse(Buffer.from(reply.fields.callback, 'base64').toString());
      const url = new URL(callback.callbackUrl);
      assert.equal(`${url.origin}${url.pathname}`, `${server.base}/usage-quota`);
      const check = verifyUploadToken(url.searchParams.get('upload_token')!, { bucket: 'local-bucket', key: reply.key, job: 'usage-quota' }, LOCAL_UPLOAD_DEV_SECRETS.token);
      assert.ok(check.ok && check.claims.owner === 'alice');
      assert.match((await page.textContent('#upload-status'))!, new RegExp(`the upload to ${ossUrl}/local-bucket failed`));
    });
  });

  it('shows the refusal of upload-policy when the job does not accept the type of the file', async () => {
    await withPage(browser.context, 'demo-too-large', async (page) => {
      await page.goto(`${server.base}/`);
      await page.locator('#job option[value="image-upload"]').waitFor({ state: 'attached' });
      await page.fill('#name', 'bob');
      await page.click('#signin');
      await page.locator('#who', { hasText: 'Signed in as bob' }).waitFor();
      await page.selectOption('#job', 'image-upload');
      await page.setInputFiles('#file', { name: 'drawing.svg', mimeType: 'image/svg+xml', buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>') });
      await page.click('#upload');
      await page.locator('#upload-status', { hasText: 'No policy' }).waitFor();
      assert.match((await page.textContent('#upload-status'))!, /ContentTypeNotAllowed: image-upload accepts image\/jpeg/);
    });
  });
});

/** A free loopback port for the emulator (the server itself takes PORT=0). */
async function freePort(): Promise<number> {
  return closedPort();
}

describe('demo page in Chromium, with the local OSS endpoint: the whole upload', { skip: unavailable }, () => {
  const MAX_BYTES = 65536;
  let server: LocalServer;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let ossUrl = '';
  let dbFile = '';
  before(async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'oss-cb-demo-full-'));
    dbFile = join(tmp, 'callbacks.db');
    server = await startLocalServer({
      DATABASE_URL: `sqlite:${dbFile}`,
      OSS_EMULATOR_PORT: String(await freePort()),
      OSS_EMULATOR_DATA_DIR: join(tmp, 'oss'),
      UPLOAD_MAX_BYTES: String(MAX_BYTES),
      LOCAL_OSS_URL: undefined, UPLOAD_JWT_SECRET: undefined, UPLOAD_TOKEN_SECRET: undefined, UPLOAD_URL: undefined, UPLOAD_BUCKET: undefined,
      UPLOAD_CALLBACK_BASE_URL: undefined, UPLOAD_ALLOWED_ORIGINS: undefined, UPLOAD_JOBS: undefined, USAGE_QUOTA_DEFAULT_BYTES: undefined,
    });
    ossUrl = /local OSS \(emulator\) on (http:\/\/\S+)/.exec(server.banner)?.[1] ?? '';
    assert.match(ossUrl, /^http:\/\/127\.0\.0\.1:\d+$/, server.banner);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    server?.stop();
  });

  /** The rows of the local server's embedded store, read directly (not through the page). */
  function query(sql: string, ...params: unknown[]): Record<string, unknown>[] {
    const Database = createRequire(import.meta.url)('libsql');
    const db = new Database(dbFile, { readonly: true });
    try {
      return db.prepare(sql).all(...params);
    } finally {
      db.close();
    }
  }

  it('signs in, uploads a file to the local OSS (progress 100%), shows the callback reply and the owner\'s usage; the store has the record', async () => {
    await withPage(browser.context, 'demo-full-upload', async (page) => {
      const content = Buffer.alloc(40_000, 'a');
      await page.goto(`${server.base}/`);
      await page.locator('#job option[value="usage-quota"]').waitFor({ state: 'attached' });
      await page.fill('#name', 'dora');
      await page.click('#signin');
      await page.locator('#usage', { hasText: 'dora has no usage yet' }).waitFor();
      await page.selectOption('#job', 'usage-quota');
      await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: content });
      await page.click('#upload');
      await page.locator('#upload-status', { hasText: 'Uploaded: HTTP 200, the callback answered.' }).waitFor();
      assert.equal(await page.locator('#progress').evaluate((el) => (el as unknown as { value: number }).value), 100);

      const policy = JSON.parse((await page.textContent('#policy-reply'))!);
      assert.equal(policy.url, `${ossUrl}/local-bucket`);
      assert.equal(policy.maxBytes, MAX_BYTES);
      // The callback's JSON, as OSS passed it through to the browser.
      const reply = JSON.parse((await page.textContent('#callback-reply'))!);
      assert.match(reply.id, /^[0-9a-f-]{36}$/);
      assert.equal(reply.owner, 'dora');
      assert.equal(reply.sizeBytes, content.length);
      assert.equal(reply.deltaBytes, content.length);
      assert.equal(reply.usedBytes, content.length);
      assert.equal(reply.duplicate, false);
      // The owner's usage, on the page (GET /dev/records).
      await page.locator('#usage', { hasText: `dora stores ${content.length} bytes in 1 object(s).` }).waitFor();

      // The store, read directly.
      const uploads = query('SELECT * FROM usage_quota_uploads WHERE id = ?', reply.id);
      assert.equal(uploads.length, 1);
      assert.equal(uploads[0]!.owner, 'dora');
      assert.equal(Number(uploads[0]!.size), content.length);
      const owners = query('SELECT * FROM usage_quota_owners WHERE owner = ?', 'dora');
      assert.equal(Number(owners[0]!.used_bytes), content.length);
      assert.equal(Number(owners[0]!.object_count), 1);
      const objects = query('SELECT * FROM usage_quota_objects WHERE owner = ?', 'dora');
      assert.deepEqual(objects.map((o) => o.object), [policy.key]);

      // And the object in the local OSS, through ali-oss with the local key pair.
      const OSS = createRequire(import.meta.url)('ali-oss');
      const oss = new OSS({ endpoint: ossUrl, region: 'oss-cn-hangzhou', bucket: 'local-bucket', accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' });
      const head = await oss.head(policy.key);
      assert.equal(head.res.headers['content-length'], String(content.length));
      assert.equal(head.res.headers['content-type'], 'text/plain');

      // From the page's own context: the same form again (a replay) is refused, nothing changes.
      const replay = await page.evaluate(async ({ url, fields }) => {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields as Record<string, string>)) form.append(name, value);
        form.append('file', new Blob(['replayed'], { type: 'text/plain' }), 'notes.txt');
        const response = await fetch(url, { method: 'POST', body: form });
        return { status: response.status, text: await response.text() };
      }, { url: policy.url, fields: policy.fields });
      assert.equal(replay.status, 409, replay.text);
      assert.match(replay.text, /<Code>FileAlreadyExists<\/Code>/);
      assert.equal(query('SELECT * FROM usage_quota_uploads WHERE owner = ?', 'dora').length, 1);

      // The owner comes from the upload token, not from an x:owner the uploader adds to the form.
      const forged = await page.evaluate(async () => {
        const signIn = (await (await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'dora' }) })).json()) as { token: string };
        const p = (await (
          await fetch('/upload-policy', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${signIn.token}` },
            body: JSON.stringify({ job: 'usage-quota', filename: 'x.txt', contentType: 'text/plain', size: 3 }),
          })
        ).json()) as { url: string; fields: Record<string, string> };
        const form = new FormData();
        for (const [n, v] of Object.entries({ ...p.fields, 'x:owner': 'mallory' })) form.append(n, v);
        form.append('file', new Blob(['abc'], { type: 'text/plain' }), 'x.txt');
        const r = await fetch(p.url, { method: 'POST', body: form });
        return { status: r.status, text: await r.text() };
      });
      assert.equal(forged.status, 200, forged.text);
      assert.equal(JSON.parse(forged.text).owner, 'dora');
      assert.equal(query('SELECT * FROM usage_quota_owners WHERE owner = ?', 'mallory').length, 0);
    });
  });

  it('from the page: a policy for a small file cannot carry more than its limit (EntityTooLarge); a larger file gets no policy', async () => {
    await withPage(browser.context, 'demo-too-large-for-policy', async (page) => {
      await page.goto(`${server.base}/`);
      await page.locator('#job option[value="record-upload"]').waitFor({ state: 'attached' });
      // Declare 10 bytes, post MAX_BYTES + 1: the policy's content-length-range stops it at OSS.
      const result = await page.evaluate(async (size) => {
        const signIn = (await (await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'eve' }) })).json()) as { token: string };
        const policyResponse = await fetch('/upload-policy', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${signIn.token}` },
          body: JSON.stringify({ job: 'record-upload', filename: 'small.txt', contentType: 'text/plain', size: 10 }),
        });
        const policy = (await policyResponse.json()) as { url: string; key: string; maxBytes: number; fields: Record<string, string> };
        const form = new FormData();
        for (const [name, value] of Object.entries(policy.fields)) form.append(name, value);
        form.append('file', new Blob([new Uint8Array(size)], { type: 'text/plain' }), 'small.txt');
        const response = await fetch(policy.url, { method: 'POST', body: form });
        return { policyStatus: policyResponse.status, maxBytes: policy.maxBytes, key: policy.key, status: response.status, text: await response.text() };
      }, MAX_BYTES + 1);
      assert.equal(result.policyStatus, 200);
      assert.equal(result.maxBytes, MAX_BYTES);
      assert.equal(result.status, 400, result.text);
      assert.match(result.text, /<Code>EntityTooLarge<\/Code>/);
      assert.match(result.text, new RegExp(`<MaxSizeAllowed>${MAX_BYTES}</MaxSizeAllowed>`));
      assert.equal(query('SELECT * FROM oss_uploads WHERE object = ?', result.key).length, 0);

      // Through the page itself: a file above the limit is refused by upload-policy before any upload.
      await page.fill('#name', 'eve');
      await page.click('#signin');
      await page.locator('#who', { hasText: 'Signed in as eve' }).waitFor();
      await page.selectOption('#job', 'record-upload');
      await page.setInputFiles('#file', { name: 'big.txt', mimeType: 'text/plain', buffer: Buffer.alloc(MAX_BYTES + 1, 'b') });
      await page.click('#upload');
      await page.locator('#upload-status', { hasText: 'No policy' }).waitFor();
      assert.match((await page.textContent('#upload-status'))!, new RegExp(`UploadTooLarge: the file is ${MAX_BYTES + 1} bytes; record-upload accepts at most ${MAX_BYTES}`));
    });
  });
});
