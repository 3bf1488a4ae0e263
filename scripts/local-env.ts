/**
 * Defaults for local runs (`npm start`, `npm run invoke`), never for deployed functions:
 * any bucket is allowed and the development test key is trusted, unless configured otherwise.
 * Returns the notices to print.
 */
import { resolve } from 'node:path';

export const DEV_KEYS_FILE = resolve(import.meta.dirname, '..', 'test', 'fixtures', 'keys', 'public-keys.json');

export function applyLocalDefaults(env: NodeJS.ProcessEnv = process.env): string[] {
  const notices: string[] = [];
  if (!env.OSS_ALLOWED_BUCKETS?.trim()) {
    env.OSS_ALLOWED_BUCKETS = '*';
    notices.push('OSS_ALLOWED_BUCKETS is not set: accepting callbacks from ANY bucket (local runs only; deployed functions refuse all until it is set)');
  }
  if (env.OSS_PUBLIC_KEYS_FILE === undefined) {
    env.OSS_PUBLIC_KEYS_FILE = DEV_KEYS_FILE;
    notices.push('OSS_PUBLIC_KEYS_FILE is not set: trusting the development test key from test/fixtures/keys (set OSS_PUBLIC_KEYS_FILE="" to trust only OSS)');
  }
  return notices;
}
