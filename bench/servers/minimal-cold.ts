/**
 * The baseline of the cold-start benchmark (bench/cold-start.ts): a minimal FC 3.0 handler for
 * record-upload callbacks, bundled like the functions (esbuild, CommonJS, minified, `pg` loaded from
 * the same driver bundle under node_modules). On its first invocation, in a fresh process, it reads
 * the trusted key from OSS_PUBLIC_KEYS_FILE, requires `pg`, connects to DATABASE_URL and sends one raw
 * `INSERT … ON CONFLICT DO NOTHING RETURNING` (bench/lib/minimal-params.ts: RSA-MD5 verify,
 * URLSearchParams), then answers the same 200 JSON reply as record-upload. No schema check, no
 * validation, no bucket check: the floor of a cold start, not a handler to deploy.
 *
 * The statement text is the store's own for record-upload's table, put in at build time (`define`).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Client } from 'pg';
import { minimalParamsWithKey } from '../lib/minimal-params.js';

declare const MINIMAL_INSERT_SQL: string;

interface Fc3Event {
  rawPath?: string;
  body?: string;
  isBase64Encoded?: boolean;
  headers?: Record<string, string>;
  requestContext?: { timeEpoch?: string; requestId?: string };
}

let key: KeyObject | undefined;
let client: Promise<Client> | undefined;

/** Loads the driver on first use, as the functions do (`import()`, a `require()` in the bundle). */
async function connect(): Promise<Client> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await c.connect();
  return c;
}

export async function handler(payload: Buffer | string, _context: unknown): Promise<{ statusCode: number; headers: Record<string, string>; body: string; isBase64Encoded: false }> {
  const event = JSON.parse(payload.toString()) as Fc3Event;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  let statusCode = 200;
  let reply: string;
  try {
    key ??= createPublicKey(Object.values(JSON.parse(readFileSync(process.env.OSS_PUBLIC_KEYS_FILE!, 'utf8')) as Record<string, string>)[0]!);
    const params = minimalParamsWithKey(
      key,
      { method: 'POST', rawPath: event.rawPath ?? '/', rawQuery: null, headers, body, requestId: event.requestContext?.requestId ?? '', receivedAt: Date.now() },
      (date) => date.toISOString(),
    );
    client ??= connect();
    const result = await (await client).query(MINIMAL_INSERT_SQL, params);
    reply = JSON.stringify({ id: (result.rows[0] as { id?: string } | undefined)?.id ?? params[0], duplicate: result.rows.length === 0 });
  } catch (error) {
    statusCode = 500;
    reply = JSON.stringify({ error: { code: 'Internal', message: String(error) } });
  }
  return { statusCode, headers: { 'content-type': 'application/json; charset=utf-8' }, body: reply, isBase64Encoded: false };
}
