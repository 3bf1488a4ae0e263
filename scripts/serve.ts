/**
 * `npm start`: the local server. Every function under functions/ at `POST /<name>` (and any path
 * below it), `GET /healthz`, on PORT (default 9000), HOST (default 127.0.0.1).
 * The datastore is DATABASE_URL (default: the embedded SQLite file .data/callbacks.db).
 */
import { createServer } from 'node:http';
import { configFromEnv } from '../shared/core/config.js';
import { createRuntime } from '../shared/core/pipeline.js';
import { createNodeListener } from '../shared/runtime/node.js';
import { closeStores, storeLabel } from '../shared/store/index.js';
import { loadFunctions } from './functions.js';
import { applyLocalDefaults } from './local-env.js';

const notices = applyLocalDefaults();
const config = configFromEnv();
const runtime = createRuntime(config);
const functions = await loadFunctions();
const port = Number(process.env.PORT ?? 9000);
const host = process.env.HOST ?? '127.0.0.1';
const datastore = storeLabel(config.databaseUrl);

const server = createServer(
  createNodeListener({ jobs: functions.map((f) => f.job), runtime, health: () => ({ datastore }) }),
);
// OSS keeps no connection open for long; these keep a local server well-behaved under load tests.
server.keepAliveTimeout = 5000;
server.headersTimeout = 10000;

server.listen(port, host, () => {
  const address = server.address();
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}`;
  const out = process.stderr;
  out.write(`OSS callback functions listening on ${base}\n`);
  out.write(`datastore: ${datastore}\n`);
  for (const f of functions) out.write(`  POST ${base}/${f.name}  (${f.job.description ?? f.name})\n`);
  out.write(`  GET  ${base}/healthz\n`);
  for (const notice of notices) out.write(`notice: ${notice}\n`);
});

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) process.exit(1);
    closing = true;
    server.close();
    server.closeIdleConnections();
    closeStores().finally(() => process.exit(0));
  });
}
