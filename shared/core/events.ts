/**
 * OSS object events (what an FC OSS trigger delivers: an upload completed, an object was deleted),
 * handled by the same job as its callbacks. The runtime adapter (shared/runtime/oss-event.ts) turns
 * FC's `{"events":[…]}` into `OssObjectEvent`s; `handleObjectEvents` runs them through the job.
 *
 * Per event: bucket allowlist (`OSS_ALLOWED_BUCKETS`; another bucket → `Ignored`), then the job's
 * `onEvent` inside the event deadline (`EVENT_DEADLINE_MS`), or `NotHandled` when the job has none.
 * One JSON log line per event, through the same logger as callbacks.
 *
 * Retry semantics. An FC OSS trigger invokes asynchronously: a handler that throws is retried by FC
 * (3 times by default) and then goes to the function's failure destination, if one is configured.
 *  - thrown (FC retries): `StoreUnavailable`, `DeadlineExceeded`, a job error, anything unexpected.
 *    The other events of the invocation are still handled first; the retry re-delivers all of them,
 *    so `onEvent` must be idempotent (it is keyed on bucket + key + ETag).
 *  - not thrown: `InvalidEvent` (an event that cannot be read, or a job that calls an event invalid:
 *    retrying cannot fix it, and would only send the same poison event around 3 more times), `Ignored`,
 *    `NotHandled`, `Skipped` (an event name the jobs have no use for). They are logged and counted.
 */
import { CallbackError, isCallbackError } from '../protocol/errors.js';
import { bucketAllowed, type CoreConfig } from './config.js';
import type { Job, JsonObject } from './job.js';
import { type Runtime, withDeadline } from './pipeline.js';
import { ownerFromKey } from './owner.js';
import type { PlatformContext } from './platform.js';

export type OssEventKind = 'created' | 'removed';

/** One OSS object event, validated. */
export interface OssObjectEvent {
  /** `created`: ObjectCreated:PutObject, PostObject, CompleteMultipartUpload, CopyObject, AppendObject; `removed`: ObjectRemoved:DeleteObject(s). */
  kind: OssEventKind;
  /** The event name as OSS sends it (no `oss:` prefix), e.g. `ObjectCreated:PutObject`. */
  name: string;
  bucket: string;
  /** The object key exactly as in the event: FC OSS events carry the raw key (not URL-encoded). */
  key: string;
  /** `normalizeEtag`d: no quotes, upper case, like the callback's `${etag}`. Always set for `created`. */
  etag?: string;
  /** Object size in bytes. Always set for `created`. */
  size?: number;
  /** `responseElements.requestId`: the id of the OSS request that caused the event (the upload's `x-oss-request-id`). */
  requestId?: string;
  /** `oss.object.sequencer` when OSS sends one (not seen in any published sample). */
  sequencer?: string;
  eventTime: Date;
  /** e.g. `cn-hangzhou` (no `oss-` prefix). */
  region?: string;
  /** `requestParameters.sourceIPAddress`: the client that made the OSS request. */
  sourceIp?: string;
  /** `oss.object.objectMeta.mimeType`, when OSS sends it (seen in real PostObject events). */
  mimeType?: string;
}

/** An event record that was not handed to the job: unreadable (`InvalidEvent`) or of no use (`Skipped`). */
export interface OssEventIssue {
  /** Its position in `events[]`. */
  index: number;
  code: 'InvalidEvent' | 'Skipped';
  message: string;
  name?: string;
  bucket?: string;
  key?: string;
}

/** What an invocation returns (FC records it as the result; `npm run invoke` prints it). */
export interface ObjectEventsSummary {
  function: string;
  /** Event records received (handled or not). */
  events: number;
  /** How many records ended with each outcome: `OK`, `Ignored`, `NotHandled`, `Skipped`, `InvalidEvent`, or an error code. */
  outcomes: Record<string, number>;
}

/** Thrown when at least one event must be retried; FC retries the whole invocation. */
export class ObjectEventsError extends CallbackError {
  constructor(
    readonly summary: ObjectEventsSummary,
    readonly failures: readonly CallbackError[],
  ) {
    const first = failures[0]!;
    super(
      first.code,
      `${failures.length} of ${summary.events} OSS event(s) for ${summary.function} failed and will be retried by Function Compute (first: ${first.code}: ${first.message})`,
      { status: first.status, cause: first, details: { ...summary } },
    );
    this.name = 'ObjectEventsError';
  }
}

/** Default of EVENT_DEADLINE_MS: below the callback functions' FC timeout (10 s in s.yaml). */
export const DEFAULT_EVENT_DEADLINE_MS = 8000;

/** `"D41D8…"` / `d41d8…` → `D41D8…`: the ETag as OSS puts it in events and in the callback's `${etag}`. */
export { normalizeEtag } from './object.js';

/** Why an event from this bucket is ignored, or undefined when the bucket is allowed. */
export function bucketRefusal(bucket: string, allowed: CoreConfig['allowedBuckets']): string | undefined {
  if (allowed === undefined) return 'OSS_ALLOWED_BUCKETS is not set: no bucket is allowed yet';
  if (!bucketAllowed(bucket, allowed)) return `bucket ${JSON.stringify(bucket)} is not in OSS_ALLOWED_BUCKETS`;
  return undefined;
}

const LEVEL: Record<string, 'info' | 'warn'> = { OK: 'info', NotHandled: 'info', Skipped: 'info', Ignored: 'warn', InvalidEvent: 'warn' };

export interface ObjectEventsOptions {
  /** The platform's invocation id (FC context.requestId), logged as `requestId` like a callback's. */
  requestId?: string;
  /** Records the adapter could not turn into events: logged and counted, never thrown. */
  issues?: readonly OssEventIssue[];
}

/**
 * Handles the events of one invocation in order and returns the counts per outcome; throws an
 * `ObjectEventsError` (after handling every event and logging each) when any must be retried.
 */
export async function handleObjectEvents(
  job: Job,
  events: readonly OssObjectEvent[],
  runtime: Runtime,
  platform?: PlatformContext,
  options: ObjectEventsOptions = {},
): Promise<ObjectEventsSummary> {
  const issues = options.issues ?? [];
  const deadline = Date.now() + (runtime.config.eventDeadlineMs ?? DEFAULT_EVENT_DEADLINE_MS);
  const summary: ObjectEventsSummary = { function: job.name, events: events.length + issues.length, outcomes: {} };
  const count = (outcome: string) => (summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1);

  for (const issue of issues) {
    runtime.log({
      level: LEVEL[issue.code],
      function: job.name,
      requestId: options.requestId,
      kind: 'event',
      name: issue.name,
      bucket: issue.bucket,
      object: issue.key,
      outcome: issue.code,
      message: issue.message,
      index: issue.index,
    });
    count(issue.code);
  }

  const failures: CallbackError[] = [];
  for (const event of events) {
    const started = performance.now();
    const line: JsonObject = {
      function: job.name,
      requestId: options.requestId,
      kind: event.kind,
      name: event.name,
      bucket: event.bucket,
      object: event.key,
      ossRequestId: event.requestId,
      etag: event.etag,
      size: event.size,
    };
    try {
      const refusal = bucketRefusal(event.bucket, runtime.config.allowedBuckets);
      if (refusal !== undefined) {
        line.outcome = 'Ignored';
        line.reason = refusal;
      } else if (!job.onEvent) {
        line.outcome = 'NotHandled';
        line.reason = `${job.name} does not handle OSS events (its job has no onEvent)`;
      } else {
        const onEvent = job.onEvent;
        if (Date.now() >= deadline) throw deadlineError();
        await withDeadline(
          deadline,
          async (time) => {
            const store = await runtime.storeFor(job);
            time.throwIfExpired();
            const owner = job.owner ? ownerFromKey(job.name, runtime.config.owner, event.key) : undefined;
            if (job.owner) line.owner = owner?.id ?? null;
            await onEvent({ event, owner, store, signal: time.signal, log: (fields: JsonObject) => Object.assign(line, fields), platform });
          },
          deadlineError,
        );
        line.outcome = 'OK';
      }
    } catch (caught) {
      const error = isCallbackError(caught)
        ? caught
        : new CallbackError('Internal', 'the event handler failed unexpectedly; the error is in the function log', { cause: caught });
      line.outcome = error.code;
      line.message = error.message;
      if (!isCallbackError(caught)) line.error = caught instanceof Error ? (caught.stack ?? caught.message) : String(caught);
      if (error.code !== 'InvalidEvent') failures.push(error);
    }
    line.level = LEVEL[line.outcome as string] ?? 'error';
    line.durationMs = Math.round((performance.now() - started) * 100) / 100;
    runtime.log(line);
    count(line.outcome as string);
  }
  if (failures.length > 0) throw new ObjectEventsError(summary, failures);
  return summary;
}

function deadlineError(): CallbackError {
  return new CallbackError(
    'DeadlineExceeded',
    'the OSS event could not be handled within EVENT_DEADLINE_MS: the datastore or a dependency is slow or hanging; the work was abandoned (its transaction rolled back) and Function Compute will retry the event',
  );
}
