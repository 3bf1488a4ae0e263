/**
 * `npm run invoke -- <function-name> <event.json>`: runs that function's FC 3.0 handler in this
 * process with an FC 3.0 HTTP trigger event file (the file `s local invoke -f` takes) and prints
 * the returned response object as JSON on stdout. The callback's log line goes to stderr.
 * An OSS trigger event file ({"events":[…]}, e.g. functions/<name>/events/oss-put.json) runs the
 * job's OSS event path, as FC 3.0 would (a Buffer), and prints the summary. When the handler throws
 * (FC would count a failed invocation and retry it), the error goes to stderr and the exit code is 1.
 * A task (timer- or invocation-triggered function) takes its own event file (e.g. a timer trigger's
 * {"triggerTime","triggerName","payload"}) and prints its result.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { closeStores } from '../shared/store/index.js';
import { loadAnyFunction } from './functions.js';
import { applyLocalDefaults, applyLocalPlatformDefaults, applyLocalUploadDefaults } from './local-env.js';

const [name, eventFile] = process.argv.slice(2);
if (!name || !eventFile) {
  process.stderr.write('usage: npm run invoke -- <function-name> <event.json>  (an FC 3.0 HTTP trigger event, an OSS trigger event, or a task event)\n');
  process.exit(2);
}
process.env.OSS_CALLBACK_LOG ??= 'stderr';
const localBase = `http://127.0.0.1:${process.env.PORT || 9000}`; // as if served by npm start
for (const notice of [...applyLocalDefaults(), ...applyLocalPlatformDefaults(), ...applyLocalUploadDefaults(localBase)]) process.stderr.write(`notice: ${notice}\n`);

const fn = await loadAnyFunction(name);
const event = readFileSync(eventFile);
const context = {
  requestId: `local-${randomUUID()}`,
  function: { name, handler: 'index.handler', memory: 512, timeout: 10 },
  region: process.env.FC_REGION,
  accountId: process.env.FC_ACCOUNT_ID,
  credentials: {},
};
try {
  const result = await fn.handler(event, context);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} catch (error) {
  // What FC records for a failed invocation: errorType and errorMessage (plus our code and summary).
  const e = error as { name?: string; code?: string; message?: string; details?: unknown };
  process.stderr.write(
    `${JSON.stringify({ failed: true, errorType: e?.name, code: e?.code, errorMessage: e?.message ?? String(error), details: e?.details }, null, 2)}\n`,
  );
  process.exitCode = 1;
} finally {
  await closeStores();
}
