/**
 * The local OSS emulator (oss-emulator): an OSS-compatible endpoint for development, so real
 * uploaders (ali-oss, a browser form, presigned URLs) upload to the local functions with callbacks
 * exactly as OSS makes them, and local functions that handle OSS events get them.
 *
 * Development only: it lives in shared/testing and no function imports it
 * (test/integration/bundle-contents.test.ts proves no bundle contains it).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { SigningKey } from '../simulator/index.js';
import type { Credentials } from './auth/index.js';
import { type CorsOrigins } from './cors.js';
import { type AnyEventTarget, createEventDelivery } from './events.js';
import { createOssHandler } from './server.js';
import { Storage } from './storage.js';

export interface OssEmulatorOptions {
  /** Default 9001; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Where objects are kept (default `.data/oss`). */
  dataDir?: string;
  /** Buckets served: `'*'` (any) or a set of names. Default `'*'`. */
  buckets?: '*' | ReadonlySet<string>;
  /** The key pair requests must be signed with. Default: the local development pair. */
  credentials?: Credentials;
  /** Default: FC_REGION, else cn-hangzhou. */
  region?: string;
  /** The bucket owner's account id in events (default FC_ACCOUNT_ID, else 0000000000000000). */
  accountId?: string;
  /** The key callbacks are signed with (default: the simulator's development key). */
  callbackKey?: SigningKey;
  /** Per callback URL (OSS: 5000). */
  callbackTimeoutMs?: number;
  /** Origins allowed by CORS: `'*'` (default) or a list. */
  corsOrigins?: CorsOrigins;
  /**
   * Who gets OSS events: one deliver function or a list of them; a `{ deliver, prefix, suffix }`
   * target gets only the events of keys its filter matches (a native OSS trigger's key filter).
   */
  eventTargets?: AnyEventTarget | readonly AnyEventTarget[];
  /** Retries of a failed event delivery (FC's default for async invocations: 3). */
  eventRetries?: number;
  /** Delay before retry n, 1-based (default 1 s, 2 s, 4 s). */
  eventRetryDelayMs?: (retry: number) => number;
  /** One JSON line per request and per event delivery. */
  log?: (line: Record<string, unknown>) => void;
}

export interface OssEmulator {
  /** e.g. http://127.0.0.1:9001 */
  url: string;
  port: number;
  host: string;
  dataDir: string;
  region: string;
  credentials: Credentials;
  /** Resolves when no event delivery is pending (retries included). */
  eventsIdle(): Promise<void>;
  close(): Promise<void>;
}

/** The local FC API's development pair, which the local OSS accepts too (scripts/local-env.ts LOCAL_FC_DEV_KEY). */
export const DEFAULT_CREDENTIALS: Credentials = { accessKeyId: 'local-dev-access-key-id', accessKeySecret: 'local-dev-access-key-secret' };
export const DEFAULT_PORT = 9001;

export async function startOssEmulator(options: OssEmulatorOptions = {}): Promise<OssEmulator> {
  const host = options.host ?? '127.0.0.1';
  const dataDir = resolve(options.dataDir ?? '.data/oss');
  const region = options.region ?? (process.env.FC_REGION?.trim() || 'cn-hangzhou');
  const credentials = options.credentials ?? DEFAULT_CREDENTIALS;
  const log = options.log ?? (() => {});
  const targets = options.eventTargets;
  const events = createEventDelivery({
    targets: targets === undefined ? [] : Array.isArray(targets) ? (targets as readonly AnyEventTarget[]) : [targets as AnyEventTarget],
    retries: options.eventRetries,
    retryDelayMs: options.eventRetryDelayMs,
    log,
  });
  const handler = createOssHandler({
    storage: new Storage(dataDir),
    buckets: options.buckets ?? '*',
    credentials,
    region,
    accountId: options.accountId ?? (process.env.FC_ACCOUNT_ID?.trim() || '0000000000000000'),
    callbackKey: options.callbackKey,
    callbackTimeoutMs: options.callbackTimeoutMs,
    corsOrigins: options.corsOrigins ?? '*',
    events,
    log,
    now: Date.now,
  });
  const server = createServer(handler);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? DEFAULT_PORT, host, () => done());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    host,
    dataDir,
    region,
    credentials,
    eventsIdle: () => events.idle(),
    close: async () => {
      events.close();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    },
  };
}

export type { AnyEventTarget, EventTarget, FilteredEventTarget, OssEventInput, OssEventName, OssEventRecord } from './events.js';
export { createEventDelivery, eventTime, ossEventPayload, ossEventRecord, targetWants } from './events.js';
export { parseCorsOrigins, type CorsOrigins } from './cors.js';
export type { Credentials } from './auth/index.js';
