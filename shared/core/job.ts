/**
 * A job is one processing step for verified OSS callbacks: the variables it reads (a valibot schema
 * built from `oss.*` pieces), the tables it writes, and what it answers. One job = one function.
 */
import * as v from 'valibot';
import { callbackBodyTemplate, oss } from '../protocol/index.js';
import type { Store, Table } from '../store/types.js';
import type { OssObjectEvent } from './events.js';
import type { VerifiedObject } from './object.js';
import type { Owner } from './owner.js';
import type { PlatformContext } from './platform.js';

/** Schema of the system variables a job reads: an object whose entries are `oss.*` schemas. */
export type PayloadSchema = v.ObjectSchema<v.ObjectEntries, v.ErrorMessage<v.ObjectIssue> | undefined>;
/** Schema of the custom `x:` variables (keys without the `x:` prefix; values are strings). */
export type CustomSchema = v.GenericSchema<Record<string, string>, Record<string, unknown>>;

export type JsonObject = { [key: string]: unknown };

/** Facts about the callback itself, beyond the payload. */
export interface CallbackInfo {
  /** The platform's request id (also in the log line and in error replies). */
  requestId: string;
  /**
   * Identifies the upload: `obj:` + SHA-256 of bucket, key and ETag as OSS reports them
   * (`objectIdempotencyKey`, shared/core/object.ts). Never chosen by the uploader: the same upload
   * delivered twice, or once as a callback and once as an OSS event, has the same key.
   */
  idempotencyKey: string;
  /** The body's `reqId`, if any: written by the template, a hint for correlation only (never a key). */
  reqIdHint: string | undefined;
  /** The callback URL query exactly as OSS signed it (null: no `?`). */
  query: string | null;
  bodyType: 'form' | 'json';
  receivedAt: Date;
  /** The path OSS signed (after `OSS_CALLBACK_PATH_MAP`), still percent-encoded. */
  path: string;
  /** `x-oss-request-id` header: NOT signed, for log correlation only. */
  ossRequestId: string | undefined;
  /** Region, account and role credentials from the platform (FC context), when the adapter has them. Never log it. */
  platform?: PlatformContext;
}

export interface JobContext<P, C> {
  /** What the uploader's template filled in: record from `object` whatever OSS vouches for. */
  payload: P;
  /** The custom `x:` variables: written by the uploader, never proof of anything. */
  custom: C;
  /** The object as OSS reports it (HeadObject, or an OSS event; the body's only with OSS_VERIFY_OBJECTS=off). */
  object: VerifiedObject;
  /** Whose upload it is, for jobs defined with `owner: true` (shared/core/owner.ts); undefined otherwise. */
  owner: Owner | undefined;
  callback: CallbackInfo;
  /** The datastore, opened and migrated for this job's tables. */
  store: Store;
  /** Aborted when the deadline passes: pass it on to slow calls. */
  signal: AbortSignal;
  /**
   * When `signal` aborts, in `performance.now()` milliseconds (monotonic). Pass it with the signal to
   * `store.insertOnce`: PostgreSQL then commits in one round trip (see shared/store/postgres.ts).
   */
  readonly deadline: number;
  /** Adds fields to this callback's log line (no secrets). */
  log(fields: JsonObject): void;
}

/** What `onEvent` gets for one OSS object event (see core/events.ts). */
export interface ObjectEventContext {
  /** Validated: bucket (already allowed), key, ETag and size as OSS reports them (authoritative: no HEAD). */
  event: OssObjectEvent;
  /**
   * For jobs defined with `owner: true`: the owner from <JOB>_OWNER_KEY_PATTERN on the key when that is
   * set and matches (an event carries no token nor x:owner); undefined = unknown.
   */
  owner: Owner | undefined;
  /** The datastore, opened and migrated for this job's tables. */
  store: Store;
  /** Aborted when EVENT_DEADLINE_MS passes: pass it on to slow calls. */
  signal: AbortSignal;
  /** Adds fields to this event's log line (no secrets). */
  log(fields: JsonObject): void;
  /** Region, account and role credentials from the platform (FC context), when the adapter has them. Never log it. */
  platform?: PlatformContext;
}

export interface JobDefinition<P extends PayloadSchema, C extends CustomSchema, R extends JsonObject> {
  /** The function name: its folder under functions/, its URL path locally, its FC function name. */
  name: string;
  description?: string;
  payload: P;
  custom?: C;
  tables?: readonly Table<any>[];
  /** The job attributes uploads to an owner: bind one per <JOB>_OWNER_FROM (shared/core/owner.ts). */
  owner?: boolean;
  handle(context: JobContext<v.InferOutput<P>, v.InferOutput<C>>): Promise<R>;
  /**
   * What the job does with an OSS object event (FC OSS trigger). Must be idempotent: FC redelivers.
   * Throw to have FC retry (store down, …); throw `CallbackError('InvalidEvent', …)` for an event
   * that retrying cannot fix. Without it, events are logged as `NotHandled`.
   */
  onEvent?(context: ObjectEventContext): Promise<void>;
}

export interface Job {
  readonly name: string;
  readonly description: string | undefined;
  readonly payload: PayloadSchema;
  readonly custom: CustomSchema;
  readonly tables: readonly Table<any>[];
  readonly owner: boolean;
  /** The callbackBody templates uploaders should use with this job. */
  readonly template: { readonly form: string; readonly json: string };
  handle(context: JobContext<any, any>): Promise<JsonObject>;
  onEvent?(context: ObjectEventContext): Promise<void>;
}

const anyCustom: CustomSchema = v.record(v.string(), v.string());

export function defineJob<P extends PayloadSchema, C extends CustomSchema = typeof anyCustom, R extends JsonObject = JsonObject>(
  definition: JobDefinition<P, C, R>,
): Job {
  if (!/^[a-z][a-z0-9-]*$/.test(definition.name)) {
    throw new Error(`job name ${JSON.stringify(definition.name)} must be lower-case letters, digits and dashes`);
  }
  if (definition.payload.entries.bucket !== oss.bucket) {
    throw new Error(
      `job ${definition.name}: the payload must read the bucket as \`bucket: oss.bucket\`; every callback is checked against OSS_ALLOWED_BUCKETS`,
    );
  }
  const custom = definition.custom ?? anyCustom;
  return {
    name: definition.name,
    description: definition.description,
    payload: definition.payload,
    custom,
    tables: definition.tables ?? [],
    owner: definition.owner ?? false,
    template: {
      form: callbackBodyTemplate(definition.payload, custom, 'form'),
      json: callbackBodyTemplate(definition.payload, custom, 'json'),
    },
    handle: definition.handle as Job['handle'],
    ...(definition.onEvent ? { onEvent: definition.onEvent } : {}),
  };
}
