/** Finds and loads the functions under functions/ (each folder with an index.ts exporting `job`). */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Job } from '../shared/core/job.js';
import type { Fc3Handler } from '../shared/runtime/handler.js';

export const FUNCTIONS_DIR = resolve(import.meta.dirname, '..', 'functions');

export function functionNames(): string[] {
  return readdirSync(FUNCTIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(FUNCTIONS_DIR, entry.name, 'index.ts')))
    .map((entry) => entry.name)
    .sort();
}

export interface LoadedFunction {
  name: string;
  job: Job;
  handler: Fc3Handler;
}

export async function loadFunction(name: string): Promise<LoadedFunction> {
  const known = functionNames();
  if (!known.includes(name)) {
    throw new Error(`no function ${JSON.stringify(name)} under functions/; there are: ${known.join(', ')}`);
  }
  const module = (await import(pathToFileURL(join(FUNCTIONS_DIR, name, 'index.ts')).href)) as Partial<LoadedFunction>;
  if (!module.job || typeof module.handler !== 'function') {
    throw new Error(`functions/${name}/index.ts must export \`job\` (defineJob) and \`handler\` (createHandler)`);
  }
  if (module.job.name !== name) {
    throw new Error(`functions/${name}/index.ts defines a job named ${JSON.stringify(module.job.name)}; name it after its folder`);
  }
  return { name, job: module.job, handler: module.handler };
}

export async function loadFunctions(): Promise<LoadedFunction[]> {
  return Promise.all(functionNames().map(loadFunction));
}
