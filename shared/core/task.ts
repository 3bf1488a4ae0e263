/**
 * A task is a function that is NOT an OSS callback: a timer-triggered job (FC timer trigger) or a
 * worker invoked with a JSON event (e.g. asynchronously, by another function). Function Compute 3.0
 * calls it as `handler(event, context)` with the event as a Buffer (a timer trigger sends
 * `{"triggerTime","triggerName","payload"}`); whatever `run` returns becomes the invocation's result
 * (FC returns objects as JSON). A task that throws fails the invocation, so FC's asynchronous
 * invocation retries it.
 *
 * Like a job: its event schema (valibot), its tables (migrated on first use), one JSON log line per
 * invocation. `export const task = defineTask({...}); export const handler = createTaskHandler(task);`
 */
import * as v from 'valibot';
import { getStore } from '../store/index.js';
import type { Store, Table } from '../store/types.js';
import { configFromEnv } from './config.js';
import type { JsonObject } from './job.js';
import { createLogger, type Logger } from './log.js';
import { platformFromFcContext, type PlatformContext } from './platform.js';

export interface TaskContext<E> {
  /** The event, parsed from JSON and checked against the task's schema. */
  event: E;
  /** The datastore (DATABASE_URL), opened and migrated for the task's tables. */
  store: Store;
  /** Region, account and role credentials from the FC context. Never log it. */
  platform: PlatformContext;
  requestId: string;
  /** Adds fields to this invocation's log line (no secrets). */
  log(fields: JsonObject): void;
}

export interface TaskDefinition<S extends v.GenericSchema, R extends JsonObject> {
  /** The function name: its folder under functions/ and its FC function name. */
  name: string;
  description?: string;
  /** How it is started: a timer trigger, or an invocation with an event (no HTTP trigger either way). */
  trigger: 'timer' | 'invoke';
  event: S;
  tables?: readonly Table<any>[];
  run(context: TaskContext<v.InferOutput<S>>): Promise<R>;
}

export interface Task {
  readonly kind: 'task';
  readonly name: string;
  readonly description: string | undefined;
  readonly trigger: 'timer' | 'invoke';
  readonly event: v.GenericSchema;
  readonly tables: readonly Table<any>[];
  run(context: TaskContext<any>): Promise<JsonObject>;
}

export function defineTask<S extends v.GenericSchema, R extends JsonObject>(definition: TaskDefinition<S, R>): Task {
  if (!/^[a-z][a-z0-9-]*$/.test(definition.name)) {
    throw new Error(`task name ${JSON.stringify(definition.name)} must be lower-case letters, digits and dashes`);
  }
  return {
    kind: 'task',
    name: definition.name,
    description: definition.description,
    trigger: definition.trigger,
    event: definition.event,
    tables: definition.tables ?? [],
    run: definition.run as Task['run'],
  };
}

/** What a task needs besides its event; by default from the environment (DATABASE_URL, OSS_CALLBACK_LOG). */
export interface TaskDeps {
  store?: () => Promise<Store>;
  log?: Logger;
}

/** The event as FC delivers it (Buffer, string or object) → JSON value; an empty event is `{}`. */
export function parseTaskEvent(event: unknown): unknown {
  if (Buffer.isBuffer(event) || event instanceof Uint8Array || typeof event === 'string') {
    const text = (typeof event === 'string' ? event : Buffer.from(event).toString('utf8')).trim();
    if (text === '') return {};
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`the event is not JSON (${text.length} characters starting ${JSON.stringify(text.slice(0, 40))})`);
    }
  }
  return event ?? {};
}

const migrated = new Map<string, Promise<Store>>();

function defaultStore(task: Task): Promise<Store> {
  const url = configFromEnv().databaseUrl;
  const key = `${task.name}\n${url}`;
  let ready = migrated.get(key);
  if (!ready) {
    ready = (async () => {
      const store = await getStore(url);
      await store.migrate(task.tables);
      return store;
    })();
    ready.catch(() => migrated.delete(key)); // a store that is down at cold start is tried again next time
    migrated.set(key, ready);
  }
  return ready;
}

/** Runs `task` once for an FC event and context; logs one line; throws when the task fails. */
export async function runTask(task: Task, event: unknown, context: unknown, deps: TaskDeps = {}): Promise<JsonObject> {
  const started = performance.now();
  const platform = platformFromFcContext(context);
  const requestId =
    typeof (context as { requestId?: unknown } | undefined)?.requestId === 'string'
      ? (context as { requestId: string }).requestId
      : `local-${Date.now().toString(36)}`;
  const log = deps.log ?? createLogger(configFromEnv().logTarget);
  const line: JsonObject = { function: task.name, requestId, trigger: task.trigger };
  try {
    const parsed = v.safeParse(task.event, parseTaskEvent(event));
    if (!parsed.success) {
      const problems = parsed.issues.map((issue) => `${issue.path?.map((p) => String(p.key)).join('.') ?? ''}: ${issue.message}`);
      throw new Error(`${task.name}: the event does not match what it reads (${problems.join('; ')})`);
    }
    const store = await (deps.store ?? (() => defaultStore(task)))();
    const result = await task.run({
      event: parsed.output,
      store,
      platform,
      requestId,
      log: (fields) => Object.assign(line, fields),
    });
    line.outcome = 'OK';
    line.status = 200;
    return result;
  } catch (error) {
    line.outcome = 'Failed';
    line.status = 500;
    line.message = error instanceof Error ? error.message : String(error);
    throw error;
  } finally {
    line.durationMs = Math.round((performance.now() - started) * 100) / 100;
    log(line);
  }
}

export type TaskHandler = (event: unknown, context?: unknown) => Promise<JsonObject>;

/** The FC handler of a task: `export const handler = createTaskHandler(task)`. */
export function createTaskHandler(task: Task, deps?: TaskDeps): TaskHandler {
  // `(event, ...rest)` keeps handler.length at 1, like the callback handlers.
  return (event: unknown, ...rest: unknown[]) => runTask(task, event, rest[0], deps);
}
