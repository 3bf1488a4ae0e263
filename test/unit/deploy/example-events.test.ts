/**
 * The FC 3.0 HTTP trigger events the project ships (functions/<name>/events/, test/fixtures/fc3/):
 * `requestContext.time` and `timeEpoch` say the same moment, and that moment is what a function
 * stores as the record's received time (FC 3.0 adapter: receivedAt from timeEpoch).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { it } from 'node:test';
import { EVENT_TIME } from '../../../scripts/events.js';
import { functionNames } from '../../../scripts/functions.js';
import { fc3ToRequest, parseFc3Event } from '../../../shared/runtime/fc3.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

function eventFiles(): string[] {
  const folders = [...functionNames().map((name) => join(ROOT, 'functions', name, 'events')), join(ROOT, 'test', 'fixtures', 'fc3')];
  return folders.flatMap((folder) => {
    try {
      return readdirSync(folder).filter((file) => file.endsWith('.json') && file !== 'samples.json').map((file) => join(folder, file));
    } catch {
      return [];
    }
  });
}

it('every FC 3.0 example event has time and timeEpoch in agreement, and the function reads that moment', () => {
  let checked = 0;
  for (const file of eventFiles()) {
    const event = JSON.parse(readFileSync(file, 'utf8'));
    const context = event.requestContext;
    if (typeof context?.timeEpoch !== 'string') continue; // not an HTTP trigger event (a timer event)
    checked += 1;
    assert.equal(Number(context.timeEpoch), Date.parse(context.time), `${file}: time ${context.time} but timeEpoch ${new Date(Number(context.timeEpoch)).toISOString()}`);
    assert.equal(fc3ToRequest(parseFc3Event(event), undefined).receivedAt, Date.parse(context.time), file);
  }
  assert.ok(checked >= 10, `only ${checked} events checked`);
  assert.equal(EVENT_TIME, '2026-11-20T08:00:00Z');
});
