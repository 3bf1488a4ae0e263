/**
 * `GET /healthz` of the local server: a list of checks, each a real round trip to a dependency with a
 * short timeout. The reply is 200 `{"status":"ok",…}` when every check passes and 503
 * `{"status":"down",…}` when one fails, with each check's outcome (its error code and message, never
 * a secret):
 *
 *   {"status":"down","checks":{"store":{"status":"down","ms":2001,"code":"StoreUnavailable","message":"…"}}}
 *
 * The checks are pluggable: `storeCheck` (an empty transaction, i.e. BEGIN and COMMIT on the
 * datastore) is the default; `ossCheck` (a signed HEAD of a key that need not exist, in an allowed
 * bucket: 404 NoSuchKey proves OSS answers and accepts the credentials) is added when object
 * verification is on (OSS_VERIFY_OBJECTS=head); more are `HealthCheck`s in `LocalServerOptions.checks`.
 */
import type { CoreConfig } from '../core/config.js';
import { probeOss } from '../core/oss-head.js';
import { type PlatformContext, resolveAccount, resolveCredentials } from '../core/platform.js';
import { ossEndpoint } from '../core/verify-object.js';
import { CallbackError, isCallbackError } from '../protocol/errors.js';
import { getStore, storeLabel } from '../store/index.js';

export interface HealthCheck {
  /** The key in the reply's `checks`, e.g. `store`, `oss`. */
  readonly name: string;
  /** Resolves (optionally with extra JSON-safe fields) when the dependency answered; rejects otherwise. */
  run(signal: AbortSignal): Promise<Record<string, unknown> | void>;
}

export interface CheckOutcome {
  status: 'ok' | 'down';
  ms: number;
  code?: string;
  message?: string;
  [field: string]: unknown;
}

export interface HealthReport {
  status: 'ok' | 'down';
  checks: Record<string, CheckOutcome>;
}

/** How long one check may take before it counts as down. */
export const HEALTH_CHECK_TIMEOUT_MS = 2000;

/** The datastore of `databaseUrl`, through the process's shared store: one empty transaction. */
export function storeCheck(databaseUrl: string): HealthCheck {
  const label = storeLabel(databaseUrl);
  return {
    name: 'store',
    async run(signal) {
      const store = await getStore(databaseUrl);
      await store.transaction(async () => undefined, { signal });
      return { store: label };
    },
  };
}

/**
 * OSS, as the object check reaches it (OSS_ENDPOINT or the region's internal endpoint, OSS_PATH_STYLE,
 * the platform's or ALIBABA_CLOUD_* credentials): a signed HEAD in `bucket` (default: the first bucket
 * of OSS_ALLOWED_BUCKETS; `examplebucket` when that is `*`, a local run). Undefined when
 * OSS_VERIFY_OBJECTS=off: then callbacks do not depend on OSS.
 */
export function ossCheck(config: Pick<CoreConfig, 'objects' | 'allowedBuckets'>, options: { bucket?: string; platform?: PlatformContext } = {}): HealthCheck | undefined {
  if (config.objects.verify !== 'head') return undefined;
  const named = config.allowedBuckets instanceof Set ? [...config.allowedBuckets][0] : undefined;
  const bucket = options.bucket ?? named ?? 'examplebucket';
  return {
    name: 'oss',
    async run(signal) {
      const region = resolveAccount(options.platform).region;
      const endpoint = ossEndpoint(config.objects, region);
      const credentials = resolveCredentials(options.platform);
      if (!credentials) {
        throw new CallbackError('Internal', 'configuration error: no credentials to ask OSS with: set ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (or OSS_VERIFY_OBJECTS=off)');
      }
      const reply = await probeOss(bucket, { endpoint, region: region ?? 'cn-hangzhou', pathStyle: config.objects.pathStyle, credentials, timeoutMs: HEALTH_CHECK_TIMEOUT_MS, signal });
      return { endpoint, bucket, ...(reply.requestId ? { requestId: reply.requestId } : {}) };
    },
  };
}

/** Runs every check at once, each within `timeoutMs`. */
export async function runHealthChecks(checks: readonly HealthCheck[], timeoutMs = HEALTH_CHECK_TIMEOUT_MS): Promise<HealthReport> {
  const outcomes = await Promise.all(checks.map(async (check) => [check.name, await runOne(check, timeoutMs)] as const));
  return {
    status: outcomes.every(([, outcome]) => outcome.status === 'ok') ? 'ok' : 'down',
    checks: Object.fromEntries(outcomes),
  };
}

async function runOne(check: HealthCheck, timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new CallbackError('DeadlineExceeded', `${check.name} did not answer within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  const ms = () => Math.round(performance.now() - started);
  try {
    const running = check.run(controller.signal);
    running.catch(() => {}); // settled after the timeout: already reported
    const extra = await Promise.race([running, timedOut]);
    return { status: 'ok', ms: ms(), ...(extra ?? {}) };
  } catch (error) {
    const code = isCallbackError(error) ? error.code : 'Internal';
    const message = isCallbackError(error) ? error.message : `${check.name} check failed: ${error instanceof Error ? error.name : 'error'}`;
    return { status: 'down', ms: ms(), code, message };
  } finally {
    clearTimeout(timer);
  }
}
