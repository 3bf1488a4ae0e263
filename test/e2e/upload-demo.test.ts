/**
 * The demo page in a real headless Chromium against `npm start`: sign in as a demo user, pick a file,
 * get a policy from upload-policy through the page, and post the form to where the policy says.
 * Here OSS is a closed loopback port, so the page must report the failed upload by its URL;
 * with the local OSS emulator running (LOCAL_OSS_URL), the upload, the callback's reply and the
 * owner's records follow.
 */
import assert from 'node:assert/strict';
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
      assert.match(reply.key, /^uploads\/alice\/[A-Za-z0-9_-]{22}\.txt$/);
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
