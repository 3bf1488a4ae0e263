/**
 * What a function under functions/ imports: define a job, declare its tables, export its handler.
 */
export { defineJob } from './core/job.js';
export type { CallbackInfo, Job, JobContext, JsonObject } from './core/job.js';
export { normalizeEtag, objectIdempotencyKey } from './core/object.js';
export type { VerifiedObject } from './core/object.js';
export type { Owner, OwnerSource } from './core/owner.js';
export { createHandler } from './runtime/handler.js';
export { CallbackError } from './protocol/errors.js';
export { oss } from './protocol/variables.js';
export { defineTable, newId } from './store/index.js';
export type { Store, Table, Tx } from './store/types.js';
// Job configuration from environment variables, and functions that are not OSS callbacks (timer- or
// event-triggered tasks).
export { env, envConfig } from './core/env.js';
export { createTaskHandler, defineTask } from './core/task.js';
export type { Task, TaskContext } from './core/task.js';
export type { PlatformContext } from './core/platform.js';
