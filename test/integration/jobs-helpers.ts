/**
 * Helpers for the job tests (integration and end-to-end): a fresh database on each store, and signed
 * callbacks for a job's template.
 */
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { CallbackRequest } from '../../shared/core/http.js';
import type { Job } from '../../shared/core/job.js';
import type { PlatformContext } from '../../shared/core/platform.js';
import { body, JSON_TYPE, signedRequest } from '../helpers/callbacks.js';
import { withCustomVariables } from '../../shared/testing/fill.js';
import { MYSQL, POSTGRES, rawQuery, requireServer, tempSqlite, type TestServer } from '../helpers/stores.js';

export interface JobStore {
  name: string;
  server?: TestServer;
}

/** SQLite (embedded), then PostgreSQL and MySQL, which run where reachable (required in CI). */
export const JOB_STORES: readonly JobStore[] = [{ name: 'SQLite' }, { name: 'PostgreSQL', server: POSTGRES }, { name: 'MySQL', server: MYSQL }];

/**
 * A database of the test's own (empty tables, no leftovers of other runs or definitions), or
 * undefined when the server is not reachable (the test is then skipped, or fails in CI).
 */
export async function freshDatabase(t: TestContext, store: JobStore): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  if (!store.server) {
    const sqlite = tempSqlite();
    return { url: sqlite.url, drop: async () => sqlite.remove() };
  }
  if (!(await requireServer(t, store.server))) return undefined;
  const base = store.server.url;
  const mysql = base.startsWith('mysql');
  const name = `oss_cb_jobs_${randomBytes(4).toString('hex')}`;
  await rawQuery(base, mysql ? `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4` : `CREATE DATABASE "${name}"`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      if (!mysql) await rawQuery(base, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      await rawQuery(base, mysql ? `DROP DATABASE IF EXISTS \`${name}\`` : `DROP DATABASE IF EXISTS "${name}"`);
    },
  };
}

export const reqId = (): string => randomBytes(12).toString('hex').toUpperCase();

export interface CallbackOptions {
  json?: boolean;
  path?: string;
  platform?: PlatformContext;
}

/** The body OSS would send for `job`'s template with these values (custom `x:` values included). */
export function callbackBody(job: Job, values: Record<string, string | number | undefined>, json = false): string {
  const custom = Object.keys(values).filter((k) => k.startsWith('x:'));
  const template = withCustomVariables(json ? job.template.json : job.template.form, custom, json ? 'json' : 'form');
  return body(template, values, json ? 'json' : 'form');
}

/** A signed callback for `job`, as an adapter hands it to the core. */
export function jobCallback(job: Job, values: Record<string, string | number | undefined>, options: CallbackOptions = {}): CallbackRequest {
  const request = signedRequest(callbackBody(job, values, options.json), {
    path: options.path ?? `/${job.name}`,
    ...(options.json ? { contentType: JSON_TYPE } : {}),
  });
  return options.platform ? { ...request, platform: options.platform } : request;
}

/** Polls `check` until it returns a value (not undefined) or `ms` pass. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 5000, what = 'the condition'): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
