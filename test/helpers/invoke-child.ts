/**
 * A function in a process of its own, invoked on request: `node --import tsx test/helpers/invoke-child.ts
 * <function> <event.json>`. Loads functions/<function>/index.ts (a cold process: no store, no
 * connection, no migration check yet), prints "READY", then calls its FC 3.0 `handler` with the event
 * once for each line read on stdin and prints "REPLY <status code>" after each reply. For tests that
 * watch what a cold start and the callbacks after it send (test/integration/cold-start-round-trips.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [name, eventFile] = process.argv.slice(2);
const root = join(import.meta.dirname, '..', '..');
const { handler } = (await import(pathToFileURL(join(root, 'functions', name!, 'index.ts')).href)) as {
  handler: (event: Buffer, context: unknown) => Promise<{ statusCode?: number; body?: string }>;
};
const event = readFileSync(eventFile!);
const context = { requestId: 'cold-start-test', function: { name: name!, handler: 'index.handler', memory: 512, timeout: 10 }, region: 'local', accountId: 'local', credentials: {} };

process.stdout.write('READY\n');
for await (const _ of createInterface({ input: process.stdin })) {
  const reply = await handler(event, context);
  process.stdout.write(`REPLY ${reply.statusCode} ${reply.body ?? ''}\n`);
}
