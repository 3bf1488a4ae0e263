/**
 * A job is one processing step for verified OSS callbacks: the variables it reads (a valibot schema
 * built from `oss.*` pieces), the tables it writes, and what it answers. One job = one function.
 */
import * as v from 'valibot';
import { callbackBodyTemplate, oss } from '../protocol/index.js';
import type { Store, Table } from '../store/types.js';
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
   * Identifies the upload: `<bucket>/<reqId>` when the body carries OSS's `reqId`, otherwise the
   * SHA-256 of the signed body. The same upload delivered twice has the same key.
   */
  idempotencyKey: string;
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
  payload: P;
  custom: C;
  callback: CallbackInfo;
  /** The datastore, opened and migrated for this job's tables. */
  store: Store;
  /** Aborted when the deadline passes: pass it on to slow calls. */
  signal: AbortSignal;
  /** Adds fields to this callback's log line (no secrets). */
  log(fields: JsonObject): void;
}

export interface JobDefinition<P extends PayloadSchema, C extends CustomSchema, R extends JsonObject> {
  /** The function name: its folder under functions/, its URL path locally, its FC function name. */
  name: string;
  description?: string;
  payload: P;
  custom?: C;
  tables?: readonly Table<any>[];
  handle(context: JobContext<v.InferOutput<P>, v.InferOutput<C>>): Promise<R>;
}

export interface Job {
  readonly name: string;
  readonly description: string | undefined;
  readonly payload: PayloadSchema;
  readonly custom: CustomSchema;
  readonly tables: readonly Table<any>[];
  /** The callbackBody templates uploaders should use with this job. */
  readonly template: { readonly form: string; readonly json: string };
  handle(context: JobContext<any, any>): Promise<JsonObject>;
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
    template: {
      form: callbackBodyTemplate(definition.payload, custom, 'form'),
      json: callbackBodyTemplate(definition.payload, custom, 'json'),
    },
    handle: definition.handle as Job['handle'],
  };
}
