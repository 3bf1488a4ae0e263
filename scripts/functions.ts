/**
 * Finds and loads the functions under functions/: each folder with an index.ts that exports either
 * `job` (an OSS callback function) or `task` (a timer- or invocation-triggered function), and `handler`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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

export type AnyLoadedFunction = LoadedFunction | LoadedTask;

/** Loads functions/<name>/index.ts: a callback function or a task. */
export async function loadAnyFunction(name: string): Promise<AnyLoadedFunction> {
  const known = functionNames();
  if (!known.includes(name)) {
    throw new Error(`no function ${JSON.stringify(name)} under functions/; there are: ${known.join(', ')}`);
  }
  const module = (await import(pathToFileURL(join(FUNCTIONS_DIR, name, 'index.ts')).href)) as { job?: Job; task?: Task; handler?: unknown };
  const definition = module.job ?? module.task;
  if (!definition || typeof module.handler !== 'function') {
    throw new Error(
      `functions/${name}/index.ts must export \`job\` (defineJob) and \`handler\` (createHandler), or \`task\` (defineTask) and \`handler\` (createTaskHandler)`,
    );
  }
  if (definition.name !== name) {
    throw new Error(`functions/${name}/index.ts defines a ${module.job ? 'job' : 'task'} named ${JSON.stringify(definition.name)}; name it after its folder`);
  }
  return module.job
    ? { kind: 'callback', name, job: module.job, handler: module.handler as Fc3Handler }
    : { kind: 'task', name, task: module.task!, handler: module.handler as TaskHandler };
}

/** Loads an OSS callback function (one that has a callback template); a task is refused with a clear error. */
export async function loadFunction(name: string): Promise<LoadedFunction> {
  const fn = await loadAnyFunction(name);
  if (fn.kind !== 'callback') {
    throw new Error(`${name} is not an OSS callback function: it is a ${fn.task.trigger === 'timer' ? 'timer-triggered' : 'invoked'} task (no callback template, no HTTP trigger)`);
  }
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
