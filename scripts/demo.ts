/**
 * The direct-upload demo of `npm start` (local runs only; never part of a function bundle):
 *  - `GET /` and `GET /demo/<file>`: the page in web/demo/ (plain HTML and JavaScript, no build);
 *  - `POST /dev/token` `{"name"}` → `{"token","owner","expiresAt"}`: a development sign-in JWT (HS256,
 *    UPLOAD_JWT_SECRET), standing in for the application's own sign-in;
 *  - `GET /dev/config` → `{"jobs","uploadUrl"}`: what the page offers;
 *  - `GET /dev/records?owner=…` → the owner's records and usage from the datastore (usage-quota,
 *    image-upload and record-upload tables).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { SignJWT } from 'jose';
import { DEFAULT_UPLOAD_KEY_PREFIX } from '../shared/core/event-filter.js';
import type { Job } from '../shared/core/job.js';
import type { Runtime } from '../shared/core/pipeline.js';
import type { Table } from '../shared/store/types.js';

export const WEB_DIR = resolve(import.meta.dirname, '..', 'web', 'demo');
const OWNER = /^[A-Za-z0-9][A-Za-z0-9._@|:+=-]{0,127}$/;
const STATIC: Record<string, string> = {
  '/': 'index.html',
  '/demo/app.js': 'app.js',
  '/demo/style.css': 'style.css',
};
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length), 'cache-control': 'no-store' });
  res.end(body);
}

const refuse = (res: ServerResponse, status: number, code: string, message: string) => send(res, status, { error: { code, message } });

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolveBody) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 4096) chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolveBody(size > 4096 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolveBody(undefined);
      }
    });
  });
}

export interface DemoOptions {
  jobs: readonly Job[];
  runtime: Runtime;
  env?: NodeJS.ProcessEnv;
}

/** The demo's routes: `handle(req, res)` answers and returns true, or returns false for other paths. */
export function createDemo(options: DemoOptions) {
  const env = options.env ?? process.env;
  const jobsByName = new Map(options.jobs.map((job) => [job.name, job]));
  const table = (job: string, name: string): { job: Job; table: Table<any> } | undefined => {
    const found = jobsByName.get(job);
    const t = found?.tables.find((candidate) => candidate.name === name);
    return found && t ? { job: found, table: t } : undefined;
  };

  async function records(owner: string) {
    // record-upload's uploads through upload-policy: <UPLOAD_KEY_PREFIX>/record-upload/<owner>/…
    const prefix = `${env.UPLOAD_KEY_PREFIX || DEFAULT_UPLOAD_KEY_PREFIX}/record-upload/${owner}/`;
    const out: Record<string, unknown> = { owner };
    const quotaOwners = table('usage-quota', 'usage_quota_owners');
    const quotaUploads = table('usage-quota', 'usage_quota_uploads');
    const images = table('image-upload', 'image_upload_images');
    const registry = table('record-upload', 'oss_uploads');
    if (quotaOwners && quotaUploads) {
      const store = await options.runtime.storeFor(quotaOwners.job);
      out.usage = (await store.transaction((tx) => tx.get(quotaOwners.table, { owner }))) ?? null;
      out.quotaUploads = await store.transaction((tx) => tx.find(quotaUploads.table, { owner }, { orderBy: 'receivedAt', descending: true, limit: 10 }));
    }
    if (images) {
      const store = await options.runtime.storeFor(images.job);
      out.images = await store.transaction((tx) => tx.find(images.table, { owner }, { orderBy: 'receivedAt', descending: true, limit: 10 }));
    }
    if (registry) {
      const store = await options.runtime.storeFor(registry.job);
      // Keys under <prefix>/record-upload/<owner>/: '0' is the character after '/'.
      const range = { gte: prefix, lt: `${prefix.slice(0, -1)}0` };
      out.records = await store.transaction((tx) => tx.find(registry.table, { object: range }, { orderBy: 'receivedAt', descending: true, limit: 10 }));
    }
    return out;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://local');
    const file = STATIC[url.pathname];
    if (file && (req.method === 'GET' || req.method === 'HEAD')) {
      req.resume();
      const body = readFileSync(join(WEB_DIR, file));
      res.writeHead(200, { 'content-type': TYPES[file.split('.').pop()!]!, 'content-length': String(body.length), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (url.pathname === '/dev/config' && req.method === 'GET') {
      req.resume();
      const offered = env.UPLOAD_JOBS?.trim() ? env.UPLOAD_JOBS.split(',').map((j) => j.trim()) : options.jobs.map((j) => j.name);
      send(res, 200, { jobs: offered, uploadUrl: env.UPLOAD_URL ?? null, bucket: env.UPLOAD_BUCKET ?? null });
      return true;
    }
    if (url.pathname === '/dev/token' && req.method === 'POST') {
      const body = (await readJson(req)) as { name?: unknown } | undefined;
      const name = typeof body?.name === 'string' ? body.name.trim() : '';
      if (!OWNER.test(name)) return refuse(res, 400, 'InvalidRequest', 'send {"name"}: 1-128 letters, digits and . _ @ | : + = -'), true;
      const secret = env.UPLOAD_JWT_SECRET;
      if (!secret) return refuse(res, 404, 'DevTokenUnavailable', 'development sign-in needs UPLOAD_JWT_SECRET (HS256); with UPLOAD_JWKS_URL use your identity provider\'s tokens'), true;
      const expiresAt = Math.floor(Date.now() / 1000) + 3600;
      let jwt = new SignJWT({ name }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(name).setIssuedAt().setExpirationTime(expiresAt);
      if (env.UPLOAD_JWT_ISSUER) jwt = jwt.setIssuer(env.UPLOAD_JWT_ISSUER);
      if (env.UPLOAD_JWT_AUDIENCE) jwt = jwt.setAudience(env.UPLOAD_JWT_AUDIENCE);
      send(res, 200, { token: await jwt.sign(new TextEncoder().encode(secret)), owner: name, expiresAt: new Date(expiresAt * 1000).toISOString() });
      return true;
    }
    if (url.pathname === '/dev/records' && req.method === 'GET') {
      req.resume();
      const owner = url.searchParams.get('owner') ?? '';
      if (!OWNER.test(owner)) return refuse(res, 400, 'InvalidRequest', 'give ?owner=<the signed-in name>'), true;
      try {
        send(res, 200, await records(owner));
      } catch (error) {
        refuse(res, 503, 'StoreUnavailable', (error as Error).message);
      }
      return true;
    }
    return false;
  }
  return { handle };
}
