/**
 * Finds and loads the functions under functions/: each folder with an index.ts that exports either
 * `job` (an OSS callback function), `task` (a timer- or invocation-triggered function) or `http` (a
 * plain HTTP function), and `handler`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HttpFunction } from '../shared/core/http-function.js';
import type { Job } from '../shared/core/job.js';
import type { Task, TaskHandler } from '../shared/core/task.js';
import type { Fc3Handler } from '../shared/runtime/handler.js';

export const FUNCTIONS_DIR = resolve(import.meta.dirname, '..', 'functions');

export function functionNames(): string[] {
  return readdirSync(FUNCTIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(FUNCTIONS_DIR, entry.name, 'index.ts')))
    .map((entry) => entry.name)
    .sort();
}

/** An OSS callback function: exports `job` (defineJob) and `handler` (createHandler). */
export interface LoadedFunction {
  kind: 'callback';
  name: string;
  job: Job;
  handler: Fc3Handler;
}

/** Any other function (timer- or invocation-triggered): exports `task` (defineTask) and `handler` (createTaskHandler). */
export interface LoadedTask {
  kind: 'task';
  name: string;
  task: Task;
  handler: TaskHandler;
}

/** A plain HTTP function (not an OSS callback): exports `http` (defineHttpFunction) and `handler` (createHttpHandler). */
export interface LoadedHttpFunction {
  kind: 'http';
  name: string;
  http: HttpFunction;
  handler: Fc3Handler;
}

export type AnyLoadedFunction = LoadedFunction | LoadedTask | LoadedHttpFunction;

/** Loads functions/<name>/index.ts: a callback function or a task. */
export async function loadAnyFunction(name: string): Promise<AnyLoadedFunction> {
  const known = functionNames();
  if (!known.includes(name)) {
    throw new Error(`no function ${JSON.stringify(name)} under functions/; there are: ${known.join(', ')}`);
  }
  const module = (await import(pathToFileURL(join(FUNCTIONS_DIR, name, 'index.ts')).href)) as { job?: Job; task?: Task; http?: HttpFunction; handler?: unknown };
  const definition = module.job ?? module.task ?? module.http;
  if (!definition || typeof module.handler !== 'function') {
    throw new Error(
      `functions/${name}/index.ts must export \`job\` (defineJob) and \`handler\` (createHandler), \`task\` (defineTask) and \`handler\` (createTaskHandler), or \`http\` (defineHttpFunction) and \`handler\` (createHttpHandler)`,
    );
  }
  if (definition.name !== name) {
    throw new Error(`functions/${name}/index.ts defines a ${module.job ? 'job' : module.task ? 'task' : 'function'} named ${JSON.stringify(definition.name)}; name it after its folder`);
  }
  if (module.job) return { kind: 'callback', name, job: module.job, handler: module.handler as Fc3Handler };
  if (module.task) return { kind: 'task', name, task: module.task, handler: module.handler as TaskHandler };
  return { kind: 'http', name, http: module.http!, handler: module.handler as Fc3Handler };
}

/** Loads an OSS callback function (one that has a callback template); a task is refused with a clear error. */
export async function loadFunction(name: string): Promise<LoadedFunction> {
  const fn = await loadAnyFunction(name);
  if (fn.kind === 'task') {
    throw new Error(`${name} is not an OSS callback function: it is a ${fn.task.trigger === 'timer' ? 'timer-triggered' : 'invoked'} task (no callback template, no HTTP trigger)`);
  }
  if (fn.kind === 'http') throw new Error(`${name} is not an OSS callback function: it is a plain HTTP function (no callback template)`);
  return fn;
}

/** Every function under functions/, callbacks and tasks. */
export async function loadAllFunctions(): Promise<AnyLoadedFunction[]> {
  return Promise.all(functionNames().map(loadAnyFunction));
}

/** The OSS callback functions only. */
export async function loadFunctions(): Promise<LoadedFunction[]> {
  return (await loadAllFunctions()).filter((fn): fn is LoadedFunction => fn.kind === 'callback');
}
