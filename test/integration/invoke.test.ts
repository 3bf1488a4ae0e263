/**
 * Local invoke: `npm run invoke -- <function> <event.json>` runs the FC 3.0 handler with an FC 3.0
 * HTTP trigger event file and prints the response object. Every shipped example event must verify.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeEvents } from '../../scripts/events.js';
import { functionNames, loadFunctions } from '../../scripts/functions.js';
import { tempDatabaseUrl } from '../helpers/callbacks.js';

const root = new URL('../../', import.meta.url).pathname;

function invoke(name: string, eventFile: string, env: Record<string, string> = {}) {
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/invoke.ts', name, eventFile], {
    cwd: root,
    // About invoking, not the object check: the example events name objects no OSS holds (README,
    // npm run invoke). The object check: test/integration/trust.test.ts and test/e2e/local-oss.test.ts.
    env: { ...process.env, DATABASE_URL: tempDatabaseUrl(), OSS_ALLOWED_BUCKETS: '', OSS_VERIFY_OBJECTS: 'off', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(stdout);
}

// OSS callback functions answer HTTP trigger events; tasks (timer/invoked) are covered in test/integration/jobs-invoke.test.ts.
const callbackFunctions = (await loadFunctions()).map((fn) => fn.name);

describe('npm run invoke', () => {
  for (const name of callbackFunctions) {
    const dir = join(root, 'functions', name, 'events');
    const events = readdirSync(dir).filter((file) => file.endsWith('.json') && file !== 'samples.json' && !file.startsWith('oss-'));
    it(`${name}: ships example events`, () => assert.ok(events.length > 0));
    for (const file of events) {
      it(`${name}: ${file} → 200 with the full FC 3.0 response struct`, () => {
        const result = invoke(name, join('functions', name, 'events', file));
        assert.equal(result.statusCode, 200, JSON.stringify(result));
        assert.equal(result.isBase64Encoded, false);
        assert.equal(result.headers['content-length'], String(Buffer.byteLength(result.body)));
        assert.equal(typeof JSON.parse(result.body), 'object');
      });
    }
  }

  for (const name of callbackFunctions) {
    const dir = join(root, 'functions', name, 'events');
    const ossEvents = readdirSync(dir).filter((file) => file.startsWith('oss-') && file.endsWith('.json'));
    it(`${name}: ships OSS trigger events (created and deleted)`, () => {
      assert.ok(ossEvents.includes('oss-delete.json'), ossEvents.join());
      assert.ok(ossEvents.some((file) => /^oss-(put|post|multipart)\.json$/.test(file)), ossEvents.join());
    });
    for (const file of ossEvents) {
      it(`${name}: ${file} runs the OSS event path and prints its summary`, () => {
        const result = invoke(name, join('functions', name, 'events', file));
        assert.equal(result.function, name);
        assert.equal(result.events, 1);
        assert.equal(Object.values(result.outcomes as Record<string, number>).reduce((a, b) => a + b, 0), 1);
        assert.equal(result.outcomes.InvalidEvent, undefined, JSON.stringify(result));
      });
    }
  }

  it('an OSS event from a bucket that is not allowed is Ignored, not a failure', () => {
    const result = invoke('record-upload', 'functions/record-upload/events/oss-put.json', { OSS_ALLOWED_BUCKETS: 'someone-else' });
    assert.deepEqual(result, { function: 'record-upload', events: 1, outcomes: { Ignored: 1 } });
  });

  it('exits non-zero, with the error on stderr, when the handler throws (FC would retry the invocation)', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/invoke.ts', 'record-upload', 'functions/record-upload/events/oss-put.json'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: tempDatabaseUrl(), EVENT_DEADLINE_MS: 'soon' },
      encoding: 'utf8',
    });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.equal(run.stdout, '');
    const error = JSON.parse(run.stderr.slice(run.stderr.indexOf('{\n')));
    assert.equal(error.failed, true);
    assert.equal(error.code, 'ConfigurationError');
    assert.match(error.errorMessage, /EVENT_DEADLINE_MS="soon" is not an integer/);
  });

  it('refuses the example event when the bucket is not allowed', () => {
    const result = invoke('record-upload', 'functions/record-upload/events/form.json', { OSS_ALLOWED_BUCKETS: 'someone-else' });
    assert.equal(result.statusCode, 403);
    assert.equal(JSON.parse(result.body).error.code, 'BucketNotAllowed');
  });

  it('the shipped events are exactly what `npm run events` writes', async () => {
    for (const name of functionNames()) {
      const dir = join(root, 'functions', name, 'events');
      const before = new Map(readdirSync(dir).map((file) => [file, readFileSync(join(dir, file), 'utf8')]));
      await writeEvents(name);
      for (const [file, text] of before) assert.equal(readFileSync(join(dir, file), 'utf8'), text, `${name}/${file} is stale: run npm run events`);
    }
  });
});
