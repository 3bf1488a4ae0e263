/**
 * The hand-off: start another function with a JSON event by Function Compute ASYNCHRONOUS invocation
 * (`x-fc-invocation-type: Async`): FC stores the event, answers 202 at once and runs the function
 * later (retrying it on failure, per the function's asynchronous invocation settings), so a callback
 * that must answer OSS within 5 s can start work that takes minutes.
 *
 * Two FC APIs, one per kind of target function:
 *  - `fc2`: the FC 2.0 API (2016-08-15) through `@alicloud/fc2`, exactly
 *    `new FC(accountId, {…}).invokeFunction(service, function, event, { 'x-fc-invocation-type': 'Async' })`.
 *    That API addresses a function as service + function, so it reaches functions in an FC 2.0
 *    service (including ones created before FC 3.0, which keep working).
 *  - `fc3`: the FC 3.0 API (2023-03-30), `POST /2023-03-30/functions/{name}/invocations`, for
 *    functions created in FC 3.0 (no service), e.g. by this project's s.yaml (component fc3). Its
 *    client (./fc3-client.ts, ACS3-HMAC-SHA256) is loaded only when a hand-off uses it.
 *
 * Credentials: the FC context's (the calling function's role: it needs fc:InvokeFunction on the
 * target), else ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN. Account and region: the FC
 * context's, else FC_ACCOUNT_ID / FC_REGION. The endpoint defaults to
 * https://<account>.<region>.fc.aliyuncs.com; the local server (`npm start`) answers both APIs.
 */
import type { PlatformContext } from '../core/platform.js';
import { resolveAccount, resolveCredentials } from '../core/platform.js';

export type HandoffApi = 'fc2' | 'fc3';

export interface HandoffTarget {
  api: HandoffApi;
  functionName: string;
  /** `fc2` only: the service the function lives in. */
  serviceName?: string;
  /** A version or alias; default LATEST. */
  qualifier?: string;
  /** Overrides https://<account>.<region>.fc.aliyuncs.com (a VPC endpoint, the local server). */
  endpoint?: string;
  timeoutMs: number;
}

export interface HandoffResult {
  api: HandoffApi;
  /** FC's x-fc-request-id for the queued invocation. */
  requestId: string | undefined;
}

export class HandoffError extends Error {
  constructor(
    /** `HandoffNotConfigured`: no credentials, account or region; `HandoffFailed`: FC refused or could not be reached. */
    readonly code: 'HandoffNotConfigured' | 'HandoffFailed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HandoffError';
  }
}

type Fc2Client = typeof import('@alicloud/fc2');

let fc2Module: Promise<Fc2Client> | undefined;

/**
 * `@alicloud/fc2`, loaded on first use (preinstalled in the FC nodejs20 runtime; never bundled). The
 * deployed bundle is CommonJS, where `require` also searches NODE_PATH and the global folders in which
 * a runtime keeps preinstalled modules (ESM `import()` does not); under ESM (tsx, tests) it is import().
 */
function loadFc2(): Promise<Fc2Client> {
  fc2Module ??= (typeof require === 'function' ? Promise.resolve().then(() => require('@alicloud/fc2') as unknown) : import('@alicloud/fc2')).then(
    (module) => ((module as { default?: Fc2Client }).default ?? (module as unknown as Fc2Client)),
    (error: unknown) => {
      fc2Module = undefined;
      throw new HandoffError(
        'HandoffNotConfigured',
        `the FC 2.0 API client @alicloud/fc2 could not be loaded (${error instanceof Error ? error.message : String(error)}): the FC nodejs20 runtime preinstalls it; elsewhere run npm ci (it is a devDependency), or use the FC 3.0 API`,
        { cause: error },
      );
    },
  );
  return fc2Module;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  promise.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}

/** Queues an asynchronous invocation of `target` with `event` (JSON). Throws a HandoffError. */
export async function invokeAsync(
  target: HandoffTarget,
  event: unknown,
  platform: PlatformContext | undefined,
  options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<HandoffResult> {
  const env = options.env ?? process.env;
  const credentials = resolveCredentials(platform, env);
  const { accountId, region } = resolveAccount(platform, env);
  const missing = [
    credentials ? '' : 'credentials (give the function a role with fc:InvokeFunction, or set ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET)',
    accountId ? '' : 'the account id (FC_ACCOUNT_ID)',
    region ? '' : 'the region (FC_REGION)',
  ].filter(Boolean);
  if (!credentials || !accountId || !region) {
    throw new HandoffError('HandoffNotConfigured', `cannot invoke ${target.functionName}: no ${missing.join(', no ')}`);
  }
  const body = Buffer.from(typeof event === 'string' ? event : JSON.stringify(event), 'utf8');
  const endpoint = target.endpoint ?? `https://${accountId}.${region}.fc.aliyuncs.com`;
  const what = target.api === 'fc2' ? `${target.serviceName}/${target.functionName}` : target.functionName;
  try {
    if (target.api === 'fc2') {
      if (!target.serviceName) throw new HandoffError('HandoffNotConfigured', `the FC 2.0 API needs the service of ${target.functionName}`);
      const FC = await loadFc2();
      const client = new FC(accountId, {
        accessKeyID: credentials.accessKeyId,
        accessKeySecret: credentials.accessKeySecret,
        ...(credentials.securityToken ? { securityToken: credentials.securityToken } : {}),
        region,
        secure: true,
        endpoint,
        timeout: target.timeoutMs,
      });
      const response = await abortable(
        client.invokeFunction(target.serviceName, target.functionName, body, { 'x-fc-invocation-type': 'Async' }, target.qualifier),
        options.signal,
      );
      return { api: 'fc2', requestId: [response.headers['x-fc-request-id']].flat()[0] };
    }
    const { invokeFc3 } = await import('./fc3-client.js');
    const response = await invokeFc3({
      endpoint,
      functionName: target.functionName,
      ...(target.qualifier ? { qualifier: target.qualifier } : {}),
      credentials,
      body,
      timeoutMs: target.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { api: 'fc3', requestId: response.requestId };
  } catch (error) {
    if (error instanceof HandoffError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new HandoffError('HandoffFailed', `async invocation of ${what} (${target.api === 'fc2' ? 'FC 2.0 API' : 'FC 3.0 API'}, ${endpoint}) failed: ${message}`, { cause: error });
  }
}
