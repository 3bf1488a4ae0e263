/**
 * `npm start`: the local server. Every OSS callback function under functions/ at `POST /<name>` (and
 * any path below it), every plain HTTP function (upload-policy) at `/<name>`, `GET /healthz`, and the
 * direct-upload demo page at `GET /` (scripts/demo.ts), on PORT (default 9000), HOST (default 127.0.0.1).
 * Only requests whose Host names this machine's loopback, HOST or LOCAL_ALLOWED_HOSTS are answered
 * (421 HostNotAllowed otherwise: DNS rebinding), and a HOST that is not loopback is warned about.
 * The datastore is DATABASE_URL (default: the embedded SQLite file .data/callbacks.db).
 *
 * It also answers the FC invoke API (2016-08-15 and 2023-03-30 paths, signatures checked) for every
 * function, callbacks and tasks alike, running the named function in this process: what the media
 * hand-off calls (MEDIA_FC_ENDPOINT defaults to this server), and a way to run the timer function:
 * see shared/runtime/fc-api.ts and applyLocalFcApiDefaults in scripts/local-env.ts.
 *
 * And a local OSS endpoint (shared/testing/oss-emulator) on OSS_EMULATOR_PORT (default 9001, 0: off):
 * real uploaders upload to it with callbacks to these functions, and each local callback function gets
 * the OSS event of each created or deleted object under its trigger's key filter (s.yaml's
 * <JOB>_EVENT_PREFIX/_SUFFIX, default uploads/<job>/), as a native FC OSS trigger delivers it.
 */
import { createServer } from 'node:http';
import { configFromEnv } from '../shared/core/config.js';
import { createRuntime } from '../shared/core/pipeline.js';
import { createFcApi } from '../shared/runtime/fc-api.js';
import { allowedHostsFor, hostCheck, isLoopbackHost } from '../shared/runtime/host-check.js';
import { type HealthCheck, ossCheck, storeCheck } from '../shared/runtime/health.js';
import { createNodeListener } from '../shared/runtime/node.js';
import { closeStores, storeLabel } from '../shared/store/index.js';
import { createDemo } from './demo.js';
import { loadAllFunctions, type LoadedFunction, type LoadedHttpFunction } from './functions.js';
import { applyLocalDefaults, applyLocalFcApiDefaults, applyLocalPlatformDefaults, applyLocalUploadDefaults, ossEmulatorSettings } from './local-env.js';
import { startLocalOss } from './local-oss.js';

const notices = [...applyLocalDefaults(), ...applyLocalPlatformDefaults()];
const config = configFromEnv();
const runtime = createRuntime(config);
const all = await loadAllFunctions();
const functions = all.filter((fn): fn is LoadedFunction => fn.kind === 'callback');
const tasks = all.filter((fn) => fn.kind === 'task');
const plain = all.filter((fn): fn is LoadedHttpFunction => fn.kind === 'http');
const port = Number(process.env.PORT ?? 9000);
const host = process.env.HOST ?? '127.0.0.1';
const datastore = storeLabel(config.databaseUrl);
const allowedHosts = allowedHostsFor(host, process.env.LOCAL_ALLOWED_HOSTS);
const oss = ossEmulatorSettings(); // read before listening: a bad OSS_EMULATOR_PORT stops the start

// GET /healthz: 200 when every check answers, 503 naming the one that does not: the store, and OSS
// (a signed HEAD to OSS_ENDPOINT, by default the local emulator) when object verification is on.
const checks: HealthCheck[] = [storeCheck(config.databaseUrl)];
const ossHealth = ossCheck(config);
if (ossHealth) checks.push(ossHealth);
const demo = createDemo({ jobs: functions.map((f) => f.job), runtime });
const callbacks = createNodeListener({ jobs: functions.map((f) => f.job), http: plain.map((f) => f.http), runtime, allowedHosts, checks, health: () => ({ datastore, tasks: tasks.map((t) => t.name) }) });
// The FC invoke API needs this server's address for its defaults, so it is created once listening.
let fcApi: ReturnType<typeof createFcApi> | undefined;
const wrongHost = hostCheck(allowedHosts);
const server = createServer((req, res) => {
  if (fcApi?.handle(req, res)) return;
  // The demo mints development sign-in tokens: a request to a Host this server does not answer to
  // (a DNS-rebinding page) goes to the callbacks listener, which answers 421 HostNotAllowed.
  if (wrongHost(req)) return callbacks(req, res);
  demo.handle(req, res).then(
    (done) => done || callbacks(req, res),
    () => callbacks(req, res),
  );
});
// OSS keeps no connection open for long; these keep a local server well-behaved under load tests.
server.keepAliveTimeout = 5000;
server.headersTimeout = 10000;

let localOss: Awaited<ReturnType<typeof startLocalOss>> | undefined;
server.listen(port, host, async () => {
  const address = server.address();
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}`;
  const out = process.stderr;
  out.write(`OSS callback functions listening on ${base}\n`);
  out.write(`datastore: ${datastore}\n`);
  for (const f of functions) out.write(`  POST ${base}/${f.name}  (${f.job.description ?? f.name})\n`);
  for (const f of plain) out.write(`  POST ${base}/${f.name}  (${f.http.description ?? f.name})\n`);
  out.write(`  GET  ${base}/healthz\n`);
  out.write(`  GET  ${base}/  (direct-upload demo page; POST /dev/token, GET /dev/records: local only)\n`);
  // Hand-offs call this server by a name it answers to (0.0.0.0 is not one: see host-check.ts).
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  const reachable = wildcard ? base.replace(/^http:\/\/[^/]+:/, `http://${host === '::' ? '[::1]' : '127.0.0.1'}:`) : base;
  const local = applyLocalFcApiDefaults(reachable);
  // The demo page uploads to the local OSS endpoint, wherever OSS_EMULATOR_PORT / _HOST put it.
  if (oss.port !== undefined) {
    const name = isLoopbackHost(oss.host) ? oss.host : '127.0.0.1';
    process.env.LOCAL_OSS_URL ||= `http://${name.includes(':') ? `[${name}]` : name}:${oss.port}`;
  }
  local.notices.push(...applyLocalUploadDefaults(reachable));
  const platform = { accountId: process.env.FC_ACCOUNT_ID!, region: process.env.FC_REGION! };
  fcApi = createFcApi({ functions: new Map(all.map((f) => [f.name, f.handler])), credentials: local.credentials, ...platform, log: runtime.log, allowedHosts });
  out.write(`FC invoke API (signed with ${local.credentials.accessKeyId}), any local function:\n`);
  out.write(`  POST ${base}/2016-08-15/services/<any service>/functions/<name>/invocations\n`);
  out.write(`  POST ${base}/2023-03-30/functions/<name>/invocations\n`);
  for (const t of tasks) out.write(`  task ${t.name}  (${t.kind === 'task' ? t.task.description ?? t.task.trigger : ''})\n`);
  out.write(`answering Host: ${[...new Set(allowedHosts.filter((name) => name.trim()))].join(', ')} (any port; more with LOCAL_ALLOWED_HOSTS)\n`);
  if (!isLoopbackHost(host)) {
    const trusted = [process.env.OSS_ALLOWED_BUCKETS === '*' ? 'callbacks from ANY bucket' : '', process.env.OSS_PUBLIC_KEYS_FILE ? `keys from ${process.env.OSS_PUBLIC_KEYS_FILE}` : ''].filter(Boolean);
    out.write(
      `\nWARNING: HOST=${host} is not a loopback address: other machines can reach this development server` +
        (trusted.length > 0 ? `, which trusts ${trusted.join(' and ')} (the development key is public)` : '') +
        ` and runs any local function through its FC API when signed with ${local.credentials.accessKeyId}.` +
        ' Use HOST=127.0.0.1 unless you mean it; set OSS_ALLOWED_BUCKETS and OSS_PUBLIC_KEYS_FILE="" to trust only OSS.\n\n',
    );
  }
  const ossNotices: string[] = [];
  if (oss.port === undefined) ossNotices.push('OSS_EMULATOR_PORT=0: the local OSS endpoint is off');
  else {
    try {
      localOss = await startLocalOss(all, { ...oss, port: oss.port, credentials: local.credentials, log: runtime.log });
      for (const line of localOss.banner) out.write(`${line}\n`);
      ossNotices.push(...localOss.notices);
    } catch (error) {
      ossNotices.push(`the local OSS endpoint could not start on port ${oss.port} (${(error as Error).message}); set OSS_EMULATOR_PORT to another port, or 0 to turn it off`);
    }
  }
  // One write: the notices end the banner, and a reader (test/helpers/server.ts) waits for the last one.
  out.write([...notices, ...local.notices, ...ossNotices].map((notice) => `notice: ${notice}\n`).join(''));
});

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) process.exit(1);
    closing = true;
    server.close();
    server.closeIdleConnections();
    void localOss?.emulator.close();
    closeStores().finally(() => process.exit(0));
  });
}
