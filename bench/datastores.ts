/**
 * Datastores: the real pipeline in-process (handleCallback with record-upload, distinct uploads, each
 * `store.insertOnce`: on PostgreSQL BEGIN, the INSERT with its deadline guard and COMMIT in one
 * message once a connection has a clock sample (its first callback: BEGIN and the INSERT, then
 * COMMIT); on MySQL, whose sessions run with autocommit off, INSERT … ON DUPLICATE KEY, then COMMIT)
 * against PostgreSQL and MySQL/MariaDB.
 *
 * The target's baseline is a minimal correct handler (bench/lib/minimal.ts): RSA-MD5 verify with a
 * cached key, URLSearchParams, one raw autocommit INSERT on the same driver (`pg` Pool, `mysql2`
 * pool), same concurrency, same pool size. For reference, the raw INSERT alone runs the statements
 * the pipeline itself builds for other uploads (recorded by running handleCallback against a
 * recording store). Each store runs in a database of its own, created for the run and dropped after.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { job as recordUpload } from '../functions/record-upload/index.js';
import type { CoreConfig } from '../shared/core/config.js';
import type { CallbackRequest } from '../shared/core/http.js';
import { createRuntime, handleCallback, type Runtime } from '../shared/core/pipeline.js';
import { closeStores } from '../shared/store/index.js';
import { mysqlDialect, postgresDialect, type Dialect, type Query, SqlTx } from '../shared/store/sql.js';
import type { Store } from '../shared/store/types.js';
import { MYSQL_URL, POSTGRES_URL, rawQuery, reachable } from '../test/helpers/stores.js';
import { OSS_SHAPED_KEY_URL, ossShapedResolver, signedUploads } from './lib/callbacks.js';
import { type BenchOptions, type BenchResult, log, type Target, WITHOUT_OSS } from './lib/common.js';
import { startLatencyProxy } from './lib/latency.js';
import { minimalParams, minimalStatement } from './lib/minimal.js';
import { profileInProcess, summarizeProfile } from './lib/profile.js';
import { fmt, median, table } from './lib/stats.js';

export const TARGET_RATIO = 0.8;

function config(databaseUrl: string): CoreConfig {
  return {
    allowedBuckets: new Set(['examplebucket']),
    deadlineMs: 4000,
    maxBodyBytes: 64 * 1024,
    pathMap: [],
    databaseUrl,
    publicKeysFile: undefined,
    keyFetchTimeoutMs: 1500,
    logTarget: 'off',
    ...WITHOUT_OSS,
  };
}

/** The INSERT statements the pipeline sends for these callbacks, recorded instead of run. */
async function recordInserts(dialect: Dialect, requests: CallbackRequest[]): Promise<Query[]> {
  const queries: Query[] = [];
  const tx = new SqlTx(
    dialect,
    async (query) => {
      queries.push(query);
      return { rows: [{}], count: 1 }; // "inserted"
    },
    () => false,
  );
  const store: Store = {
    kind: dialect.kind,
    label: 'recording',
    migrate: async () => {},
    close: async () => {},
    transaction: (fn) => fn(tx),
    insertOnce: (table, row, options) => tx.insertOnce(table, row, options?.conflictKey),
  };
  const runtime = createRuntime(config('recording:'), { keys: ossShapedResolver(), log: () => {}, storeFor: async () => store });
  for (const request of requests) {
    const response = await handleCallback(recordUpload, request, runtime);
    if (response.status !== 200) throw new Error(`recording: ${response.body.toString()}`);
  }
  if (queries.length !== requests.length) throw new Error(`recording: expected one INSERT per callback, got ${queries.length}`);
  return queries;
}

/** Runs `count` jobs with `concurrency` workers; returns operations per second. */
async function drive(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await work(i);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

interface Driver {
  name: string;
  dialect: Dialect;
  adminUrl: string;
  databaseUrl(database: string): string;
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  /** A raw pool of `size` connections: the INSERT alone, and the minimal correct handler (bench/lib/minimal.ts). */
  rawPool(database: string, size: number, url?: string): { insert(q: Query): Promise<void>; minimal(request: CallbackRequest): Promise<void>; count(): Promise<number>; end(): Promise<void> };
}

const postgres: Driver = {
  name: 'PostgreSQL',
  dialect: postgresDialect,
  adminUrl: POSTGRES_URL,
  databaseUrl(database) {
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    return url.toString();
  },
  createDatabase: async (name) => void (await rawQuery(POSTGRES_URL, `CREATE DATABASE ${name}`)),
  dropDatabase: async (name) => void (await rawQuery(POSTGRES_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  rawPool(database, size, url) {
    const pool = new pg.Pool({ connectionString: url ?? this.databaseUrl(database), max: size });
    // An idle connection killed when the run's database is dropped (WITH (FORCE)) must not end the run.
    pool.on('error', () => {});
    const sql = minimalStatement(postgresDialect);
    return {
      insert: async (q) => void (await pool.query(q.sql, q.params as unknown[])),
      minimal: async (request) => void (await pool.query(sql, minimalParams(request, (date) => date.toISOString()))),
      count: async () => Number((await pool.query('SELECT count(*) AS n FROM oss_uploads')).rows[0].n),
      end: () => pool.end(),
    };
  },
};

const mysqlDriver: Driver = {
  name: 'MySQL (MariaDB)',
  dialect: mysqlDialect,
  adminUrl: MYSQL_URL,
  databaseUrl(database) {
    const url = new URL(MYSQL_URL);
    url.pathname = `/${database}`;
    return url.toString();
  },
  createDatabase: async (name) => void (await rawQuery(MYSQL_URL, `CREATE DATABASE ${name} CHARACTER SET utf8mb4`)),
  dropDatabase: async (name) => void (await rawQuery(MYSQL_URL, `DROP DATABASE IF EXISTS ${name}`)),
  rawPool(database, size) {
    const url = new URL(this.databaseUrl(database));
    const pool = mysql.createPool({
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database,
      connectionLimit: size,
      maxIdle: size,
      flags: ['-FOUND_ROWS'],
      charset: 'utf8mb4_unicode_ci',
      timezone: 'Z',
    });
    type Values = Parameters<typeof pool.execute>[1];
    const sql = minimalStatement(mysqlDialect);
    const timestamp = (date: Date) => mysqlDialect.encode({ type: 'timestamp' }, date);
    return {
      insert: async (q) => void (await pool.execute(q.sql, q.params as Values)),
      minimal: async (request) => void (await pool.execute(sql, minimalParams(request, timestamp) as Values)),
      count: async () => {
        const [rows] = await pool.query('SELECT count(*) AS n FROM oss_uploads');
        return Number((rows as { n: number }[])[0]!.n);
      },
      end: () => pool.end(),
    };
  },
};

async function benchStore(driver: Driver, options: BenchOptions): Promise<Target[]> {
  if (!(await reachable(driver.adminUrl))) {
    log(`  ${driver.name}: SKIPPED, not reachable at ${new URL(driver.adminUrl).host} (set ${driver.dialect.kind === 'postgres' ? 'TEST_POSTGRES_URL' : 'TEST_MYSQL_URL'})`);
    return [{ label: `${driver.name}: pipeline ≥ ${TARGET_RATIO * 100}% of a minimal correct handler`, measured: 'not reachable', met: undefined }];
  }
  const levels = options.quick ? [4] : [1, 4];
  const rounds = options.quick ? 3 : 5;
  const perRun = options.quick ? 300 : 600;
  const database = `oss_cb_bench_${randomBytes(4).toString('hex')}`;
  await driver.createDatabase(database);
  const targets: Target[] = [];
  try {
    for (const concurrency of levels) {
      const runtime: Runtime = createRuntime(config(`${driver.databaseUrl(database)}?pool_max=${concurrency}`), { keys: ossShapedResolver(), log: () => {} });
      const raw = driver.rawPool(database, concurrency);
      const before = await raw.count().catch(() => 0); // rows of earlier levels (the table may not exist yet)
      const total = perRun * rounds;
      // Warm-up: migration, connections, prepared statements, JIT.
      const warm = signedUploads(100, OSS_SHAPED_KEY_URL);
      await drive(warm.length, concurrency, async (i) => void (await handleCallback(recordUpload, warm[i]!, runtime)));
      const warmRaw = await recordInserts(driver.dialect, signedUploads(200, OSS_SHAPED_KEY_URL));
      await drive(100, concurrency, (i) => raw.insert(warmRaw[i]!));
      const warmMinimal = signedUploads(100, OSS_SHAPED_KEY_URL);
      await drive(100, concurrency, (i) => raw.minimal(warmMinimal[i]!));

      const callbacks = signedUploads(total, OSS_SHAPED_KEY_URL);
      const inserts = await recordInserts(driver.dialect, signedUploads(total, OSS_SHAPED_KEY_URL));
      const minimalCallbacks = signedUploads(total, OSS_SHAPED_KEY_URL);
      const result = { pipeline: [] as number[], insert: [] as number[], minimal: [] as number[] };
      let failed = 0;
      const sides = {
        pipeline: (offset: number) =>
          drive(perRun, concurrency, async (i) => {
            const request = callbacks[offset + i]!;
            request.receivedAt = Date.now();
            const response = await handleCallback(recordUpload, request, runtime);
            if (response.status !== 200) failed++;
          }),
        insert: (offset: number) => drive(perRun, concurrency, (i) => raw.insert(inserts[offset + i]!)),
        minimal: (offset: number) =>
          drive(perRun, concurrency, (i) => {
            const request = minimalCallbacks[offset + i]!;
            request.receivedAt = Date.now();
            return raw.minimal(request);
          }),
      };
      const order = ['insert', 'minimal', 'pipeline'] as const;
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < order.length; k++) {
          const side = order[(round + k) % order.length]!;
          result[side].push(await sides[side](round * perRun));
        }
      }
      let extra = 0;
      if (options.profile) {
        const more = signedUploads(perRun, OSS_SHAPED_KEY_URL);
        const profile = await profileInProcess(async () => {
          await drive(perRun, concurrency, async (i) => void (await handleCallback(recordUpload, more[i]!, runtime)));
        });
        extra = perRun;
        log(`    CPU profile of the pipeline side (${perRun} callbacks), top functions by self time:`);
        for (const line of summarizeProfile(profile, 20)) log(`      ${line}`);
      }
      const rows = (await raw.count()) - before;
      const expected = 100 + 100 + 100 + 3 * total + extra;
      await raw.end();
      await closeStores();
      const m = { pipeline: median(result.pipeline), insert: median(result.insert), minimal: median(result.minimal) };
      // Rounds run the three sides back to back: per-round ratios cancel the machine's drift.
      const ratio = median(result.pipeline.map((x, i) => x / result.minimal[i]!));
      const insertRatio = median(result.pipeline.map((x, i) => x / result.insert[i]!));
      log(`  ${driver.name}, concurrency ${concurrency} (pool size ${concurrency}), ${rounds} rounds × ${perRun} distinct uploads per side:`);
      log(
        table(
          ['side', 'ops/s (median)', 'rounds', 'vs minimal handler (per-round median)'],
          [
            ['raw driver: INSERT alone (autocommit)', fmt(m.insert, 0), result.insert.map((x) => fmt(x, 0)).join(' '), `${fmt(median(result.insert.map((x, i) => x / result.minimal[i]!)))}×`],
            ['minimal correct handler (verify, URLSearchParams, raw INSERT)', fmt(m.minimal, 0), result.minimal.map((x) => fmt(x, 0)).join(' '), '1.00×'],
            ['pipeline: handleCallback(record-upload)', fmt(m.pipeline, 0), result.pipeline.map((x) => fmt(x, 0)).join(' '), `${fmt(ratio)}×`],
          ],
        ).replace(/^/gm, '    '),
      );
      log(`    pipeline vs minimal handler ${fmt(ratio)}×, vs the raw INSERT alone ${fmt(insertRatio)}× (medians of the per-round ratios); failed callbacks ${failed}; rows written ${rows} of ${expected} expected   target ≥ ${TARGET_RATIO}×`);
      targets.push({
        label: `${driver.name}, concurrency ${concurrency}: pipeline ≥ ${TARGET_RATIO * 100}% of a minimal correct handler`,
        measured: `${fmt(ratio * 100, 0)}% (${fmt(m.pipeline, 0)} vs ${fmt(m.minimal, 0)} ops/s; ${fmt(insertRatio * 100, 0)}% of the raw INSERT alone)`,
        met: ratio >= TARGET_RATIO && failed === 0 && rows === expected,
      });
    }
  } finally {
    await closeStores();
    await driver.dropDatabase(database).catch((error: unknown) => log(`  (could not drop ${database}: ${(error as Error).message})`));
  }
  return targets;
}

/** The delay each way of `benchDistance`: the database one network hop away. */
const HOP_MS = 1;

/**
 * Target 1 with the database a network hop away (PostgreSQL, through a loopback proxy delaying each
 * direction by HOP_MS): on loopback a round trip costs tens of microseconds and the CPU of two
 * shared cores decides; here the round trips do. Three sides through the same proxy, alternating:
 * the minimal handler (one autocommit INSERT), the pipeline (one message once sampled), and the
 * pipeline with the one-message commit off (`guard_margin_ms=0`: BEGIN with the INSERT, then COMMIT).
 */
async function benchDistance(options: BenchOptions): Promise<Target[]> {
  const label = `PostgreSQL ${HOP_MS} ms away (each way), concurrency 4: pipeline ≥ ${TARGET_RATIO * 100}% of a minimal correct handler`;
  if (!(await reachable(postgres.adminUrl))) return [{ label, measured: 'not reachable', met: undefined }];
  const concurrency = 4;
  const rounds = options.quick ? 3 : 5;
  const perRun = options.quick ? 150 : 300;
  const database = `oss_cb_bench_${randomBytes(4).toString('hex')}`;
  await postgres.createDatabase(database);
  const proxy = await startLatencyProxy(postgres.databaseUrl(database), HOP_MS);
  try {
    const runtimeOf = (extra: string) => createRuntime(config(`${proxy.url}?pool_max=${concurrency}${extra}`), { keys: ossShapedResolver(), log: () => {} });
    const oneMessage = runtimeOf('');
    const twoTrips = runtimeOf('&guard_margin_ms=0');
    const raw = postgres.rawPool(database, concurrency, proxy.url);
    const pipelineSide = (runtime: Runtime, requests: CallbackRequest[]) => async (i: number) => {
      const request = requests[i]!;
      request.receivedAt = Date.now();
      const response = await handleCallback(recordUpload, request, runtime);
      if (response.status !== 200) throw new Error(`callback answered ${response.status}: ${response.body}`);
    };
    const total = perRun * rounds;
    const requests = { minimal: signedUploads(total + 50, OSS_SHAPED_KEY_URL), one: signedUploads(total + 50, OSS_SHAPED_KEY_URL), two: signedUploads(total + 50, OSS_SHAPED_KEY_URL) };
    // Warm-up (migration, connections, clock samples, JIT), 50 each.
    await drive(50, concurrency, pipelineSide(oneMessage, requests.one.slice(total)));
    await drive(50, concurrency, pipelineSide(twoTrips, requests.two.slice(total)));
    await drive(50, concurrency, (i) => raw.minimal(requests.minimal[total + i]!));
    const result = { minimal: [] as number[], one: [] as number[], two: [] as number[] };
    const sides = {
      minimal: (offset: number) => drive(perRun, concurrency, (i) => {
        const request = requests.minimal[offset + i]!;
        request.receivedAt = Date.now();
        return raw.minimal(request);
      }),
      one: (offset: number) => drive(perRun, concurrency, (i) => pipelineSide(oneMessage, requests.one)(offset + i)),
      two: (offset: number) => drive(perRun, concurrency, (i) => pipelineSide(twoTrips, requests.two)(offset + i)),
    };
    const order = ['minimal', 'one', 'two'] as const;
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < order.length; k++) {
        const side = order[(round + k) % order.length]!;
        result[side].push(await sides[side](round * perRun));
      }
    }
    await raw.end();
    const ratio = (side: 'one' | 'two') => median(result[side].map((x, i) => x / result.minimal[i]!));
    log(`  PostgreSQL through a loopback proxy delaying each direction by ${HOP_MS} ms, concurrency ${concurrency}, ${rounds} rounds × ${perRun}:`);
    log(
      table(
        ['side', 'ops/s (median)', 'rounds', 'vs minimal handler (per-round median)'],
        [
          ['minimal correct handler (one autocommit INSERT)', fmt(median(result.minimal), 0), result.minimal.map((x) => fmt(x, 0)).join(' '), '1.00×'],
          ['pipeline: one message (BEGIN, guarded INSERT, COMMIT)', fmt(median(result.one), 0), result.one.map((x) => fmt(x, 0)).join(' '), `${fmt(ratio('one'))}×`],
          ['pipeline, guard_margin_ms=0: two round trips', fmt(median(result.two), 0), result.two.map((x) => fmt(x, 0)).join(' '), `${fmt(ratio('two'))}×`],
        ],
      ).replace(/^/gm, '    '),
    );
    return [{ label, measured: `${fmt(ratio('one') * 100, 0)}% (${fmt(median(result.one), 0)} vs ${fmt(median(result.minimal), 0)} ops/s; two round trips: ${fmt(ratio('two') * 100, 0)}%)`, met: ratio('one') >= TARGET_RATIO }];
  } finally {
    await closeStores();
    proxy.close();
    await postgres.dropDatabase(database).catch((error: unknown) => log(`  (could not drop ${database}: ${(error as Error).message})`));
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  log('datastores: pipeline in-process (record-upload, distinct uploads) vs the raw driver, same INSERT, same concurrency and pool size');
  const targets: Target[] = [];
  for (const driver of [postgres, mysqlDriver]) targets.push(...(await benchStore(driver, options)));
  targets.push(...(await benchDistance(options)));
  return { name: 'datastores', targets };
}
