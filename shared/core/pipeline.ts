/**
 * The callback pipeline every runtime adapter calls: method → size → signature → decode → bucket →
 * payload → owner binding → object check with OSS (HeadObject) → job, all inside the deadline; exactly
 * one JSON reply and one log line per callback.
 */
import * as v from 'valibot';
import {
  CallbackError,
  checkCallbackSignature,
  createKeyResolver,
  decodeBody,
  type DecodedBody,
  errorReply,
  type FastParser,
  fastParser,
  isCallbackError,
  jsonReply,
  loadTrustedKeysFile,
  type KeyResolver,
  type VerifiedSignature,
} from '../protocol/index.js';
import { getStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { bucketAllowed, type CoreConfig, configFromEnv, publicPath } from './config.js';
import type { CallbackRequest, CallbackResponse } from './http.js';
import type { CallbackInfo, Job, JobContext, JsonObject } from './job.js';
import { createLogger, type Logger } from './log.js';
import { objectIdempotencyKey, sha256Hex, type VerifiedObject } from './object.js';
import { type Owner, type OwnerBinding, ownerBinding, resolveOwner } from './owner.js';
import { type ClaimedObject, unverifiedObject, verifyObject } from './verify-object.js';

/** OSS abandons a callback after 5 s; a platform receive time older than that is not trusted. */
const OSS_TIMEOUT_MS = 5000;

/** Process-wide state shared by every invocation of every job in this process. */
export interface Runtime {
  config: CoreConfig;
  keys: KeyResolver;
  log: Logger;
  /**
   * Opens (once) the store and migrates the job's tables (once per job). Once that is done it may
   * return the store itself (the pipeline then needs no promise for it); await it either way.
   */
  storeFor(job: Job): Store | Promise<Store>;
  /** The job's owner binding (shared/core/owner.ts), read once per job from `config.owner`. */
  ownerBindingFor(job: Job): OwnerBinding;
}

export function createRuntime(config: CoreConfig = configFromEnv(), overrides: Partial<Omit<Runtime, 'config'>> = {}): Runtime {
  const migrated = new Map<string, Promise<Store>>();
  const ready = new Map<string, Store>();
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
        const store = ready.get(job.name);
        if (store !== undefined) return store;
        let opening = migrated.get(job.name);
        if (!opening) {
          opening = (async () => {
            const store = await getStore(config.databaseUrl);
            await store.migrate(job.tables);
            return store;
          })();
          // A failure (store down at cold start) must not stick: the next callback tries again.
          opening.then(
            (store) => void ready.set(job.name, store),
            () => migrated.delete(job.name),
          );
          migrated.set(job.name, opening);
        }
        return opening;
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
  /**
   * The same moment in `performance.now()` milliseconds (monotonic), fixed when the callback starts.
   * The timers that expire the deadline count on it, and so does the store's one-round-trip commit
   * (its guard checks it against the database's clock): a step of the wall clock moves neither.
   */
  readonly monotonic: number;

  constructor(readonly at: number) {
    this.monotonic = performance.now() + (at - Date.now());
  }

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

  constructor(
    deadline: Deadline,
    readonly payload: P,
    readonly custom: C,
    readonly object: JobContext<P, C>['object'],
    readonly owner: JobContext<P, C>['owner'],
    readonly callback: JobContext<P, C>['callback'],
    readonly store: Store,
    readonly log: (fields: JsonObject) => void,
  ) {
    this.#deadline = deadline;
  }

  get signal(): AbortSignal {
    return this.#deadline.signal;
  }

  get deadline(): number {
    return this.#deadline.monotonic;
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
        const error = timeoutError?.() ?? deadlineExceeded();
        deadline.expire(error);
        reject(error);
      },
      Math.max(0, deadline.monotonic - performance.now()),
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

/** A promise, or anything `await` would treat as one. */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function deadlineExceeded(): CallbackError {
  return new CallbackError(
    'DeadlineExceeded',
    'the callback could not be completed in time (OSS waits 5 s): the datastore or a dependency is slow or hanging; the work was abandoned and its transaction rolled back',
  );
}

/** A callback waiting on a promise, and how to fail it at its deadline. */
interface Watched {
  readonly deadline: Deadline;
  expired(error: CallbackError): void;
}

/**
 * The deadlines of the callbacks that wait on a promise, on one timer armed for the earliest (a
 * timer per callback costs more than the rest of a callback's bookkeeping). The timer keeps the
 * process alive only while a callback waits: with none, it is unref'd (and does nothing if it fires).
 */
class DeadlineWatch {
  private readonly pending = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  /**
   * The deadline the timer is armed for, in `performance.now()` ms (`Deadline.monotonic`): the timer
   * and the store's deadline guard count on the same clock, whatever the wall clock does meanwhile.
   */
  private timerAt = Number.POSITIVE_INFINITY;

  add(watched: Watched): void {
    this.pending.add(watched);
    if (watched.deadline.monotonic < this.timerAt) this.arm(watched.deadline.monotonic);
    else if (this.pending.size === 1) this.timer?.ref();
  }

  delete(watched: Watched): void {
    if (this.pending.delete(watched) && this.pending.size === 0) this.timer?.unref();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - performance.now()));
  }

  /** The timer armed for `timerAt` fired: every deadline up to it has passed, as its own timer would have said. */
  private fire(): void {
    const due = this.timerAt;
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const expired: Watched[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const watched of this.pending) {
      if (watched.deadline.monotonic <= due) expired.push(watched);
      else if (watched.deadline.monotonic < next) next = watched.deadline.monotonic;
    }
    for (const watched of expired) this.pending.delete(watched);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const watched of expired) {
      const error = deadlineExceeded();
      watched.deadline.expire(error);
      watched.expired(error);
    }
  }
}

const watch = new DeadlineWatch();

/**
 * One callback's way through the steps after the method and size checks. Each step runs directly
 * when the one before did not need a promise (a cached key, OSS_VERIFY_OBJECTS=off, an open store),
 * and chains on it otherwise; the log line's fields are kept here and the line is built once, at the end.
 */
class CallbackRun implements Watched {
  /** When handleCallback started, for the line's durationMs. */
  readonly started = performance.now();
  readonly deadline: Deadline;
  /** While waiting on a promise: how to settle handleCallback's. */
  private answer: ((response: CallbackResponse) => void) | undefined = undefined;
  private refuse: ((error: unknown) => void) | undefined = undefined;
  bucket: string | undefined = undefined;
  object: string | undefined = undefined;
  ownerFrom: string | undefined = undefined;
  /** What the object check and the job added to the line, in order. */
  logged: JsonObject | undefined = undefined;
  readonly log = logInto(this);

  constructor(
    readonly job: Job,
    readonly request: CallbackRequest,
    readonly runtime: Runtime,
  ) {
    this.deadline = new Deadline(deadlineFor(request.receivedAt, runtime.config.deadlineMs));
  }

  start(): JsonObject | PromiseLike<JsonObject> {
    const { request } = this;
    const path = publicPath(request.rawPath, this.runtime.config.pathMap);
    // No signal: a key download has its own timeout, and the race with the deadline answers anyway.
    const signed = checkCallbackSignature(path === request.rawPath ? request : { ...request, rawPath: path }, this.runtime.keys);
    if (isThenable(signed)) return signed.then((verified) => this.afterSignature(path, verified));
    return this.afterSignature(path, signed);
  }

  private afterSignature(path: string, signed: VerifiedSignature): JsonObject | PromiseLike<JsonObject> {
    this.deadline.throwIfExpired();
    const { job, request, runtime } = this;
    const { config } = runtime;

    const body = decodeBody(header(request, 'content-type'), request.body);
    const bucket = bucketCheck(body.fields.bucket, config.allowedBuckets);
    this.bucket = bucket;
    if (typeof body.fields.object === 'string') this.object = body.fields.object;

    const parsed = parsePayload(job, body);
    // Whose upload (cheap, local), then: does OSS have this object, with this ETag? (OSS's facts from here on.)
    const claimed = claimedObject(bucket, body.fields, config.objects.verify);
    const owner = job.owner
      ? resolveOwner(runtime.ownerBindingFor(job), { object: claimed, custom: body.custom, query: signed.query }, config.owner)
      : undefined;
    if (owner) this.ownerFrom = owner.from;
    if (config.objects.verify === 'off') return this.afterObject(path, signed, body, parsed, owner, unverifiedObject(claimed));
    return verifyObject(claimed, config.objects, new StepOptions(this.deadline, request.platform, this.log)).then((object) =>
      this.afterObject(path, signed, body, parsed, owner, object),
    );
  }

  private afterObject(
    path: string,
    signed: VerifiedSignature,
    body: DecodedBody,
    parsed: ParsedPayload,
    owner: Owner | undefined,
    object: VerifiedObject,
  ): JsonObject | PromiseLike<JsonObject> {
    const { request } = this;
    const reqId = body.fields.reqId;
    const callback: CallbackInfo = {
      requestId: request.requestId,
      idempotencyKey:
        object.key !== '' && object.etag !== ''
          ? objectIdempotencyKey(object)
          : `sha256:${sha256Hex(request.body)}`, // OSS_VERIFY_OBJECTS=off, no object named
      reqIdHint: typeof reqId === 'string' ? reqId : undefined,
      query: signed.query,
      bodyType: body.type,
      receivedAt: new Date(request.receivedAt ?? Date.now()),
      path,
      ossRequestId: header(request, 'x-oss-request-id'),
      platform: request.platform,
    };
    const store = this.runtime.storeFor(this.job);
    if (isThenable(store)) return store.then((opened) => this.handle(parsed, owner, object, callback, opened));
    return this.handle(parsed, owner, object, callback, store);
  }

  private handle(
    parsed: ParsedPayload,
    owner: Owner | undefined,
    object: VerifiedObject,
    callback: CallbackInfo,
    store: Store,
  ): JsonObject | PromiseLike<JsonObject> {
    const context = new CallbackContext(this.deadline, parsed.payload, parsed.custom, object, owner, callback, store, this.log);
    this.deadline.throwIfExpired();
    return this.job.handle(context);
  }

  /**
   * The reply once `running` settles, or DeadlineExceeded when the deadline passes first (the
   * deadline's signal is then aborted; whatever `running` does later is ignored: already answered).
   */
  wait(running: PromiseLike<JsonObject>): Promise<CallbackResponse> {
    return new Promise<CallbackResponse>((resolve, reject) => {
      this.answer = resolve;
      this.refuse = reject;
      watch.add(this);
      try {
        running.then(
          (result) => this.settle(result, false),
          (error: unknown) => this.settle(error, true),
        );
      } catch (error) {
        this.settle(error, true); // a thenable whose then() throws: as `await` would reject
      }
    });
  }

  expired(error: CallbackError): void {
    this.settle(error, true);
  }

  private settle(outcome: unknown, failed: boolean): void {
    const { answer, refuse } = this;
    if (answer === undefined || refuse === undefined) return; // answered already (at the deadline)
    this.answer = this.refuse = undefined;
    watch.delete(this);
    try {
      answer(failed ? this.fail(outcome) : this.succeed(outcome as JsonObject));
    } catch (error) {
      refuse(error); // the logger threw
    }
  }

  /** The 200 reply with the job's result, and its log line. */
  succeed(result: JsonObject): CallbackResponse {
    let response: CallbackResponse;
    try {
      response = jsonReply(200, result);
    } catch (caught) {
      return this.fail(caught);
    }
    this.runtime.log(this.line('OK', response.status));
    return response;
  }

  /** The error reply for what was thrown (Internal for anything but a CallbackError), and its log line. */
  fail(caught: unknown): CallbackResponse {
    const known = isCallbackError(caught);
    const error = known ? caught : new CallbackError('Internal', 'the function failed unexpectedly; the error is in the function log', { cause: caught });
    const response = errorReply(error, this.request.requestId);
    const stack = known ? undefined : caught instanceof Error ? (caught.stack ?? caught.message) : String(caught);
    this.runtime.log(this.line(error.code, response.status, { message: error.message, stack }));
    return response;
  }

  /** The callback's log line: its fields in the order they became known. */
  private line(outcome: string, status: number, error?: { message: string; stack: string | undefined }): JsonObject {
    const { request } = this;
    const line: JsonObject = {
      function: this.job.name,
      requestId: request.requestId,
      ossRequestId: header(request, 'x-oss-request-id'),
      // Every line says whether objects are checked with OSS (OSS_VERIFY_OBJECTS=off is an announced opt-out).
      objectCheck: this.runtime.config.objects.verify,
    };
    if (this.bucket !== undefined) line.bucket = this.bucket;
    if (this.object !== undefined) line.object = this.object;
    if (this.ownerFrom !== undefined) line.ownerFrom = this.ownerFrom;
    if (this.logged !== undefined) Object.assign(line, this.logged);
    line.outcome = outcome;
    if (error !== undefined) {
      line.message = error.message;
      if (error.stack !== undefined) line.error = error.stack;
    }
    line.status = status;
    line.durationMs = Math.round((performance.now() - this.started) * 100) / 100;
    return line;
  }
}

/** The job's `log`: adds fields to the run's line. (Returned, not assigned, so that a keepNames build does not name it on every callback.) */
function logInto(run: CallbackRun): (fields: JsonObject) => void {
  return (fields) => {
    Object.assign((run.logged ??= {}), fields);
  };
}

interface ParsedPayload {
  payload: unknown;
  custom: unknown;
}

const fastParsers = new WeakMap<Job, { payload: FastParser | undefined; custom: FastParser | undefined }>();

/** The payload and custom variables through the job's schemas; InvalidPayload names every problem. */
function parsePayload(job: Job, body: DecodedBody): ParsedPayload {
  let fast = fastParsers.get(job);
  if (fast === undefined) fastParsers.set(job, (fast = { payload: fastParser(job.payload), custom: fastParser(job.custom) }));
  // Hand-written checks of the oss.* schemas when the job's schemas allow; valibot for the others,
  // and to name the problems of an input they refuse.
  if (fast.payload !== undefined && fast.custom !== undefined) {
    const payload = fast.payload(body.fields);
    const custom = payload === undefined ? undefined : fast.custom(body.custom);
    if (custom !== undefined) return { payload, custom };
  }
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
  return { payload: payload.output, custom: custom.output };
}

export function handleCallback(job: Job, request: CallbackRequest, runtime: Runtime): Promise<CallbackResponse> {
  const run = new CallbackRun(job, request, runtime);
  try {
    let result: JsonObject | PromiseLike<JsonObject>;
    try {
      if (request.method !== 'POST') {
        throw new CallbackError('MethodNotAllowed', `OSS sends callbacks as POST; got ${request.method}`);
      }
      const { maxBodyBytes } = runtime.config;
      if (request.body.length > maxBodyBytes) {
        throw new CallbackError(
          'BodyTooLarge',
          `the body is ${request.body.length} bytes, more than CALLBACK_MAX_BODY_BYTES=${maxBodyBytes}: OSS callback bodies are small (a template of at most 5 KB with values filled in)`,
        );
      }
      result = run.start();
    } catch (caught) {
      return Promise.resolve(run.fail(caught));
    }
    // Until the first step that needs a promise, everything ran synchronously: only then is there
    // something to wait for, and a deadline to watch.
    return isThenable(result) ? run.wait(result) : Promise.resolve(run.succeed(result));
  } catch (error) {
    return Promise.reject(error); // the logger threw: as from an async function
  }
}
