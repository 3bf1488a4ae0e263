/**
 * The callback pipeline every runtime adapter calls: method → size → signature → decode → bucket →
 * payload → owner binding → object check with OSS (HeadObject) → job, all inside the deadline; exactly
 * one JSON reply and one log line per callback.
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import {
  CallbackError,
  createKeyResolver,
  decodeBody,
  errorReply,
  isCallbackError,
  jsonReply,
  loadTrustedKeysFile,
  type KeyResolver,
  verifyCallbackSignature,
} from '../protocol/index.js';
import { getStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { bucketAllowed, type CoreConfig, configFromEnv, publicPath } from './config.js';
import type { CallbackRequest, CallbackResponse } from './http.js';
import type { Job, JobContext, JsonObject } from './job.js';
import { createLogger, type Logger } from './log.js';
import { objectIdempotencyKey } from './object.js';
import { type OwnerBinding, ownerBinding, resolveOwner } from './owner.js';
import { type ClaimedObject, verifyObject } from './verify-object.js';

/** OSS abandons a callback after 5 s; a platform receive time older than that is not trusted. */
const OSS_TIMEOUT_MS = 5000;

/** Process-wide state shared by every invocation of every job in this process. */
export interface Runtime {
  config: CoreConfig;
  keys: KeyResolver;
  log: Logger;
  /** Opens (once) the store and migrates the job's tables (once per job). */
  storeFor(job: Job): Promise<Store>;
  /** The job's owner binding (shared/core/owner.ts), read once per job from `config.owner`. */
  ownerBindingFor(job: Job): OwnerBinding;
}

export function createRuntime(config: CoreConfig = configFromEnv(), overrides: Partial<Omit<Runtime, 'config'>> = {}): Runtime {
  const migrated = new Map<string, Promise<Store>>();
  const bindings = new Map<string, OwnerBinding>();
  return {
    config,
    ownerBindingFor:
      overrides.ownerBindingFor ??
      ((job) => {
        let binding = bindings.get(job.name);
        if (!binding) bindings.set(job.name, (binding = ownerBinding(job.name, config.owner)));
        return binding;
      }),
    keys:
      overrides.keys ??
      createKeyResolver({
        trustedKeys: config.publicKeysFile ? loadTrustedKeysFile(config.publicKeysFile) : undefined,
        fetchTimeoutMs: config.keyFetchTimeoutMs,
      }),
    log: overrides.log ?? createLogger(config.logTarget),
    storeFor:
      overrides.storeFor ??
      ((job) => {
        let ready = migrated.get(job.name);
        if (!ready) {
          ready = (async () => {
            const store = await getStore(config.databaseUrl);
            await store.migrate(job.tables);
            return store;
          })();
          // A failure (store down at cold start) must not stick: the next callback tries again.
          ready.catch(() => migrated.delete(job.name));
          migrated.set(job.name, ready);
        }
        return ready;
      }),
  };
}

let defaultRuntime: Runtime | undefined;
/** The runtime built from environment variables, created on first use (not at import time). */
export function runtimeFromEnv(): Runtime {
  if (!defaultRuntime) {
    defaultRuntime = createRuntime();
    if (defaultRuntime.config.objects.verify === 'off') {
      defaultRuntime.log({ notice: 'OSS_VERIFY_OBJECTS=off: callbacks are NOT checked with OSS; a forged callback naming an allowed bucket is recorded (each log line says objectCheck "off")' });
    }
  }
  return defaultRuntime;
}

/** The moment this callback must be answered by. */
export function deadlineFor(receivedAt: number | undefined, budgetMs: number, now = Date.now()): number {
  const age = receivedAt === undefined ? -1 : now - receivedAt;
  // Use the platform's receive time when it is plausible (a cold start counts against OSS's 5 s);
  // a stale or future time (an old event file, clock skew) falls back to "now".
  const start = age >= 0 && age <= OSS_TIMEOUT_MS ? (receivedAt as number) : now;
  return start + budgetMs;
}

function header(request: CallbackRequest, name: string): string | undefined {
  const value = request.headers[name];
  return value === undefined || value === '' ? undefined : value;
}

const payloadKeyCache = new WeakMap<object, readonly string[]>();

/** The keys of the job's payload schema (read once per schema). */
function payloadKeys(job: Job): readonly string[] {
  let keys = payloadKeyCache.get(job.payload);
  if (keys === undefined) payloadKeyCache.set(job.payload, (keys = Object.keys(job.payload.entries)));
  return keys;
}

function describeIssues(issues: readonly v.BaseIssue<unknown>[], prefix: string): string[] {
  return issues.map((issue) => {
    const path = issue.path?.map((item) => String(item.key)).join('.');
    return `${prefix}${path ?? ''}: ${issue.message}`;
  });
}

function bucketCheck(bucket: unknown, allowed: CoreConfig['allowedBuckets']): string {
  if (typeof bucket !== 'string' || bucket === '') {
    throw new CallbackError(
      'InvalidPayload',
      'the signed callback body has no bucket: add bucket=${bucket} to callbackBody (the bucket is checked against OSS_ALLOWED_BUCKETS; unsigned headers such as x-oss-bucket are never trusted)',
    );
  }
  if (allowed === undefined) {
    throw new CallbackError(
      'BucketNotAllowed',
      `no bucket is allowed yet: set OSS_ALLOWED_BUCKETS to the comma-separated names of the buckets whose callbacks this function accepts (bucket ${JSON.stringify(bucket)} was refused)`,
    );
  }
  if (!bucketAllowed(bucket, allowed)) {
    throw new CallbackError(
      'BucketNotAllowed',
      `bucket ${JSON.stringify(bucket)} is not in OSS_ALLOWED_BUCKETS: a valid signature only proves that some OSS bucket sent this; add the bucket to OSS_ALLOWED_BUCKETS if it is yours`,
    );
  }
  return bucket;
}

/**
 * The object the signed body names: `object` and `etag` are required to ask OSS about it; with
 * OSS_VERIFY_OBJECTS=off a body without them is taken as it is (key and ETag empty).
 */
function claimedObject(bucket: string, fields: Record<string, unknown>, verify: 'head' | 'off'): ClaimedObject {
  const key = typeof fields.object === 'string' ? fields.object : '';
  const etag = typeof fields.etag === 'string' ? fields.etag.trim() : '';
  if (verify === 'head' && (key === '' || etag === '' || Buffer.byteLength(key) > 1023)) {
    throw new CallbackError(
      'InvalidPayload',
      'the signed callback body does not name an object: add object=${object}&etag=${etag} to callbackBody (each callback\'s object is checked with OSS: OSS_VERIFY_OBJECTS)',
    );
  }
  return { bucket, key, etag, size: fields.size, mimeType: fields.mimeType, crc64: fields.crc64 };
}

/**
 * One callback's deadline. Its AbortSignal is created only when something reads `signal` (creating
 * one costs about 4.5 µs on Node 20, a third of an RSA verify); once the deadline has passed, a signal
 * read later is already aborted.
 */
export class Deadline {
  private controller: AbortController | undefined;
  /** Set when the deadline passed. */
  expired: CallbackError | undefined;

  constructor(readonly at: number) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.expired !== undefined) this.controller.abort(this.expired);
    }
    return this.controller.signal;
  }

  expire(error: CallbackError): void {
    this.expired = error;
    this.controller?.abort(error);
  }

  throwIfExpired(): void {
    if (this.expired !== undefined) throw this.expired;
  }
}

/**
 * What the object check gets: `signal` is the deadline's, created only when read. (A class: an
 * object literal with a getter is several times slower to create, on every callback.)
 */
class StepOptions {
  readonly #deadline: Deadline;
  readonly deadline: number;

  constructor(
    deadline: Deadline,
    readonly platform: CallbackRequest['platform'],
    readonly log: (fields: JsonObject) => void,
  ) {
    this.#deadline = deadline;
    this.deadline = deadline.at;
  }

  get signal(): AbortSignal {
    return this.#deadline.signal;
  }
}

/** A job's context (JobContext); `signal` is the deadline's, created only when read, as above. */
class CallbackContext<P, C> implements JobContext<P, C> {
  readonly #deadline: Deadline;
  readonly payload: P;
  readonly custom: C;
  readonly object: JobContext<P, C>['object'];
  readonly owner: JobContext<P, C>['owner'];
  readonly callback: JobContext<P, C>['callback'];
  readonly store: Store;
  readonly log: (fields: JsonObject) => void;

  constructor(deadline: Deadline, fields: Omit<JobContext<P, C>, 'signal'>) {
    this.#deadline = deadline;
    this.payload = fields.payload;
    this.custom = fields.custom;
    this.object = fields.object;
    this.owner = fields.owner;
    this.callback = fields.callback;
    this.store = fields.store;
    this.log = fields.log;
  }

  get signal(): AbortSignal {
    return this.#deadline.signal;
  }
}

/**
 * Runs `work` until it settles or the deadline passes; on timeout the deadline's signal is aborted
 * with the error (`DeadlineExceeded`; `timeoutError` words it for another caller, e.g. OSS events).
 */
export async function withDeadline<T>(at: number, work: (deadline: Deadline) => Promise<T>, timeoutError?: () => CallbackError): Promise<T> {
  const deadline = new Deadline(at);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        const error =
          timeoutError?.() ??
          new CallbackError(
            'DeadlineExceeded',
            'the callback could not be completed in time (OSS waits 5 s): the datastore or a dependency is slow or hanging; the work was abandoned and its transaction rolled back',
          );
        deadline.expire(error);
        reject(error);
      },
      Math.max(0, at - Date.now()),
    );
  });
  try {
    const running = work(deadline);
    running.catch(() => {}); // settled later than the deadline: already answered
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export async function handleCallback(job: Job, request: CallbackRequest, runtime: Runtime): Promise<CallbackResponse> {
  const started = performance.now();
  const { config } = runtime;
  const line: JsonObject = {
    function: job.name,
    requestId: request.requestId,
    ossRequestId: header(request, 'x-oss-request-id'),
    // Every line says whether objects are checked with OSS (OSS_VERIFY_OBJECTS=off is an announced opt-out).
    objectCheck: config.objects.verify,
  };
  let response: CallbackResponse;
  try {
    if (request.method !== 'POST') {
      throw new CallbackError('MethodNotAllowed', `OSS sends callbacks as POST; got ${request.method}`);
    }
    if (request.body.length > config.maxBodyBytes) {
      throw new CallbackError(
        'BodyTooLarge',
        `the body is ${request.body.length} bytes, more than CALLBACK_MAX_BODY_BYTES=${config.maxBodyBytes}: OSS callback bodies are small (a template of at most 5 KB with values filled in)`,
      );
    }
    const result = await withDeadline(deadlineFor(request.receivedAt, config.deadlineMs), async (deadline) => {
      const path = publicPath(request.rawPath, config.pathMap);
      // No signal: a key download has its own timeout, and the race with the deadline answers anyway.
      const signed = await verifyCallbackSignature(path === request.rawPath ? request : { ...request, rawPath: path }, runtime.keys);
      deadline.throwIfExpired();

      const body = decodeBody(header(request, 'content-type'), request.body);
      const bucket = bucketCheck(body.fields.bucket, config.allowedBuckets);
      line.bucket = bucket;
      if (typeof body.fields.object === 'string') line.object = body.fields.object;

      const input: Record<string, unknown> = {};
      for (const key of payloadKeys(job)) {
        if (Object.hasOwn(body.fields, key)) input[key] = body.fields[key];
      }
      const payload = v.safeParse(job.payload, input);
      const custom = v.safeParse(job.custom, body.custom);
      if (!payload.success || !custom.success) {
        const problems = [
          ...(payload.success ? [] : describeIssues(payload.issues, '')),
          ...(custom.success ? [] : describeIssues(custom.issues, 'x:')),
        ];
        throw new CallbackError(
          'InvalidPayload',
          `the callback body does not match what ${job.name} reads (${problems.join('; ')}): use its callbackBody template`,
          { details: { problems, expectedCallbackBody: job.template.form } },
        );
      }
      // Whose upload (cheap, local), then: does OSS have this object, with this ETag? (OSS's facts from here on.)
      const claimed = claimedObject(bucket, body.fields, config.objects.verify);
      const owner = job.owner
        ? resolveOwner(runtime.ownerBindingFor(job), { object: claimed, custom: body.custom, query: signed.query }, config.owner)
        : undefined;
      if (owner) line.ownerFrom = owner.from;
      const log = (fields: JsonObject): void => void Object.assign(line, fields);
      const object = await verifyObject(claimed, config.objects, new StepOptions(deadline, request.platform, log));
      const reqId = typeof body.fields.reqId === 'string' ? body.fields.reqId : undefined;
      const context = new CallbackContext(deadline, {
        payload: payload.output,
        custom: custom.output,
        object,
        owner,
        callback: {
          requestId: request.requestId,
          idempotencyKey:
            object.key !== '' && object.etag !== ''
              ? objectIdempotencyKey(object)
              : `sha256:${createHash('sha256').update(request.body).digest('hex')}`, // OSS_VERIFY_OBJECTS=off, no object named
          reqIdHint: reqId,
          query: signed.query,
          bodyType: body.type,
          receivedAt: new Date(request.receivedAt ?? Date.now()),
          path,
          ossRequestId: header(request, 'x-oss-request-id'),
          platform: request.platform,
        },
        store: await runtime.storeFor(job),
        log,
      });
      deadline.throwIfExpired();
      return job.handle(context);
    });
    response = jsonReply(200, result);
    line.outcome = 'OK';
  } catch (caught) {
    const error = isCallbackError(caught)
      ? caught
      : new CallbackError('Internal', 'the function failed unexpectedly; the error is in the function log', { cause: caught });
    line.outcome = error.code;
    line.message = error.message;
    if (!isCallbackError(caught)) line.error = caught instanceof Error ? (caught.stack ?? caught.message) : String(caught);
    response = errorReply(error, request.requestId);
  }
  line.status = response.status;
  line.durationMs = Math.round((performance.now() - started) * 100) / 100;
  runtime.log(line);
  return response;
}
