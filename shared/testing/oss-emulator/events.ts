/**
 * OSS events as a native FC OSS trigger delivers them: `{"events":[record]}` as a Buffer, one record
 * per created or deleted object (reference: oss-events-and-upload-policy.md A.1).
 *
 * `ossEventRecord` builds a record (a pure function: the event backstop reuses it);
 * `createEventDelivery` delivers asynchronously, never delaying the upload's response, and retries a
 * target that fails the way FC retries an asynchronous invocation whose function throws: up to 3
 * retries by default, with a growing delay (FC does not document its delays; the default here is
 * 1 s, 2 s, 4 s, configurable). A target may carry its trigger's key filter (prefix, suffix): it then
 * gets only the events of matching keys, as a native OSS trigger does.
 */
import { createHash } from 'node:crypto';

export type OssEventName =
  | 'ObjectCreated:PutObject'
  | 'ObjectCreated:PostObject'
  | 'ObjectCreated:CompleteMultipartUpload'
  | 'ObjectRemoved:DeleteObject'
  | 'ObjectRemoved:DeleteObjects';

export interface OssEventRecord {
  eventName: OssEventName;
  eventSource: 'acs:oss';
  eventTime: string;
  eventVersion: '1.0';
  oss: {
    bucket: { arn: string; name: string; ownerIdentity: string; virtualBucket: string };
    object: { deltaSize: number; eTag: string; key: string; objectMeta?: { mimeType: string }; size: number };
    ossSchemaVersion: '1.0';
    ruleId: string;
  };
  region: string;
  requestParameters: { sourceIPAddress: string };
  responseElements: { requestId: string };
  userIdentity: { principalId: string };
}

export interface OssEventInput {
  eventName: OssEventName;
  bucket: string;
  key: string;
  /** The object's size (for a removal: the size it had). */
  size: number;
  /** The size change: new minus old (a new key: its size; a removal: minus the old size). */
  deltaSize: number;
  /** Upper-case, no quotes. */
  eTag: string;
  mimeType?: string;
  region: string;
  /** The bucket owner's account id. */
  ownerId: string;
  /** The requester's account id (default: the owner). */
  principalId?: string;
  /** The upload's `x-oss-request-id`. */
  requestId: string;
  sourceIp: string;
  time: Date;
}

/** OSS event times: ISO 8601 UTC to the second, `.000Z`. */
export function eventTime(time: Date): string {
  return `${time.toISOString().slice(0, 19)}.000Z`;
}

export function ossEventRecord(input: OssEventInput): OssEventRecord {
  return {
    eventName: input.eventName,
    eventSource: 'acs:oss',
    eventTime: eventTime(input.time),
    eventVersion: '1.0',
    oss: {
      bucket: {
        arn: `acs:oss:${input.region}:${input.ownerId}:${input.bucket}`,
        name: input.bucket,
        ownerIdentity: input.ownerId,
        virtualBucket: '',
      },
      object: {
        deltaSize: input.deltaSize,
        eTag: input.eTag,
        key: input.key,
        ...(input.mimeType ? { objectMeta: { mimeType: input.mimeType } } : {}),
        size: input.size,
      },
      ossSchemaVersion: '1.0',
      // A notification rule's id: 40 hex digits (here stable per bucket).
      ruleId: createHash('sha1').update(`local-oss-emulator:${input.bucket}`).digest('hex'),
    },
    region: input.region,
    requestParameters: { sourceIPAddress: input.sourceIp },
    responseElements: { requestId: input.requestId },
    userIdentity: { principalId: input.principalId ?? input.ownerId },
  };
}

/** The event as FC hands it to a function: `{"events":[…]}` as a Buffer. */
export function ossEventPayload(records: readonly OssEventRecord[]): Buffer {
  return Buffer.from(JSON.stringify({ events: records }), 'utf8');
}

/** A function that handles OSS events: like FC, it gets the event Buffer; `retryCount` is context.retryCount. */
export type EventTarget = (event: Buffer, attempt: { retryCount: number }) => Promise<unknown> | unknown;

/** A target behind a native OSS trigger's key filter: only keys starting with `prefix` and ending with `suffix`. */
export interface FilteredEventTarget {
  deliver: EventTarget;
  prefix?: string;
  suffix?: string;
}

export type AnyEventTarget = EventTarget | FilteredEventTarget;

/** True when the target's key filter lets the key through (a bare function takes every key). */
export function targetWants(target: AnyEventTarget, key: string): boolean {
  if (typeof target === 'function') return true;
  return key.startsWith(target.prefix ?? '') && key.endsWith(target.suffix ?? '');
}

export interface EventDeliveryOptions {
  targets: readonly AnyEventTarget[] | (() => readonly AnyEventTarget[]);
  /** Retries after the first failure (FC's maxAsyncRetryAttempts default: 3). */
  retries?: number;
  /** The delay before retry n (1-based). Default 1000 × 2^(n-1) ms. */
  retryDelayMs?: (retry: number) => number;
  log?: (line: Record<string, unknown>) => void;
}

export interface EventDelivery {
  deliver(record: OssEventRecord): void;
  /** Resolves when nothing is being delivered or waiting for a retry. */
  idle(): Promise<void>;
  /** Cancels pending retries. */
  close(): void;
}

export function createEventDelivery(options: EventDeliveryOptions): EventDelivery {
  const retries = options.retries ?? 3;
  const delay = options.retryDelayMs ?? ((n: number) => 1000 * 2 ** (n - 1));
  const log = options.log ?? (() => {});
  let pending = 0;
  let closed = false;
  let waiters: (() => void)[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const done = () => {
    pending -= 1;
    if (pending === 0) {
      const list = waiters;
      waiters = [];
      for (const resolve of list) resolve();
    }
  };

  function attempt(target: EventTarget, index: number, payload: Buffer, record: OssEventRecord, retryCount: number): void {
    Promise.resolve()
      .then(() => target(payload, { retryCount }))
      .then(
        () => {
          log({ ossEvent: record.eventName, key: record.oss.object.key, target: index, retryCount, outcome: 'delivered' });
          done();
        },
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          if (closed || retryCount >= retries) {
            log({ ossEvent: record.eventName, key: record.oss.object.key, target: index, retryCount, outcome: 'failed', message });
            done();
            return;
          }
          log({ ossEvent: record.eventName, key: record.oss.object.key, target: index, retryCount, outcome: 'retrying', message });
          const timer = setTimeout(() => {
            timers.delete(timer);
            attempt(target, index, payload, record, retryCount + 1);
          }, delay(retryCount + 1));
          timers.add(timer);
        },
      );
  }

  return {
    deliver(record) {
      if (closed) return;
      const targets = typeof options.targets === 'function' ? options.targets() : options.targets;
      const payload = ossEventPayload([record]);
      targets.forEach((target, index) => {
        if (!targetWants(target, record.oss.object.key)) return;
        pending += 1;
        const deliver = typeof target === 'function' ? target : target.deliver;
        setImmediate(() => attempt(deliver, index, payload, record, 0));
      });
    },
    idle() {
      return pending === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
    close() {
      closed = true;
      for (const timer of timers) {
        clearTimeout(timer);
        done();
      }
      timers.clear();
    },
  };
}
