/**
 * Custom runtime (FC 3.0, `instanceConcurrency`): one process of the built server
 * (`npm run build:server -- record-upload`, dist/record-upload-server/server.js) receiving signed
 * record-upload callbacks for distinct uploads from 20 connections at once, on PostgreSQL; against
 * a minimal correct node:http server doing the same work (bench/servers/minimal.ts), with the same
 * pool size, same connections, alternating runs. Also counts the database connections each holds
 * (pg_stat_activity), against the one connection per instance of the built-in runtime, where 20
 * callbacks at once are 20 instances.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { closeStores } from '../shared/store/index.js';
import { POSTGRES_URL, rawQuery, reachable } from '../test/helpers/stores.js';
import { buildServer } from '../scripts/build-server.js';
import { benchKey, localKeysFile } from './lib/callbacks.js';
import { startServer } from './lib/child.js';
import { startLatencyProxy } from './lib/latency.js';
import { type BenchOptions, type BenchResult, log, ROOT } from './lib/common.js';
import { fmt, median, table } from './lib/stats.js';
import { load, UploadPool } from './server.js';

export const TARGET_RATIO = 0.7;
/** The delay each way when the database is a network hop away. */
const HOP_MS = 1;
const CONNECTIONS = 20;
const POOL_MAX = 4;

export async function run(options: BenchOptions): Promise<BenchResult> {
  log(`custom runtime: the built server, one process, ${CONNECTIONS} connections, PostgreSQL, vs a minimal correct node:http server`);
  const label = `custom runtime, ${CONNECTIONS} at once, PostgreSQL: ≥ ${TARGET_RATIO * 100}% of a minimal correct server`;
  if (!(await reachable(POSTGRES_URL))) {
    log('  SKIPPED: PostgreSQL not reachable (TEST_POSTGRES_URL)');
    return { name: 'custom-runtime', targets: [{ label, measured: 'not reachable', met: undefined }] };
  }
  await buildServer('record-upload', { quiet: true });
  const database = `oss_cb_bench_${randomBytes(4).toString('hex')}`;
  await rawQuery(POSTGRES_URL, `CREATE DATABASE ${database}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  const rounds = options.quick ? 2 : 4;
  const seconds = options.quick ? 3 : 5;
  const servers: { stop(): Promise<void> }[] = [];
  try {
    /** The built server and the minimal server on `dbUrl`, measured in alternating rounds. */
    const measure = async (dbUrl: string, suffix: string, seconds: number, rounds: number) => {
      const apps = { subject: `bench-subject${suffix}`, baseline: `bench-minimal${suffix}` };
      const subject = await startServer(join(ROOT, 'dist', 'record-upload-server', 'server.js'), {
        FC_SERVER_PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: `${dbUrl}?pool_max=${POOL_MAX}&application_name=${apps.subject}`,
        OSS_ALLOWED_BUCKETS: 'examplebucket',
        OSS_PUBLIC_KEYS_FILE: localKeysFile(),
        OSS_VERIFY_OBJECTS: 'off', // the minimal server asks OSS nothing either; the HEAD's own cost: bench/oss-head.ts
      });
      servers.push(subject);
      // The first callback migrates (creates the table) before the baseline inserts into it.
      pool.ensure(3000);
      await load(subject.url, 2, 1, pool.take);
      const baseline = await startServer(join(ROOT, 'bench', 'servers', 'minimal.ts'), {
        DATABASE_URL: `${dbUrl}?application_name=${apps.baseline}`,
        POOL_MAX: String(POOL_MAX),
        BENCH_PUBLIC_KEY_PEM: benchKey().publicKeyPem,
      });
      servers.push(baseline);
      pool.ensure(3000);
      await load(baseline.url, CONNECTIONS, 1, pool.take); // warm-up
      await load(subject.url, CONNECTIONS, 1, pool.take); // warm-up (clock samples on every pooled connection)

      const connectionsOf = async (app: string) =>
        Number((await rawQuery(POSTGRES_URL, `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '${database}' AND application_name = '${app}'`))[0]?.n);
      const result = { subject: [] as number[], baseline: [] as number[], bad: 0 };
      const held = { subject: 0, baseline: 0 };
      for (let round = 0; round < rounds; round++) {
        for (const side of round % 2 === 0 ? (['subject', 'baseline'] as const) : (['baseline', 'subject'] as const)) {
          pool.ensure(Math.ceil(seconds * 3000));
          const server = side === 'subject' ? subject : baseline;
          const runResult = await load(server.url, CONNECTIONS, seconds, pool.take);
          result[side].push(runResult.rps);
          result.bad += runResult.bad;
          held[side] = Math.max(held[side], await connectionsOf(apps[side]));
        }
      }
      const ratio = median(result.subject.map((x, i) => x / result.baseline[i]!));
      log(
        table(
          ['server', 'callbacks/s (median)', 'runs', 'database connections held'],
          [
            ['minimal correct node:http server', fmt(median(result.baseline), 0), result.baseline.map((x) => fmt(x, 0)).join(' '), String(held.baseline)],
            ['custom-runtime build of record-upload', fmt(median(result.subject), 0), result.subject.map((x) => fmt(x, 0)).join(' '), `${held.subject} (built-in runtime: ${CONNECTIONS} instances, ${CONNECTIONS}+)`],
          ],
        ).replace(/^/gm, '  '),
      );
      log(`  ratio ${fmt(ratio)}× (median of per-round ratios); non-200 replies and errors ${result.bad}; pre-signed callbacks reused ${pool.reused}   target ≥ ${TARGET_RATIO}×`);
      const measured = `${fmt(ratio * 100, 0)}% (${fmt(median(result.subject), 0)} vs ${fmt(median(result.baseline), 0)} callbacks/s; ${held.subject} database connections for ${CONNECTIONS} concurrent callbacks)`;
      return { measured, met: ratio >= TARGET_RATIO && result.bad === 0 };
    };
    const pool = new UploadPool();
    const near = await measure(databaseUrl, '', seconds, rounds);
    // The same with the database a network hop away (see bench/lib/latency.ts): what the round trips cost.
    log(`  the same, PostgreSQL through a loopback proxy delaying each direction by ${HOP_MS} ms:`);
    const proxy = await startLatencyProxy(databaseUrl, HOP_MS);
    let far: { measured: string; met: boolean };
    try {
      far = await measure(proxy.url.replace(/\?.*$/, ''), '-far', seconds, options.quick ? 2 : 3);
    } finally {
      for (const server of servers.splice(0)) await server.stop();
      proxy.close();
    }
    return {
      name: 'custom-runtime',
      targets: [
        { label, measured: near.measured, met: near.met },
        { label: `${label.replace('PostgreSQL', `PostgreSQL ${HOP_MS} ms away (each way)`)}`, ...far },
      ],
    };
  } finally {
    for (const server of servers) await server.stop();
    await closeStores();
    await rawQuery(POSTGRES_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch((error: unknown) => log(`  (could not drop ${database}: ${(error as Error).message})`));
  }
}
