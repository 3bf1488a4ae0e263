/**
 * `npm run invoke` for the functions that are not OSS callbacks (tasks): they take their own event
 * files (a timer trigger's event, a job event) and print their result. The callback functions' events
 * are covered by invoke.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadAllFunctions, loadFunction } from '../../scripts/functions.js';
import { tempDatabaseUrl } from '../helpers/callbacks.js';

const root = new URL('../../', import.meta.url).pathname;
const tasks = (await loadAllFunctions()).filter((fn) => fn.kind === 'task');

function invoke(name: string, eventFile: string) {
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/invoke.ts', name, eventFile], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: tempDatabaseUrl(), OSS_CALLBACK_LOG: 'off' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(stdout);
}

describe('npm run invoke, tasks', () => {
  it('finds the timer function and the example worker as tasks', () => {
    assert.deepEqual(
      tasks.map((fn) => [fn.name, fn.kind === 'task' ? fn.task.trigger : '']),
      [
        ['media-dispatch', 'timer'],
        ['media-worker-example', 'invoke'],
      ],
    );
  });

  for (const fn of tasks) {
    const dir = join(root, 'functions', fn.name, 'events');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      it(`${fn.name}: ${file} runs and prints its result`, () => {
        const result = invoke(fn.name, join('functions', fn.name, 'events', file));
        assert.equal(typeof result, 'object');
        if (fn.name === 'media-dispatch') assert.deepEqual(result, { checked: 0, dispatched: 0, failedHandoffs: 0, exhausted: 0 });
        else assert.deepEqual(result, { jobId: '0196a8f2-6c1e-7b2a-9d4f-2f0c5e8b1a77', skipped: 'unknown' });
      });
    }
  }

  it('refuses a task where a callback function is needed (npm run template / send)', async () => {
    await assert.rejects(loadFunction('media-dispatch'), /media-dispatch is not an OSS callback function: it is a timer-triggered task/);
  });
});
