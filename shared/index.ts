/**
 * What a function under functions/ imports: define a job, declare its tables, export its handler.
 */
export { defineJob } from './core/job.js';
export type { CallbackInfo, Job, JobContext, JsonObject, ObjectEventContext } from './core/job.js';
export type { ObjectEventsSummary, OssObjectEvent } from './core/events.js';
export { normalizeEtag, objectIdempotencyKey } from './core/object.js';
export type { VerifiedObject } from './core/object.js';
export type { Owner, OwnerSource } from './core/owner.js';
export { createHandler } from './runtime/handler.js';
export { CallbackError, configurationError } from './protocol/errors.js';
export { oss } from './protocol/variables.js';
export { defineTable, newId } from './store/index.js';
export type { Store, Table, Tx } from './store/types.js';
// Job configuration from environment variables, and functions that are not OSS callbacks (timer- or
// event-triggered tasks).
export { env, envConfig } from './core/env.js';
export { createTaskHandler, defineTask } from './core/task.js';
export type { Task, TaskContext } from './core/task.js';
export type { PlatformContext } from './core/platform.js';
// Plain HTTP functions (an application's own API, e.g. upload-policy), on the same adapters.
export { defineHttpFunction } from './core/http-function.js';
export type { HttpContext, HttpFunction, HttpRequest, HttpResponse } from './core/http-function.js';
export { createHttpHandler } from './runtime/handler.js';
export { errorReply, jsonReply } from './protocol/reply.js';
