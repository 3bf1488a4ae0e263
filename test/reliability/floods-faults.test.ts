/**
 * Floods and faults, on every store (SQLite always; PostgreSQL and MySQL when reachable, required in CI):
 *  - a flood of concurrent deliveries, distinct uploads mixed with repeats of each, to record-upload
 *    and usage-quota at once: records = distinct uploads, and every owner's bytes add up exactly;
 *  - the database stops in the middle of a load and comes back (PostgreSQL and MySQL, through a TCP
 *    proxy): every 200 has its committed record, every other reply is StoreUnavailable or
 *    DeadlineExceeded, and the same process serves again afterwards.
 * The figures (sent, refused, faults, records lost) are printed as `# figures:` lines.
 *
 * The load is sized to the machine: the flood keeps at most 32 callbacks per core in flight; with
 * `RELIABILITY_LONG=1` it sends 100 distinct uploads per core, and the outage test runs 500 callbacks
 * per core with 4 workers per core. When callbacks
 * fail, the assertion says whether this machine was overloaded (the event loop's delay during the
 * run, a direct query to the database afterwards) or the database could not be reached.
 */
import assert from 'node:assert/strict';
import { availableParallelism, loadavg } from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { after, describe, it, type TestContext } from 'node:test';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import { job as usageQuota } from '../../functions/usage-quota/index.js';
import type { Job } from '../../shared/core/job.js';
import { handleCallback } from '../../shared/core/pipeline.js';
import { closeStores } from '../../shared/store/index.js';
import { body, signedRequest, testRuntime, uploadValues } from '../helpers/callbacks.js';
import { createTestDatabase, MYSQL, POSTGRES, rawQuery, requireServer, startProxy, tempSqlite, withParams, type TestServer } from '../helpers/stores.js';

const LONG = process.env.RELIABILITY_LONG === '1';
const CORES = availableParallelism();
const DISTINCT = LONG ? 100 * CORES : 60;
const REPEATS = 4;
/**
 * Callbacks in flight at once, sized to the cores (an FC instance handles one at a time; this is one
 * process standing in for many). Shuffled, each upload's 8 deliveries still overlap.
 */
const IN_FLIGHT = 32 * CORES;
const FAULT_LOAD = LONG ? 500 * CORES : 240;
const FAULT_WORKERS = LONG ? 4 * CORES : 8;
/** Per worker, between callbacks: 8 workers send ~160 callbacks/s, so the 400 ms outage falls mid-load. */
const PACE_MS = 50;

/** Runs `fn` over `items` with at most `limit` at once; results in order. */
async function flood<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Why callbacks failed, for the assertion message: overload of this machine (the event loop was
 * delayed, the database answers a direct query) or a fault between here and the database (it does
 * not answer).
 */
async function diagnose(url: string, delay: IntervalHistogram, failures: readonly string[]): Promise<string> {
  const maxDelayMs = Math.round(delay.max / 1e6);
  let probe: string;
  let answers = false;
  const started = performance.now();
  try {
    await query(url, 'SELECT 1 AS one');
    answers = true;
    probe = `the database answered a direct query in ${Math.round(performance.now() - started)} ms`;
  } catch (error) {
    probe = `the database did not answer a direct query (${(error as Error).message})`;
  }
  const timeouts = failures.every((f) => /DeadlineExceeded|timed out|local overload|no connection within/.test(f));
  const busyMachine = loadavg()[0]! > 1.5 * CORES;
  const overloaded = answers && timeouts && (maxDelayMs >= 500 || busyMachine || failures.some((f) => /local overload/.test(f)));
  const verdict = !answers
    ? 'a database or network fault, not load'
    : overloaded
      ? `local overload of this ${CORES}-CPU machine, not a network fault: lower the load (RELIABILITY_LONG sizes it to the cores) or run on a quieter machine`
      : 'not explained by load: look at the failures below';
  return `${failures.length} callbacks failed. Verdict: ${verdict}. Evidence: the event loop was delayed up to ${maxDelayMs} ms during the run; ${probe}; load average ${loadavg().map((n) => n.toFixed(1)).join(' ')} on ${CORES} CPUs. First failures: ${failures.slice(0, 3).join(' | ')}`;
}

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  await closeStores();
  for (const cleanup of cleanups) await cleanup();
});

function figures(label: string, values: Record<string, number | string>): void {
  process.stdout.write(`# figures: ${label}: ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
}

interface Upload {
  values: ReturnType<typeof uploadValues>;
  owner: string;
  size: number;
}

function uploadsFor(count: number): Upload[] {
  return Array.from({ length: count }, (_, i) => {
    const owner = `owner-${i % 5}`;
    const size = 1000 + i * 7;
    return { owner, size, values: uploadValues({ object: `flood/${i}/文件 ${i}.bin`, size, 'x:owner': owner }) };
  });
}

function request(job: Job, upload: Upload) {
  return signedRequest(body(job.template.form, upload.values));
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  if (url.startsWith('sqlite:')) {
    const { default: Database } = await import('libsql');
    const db = new Database(url.slice('sqlite:'.length), { readonly: true });
    try {
      return db.prepare(sql).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  return rawQuery(url, sql);
}

async function database(t: TestContext, server: TestServer | undefined): Promise<string | undefined> {
  if (!server) {
    const sqlite = tempSqlite();
    cleanups.push(sqlite.remove);
    return sqlite.url;
  }
  if (!(await requireServer(t, server))) return undefined;
  const db = await createTestDatabase(server.url);
  cleanups.push(db.drop);
  return db.url;
}

for (const [name, server] of [['SQLite', undefined], ['PostgreSQL', POSTGRES], ['MySQL', MYSQL]] as const) {
  describe(`floods and faults: ${name}`, () => {
    it(`${DISTINCT} distinct uploads × ${REPEATS} deliveries, ${IN_FLIGHT} at once, to two jobs: nothing counted twice, nothing lost`, { timeout: 120_000 }, async (t) => {
      const url = await database(t, server);
      if (!url) return;
      const runtime = testRuntime({ databaseUrl: withParams(url, server ? { pool_max: '4' } : {}) });
      const uploads = uploadsFor(DISTINCT);
      const deliveries = shuffle(uploads.flatMap((upload) => Array.from({ length: REPEATS }, () => upload)));
      const calls = deliveries.flatMap((upload) => [
        () => handleCallback(recordUpload, request(recordUpload, upload), runtime),
        () => handleCallback(usageQuota, request(usageQuota, upload), runtime),
      ]);
      const delay = monitorEventLoopDelay({ resolution: 20 });
      delay.enable();
      const replies = await flood(calls, IN_FLIGHT, (call) => call());
      delay.disable();
      const failed = replies.filter((reply) => reply.status !== 200).map((reply) => reply.body.toString());
      if (failed.length > 0) assert.fail(await diagnose(url, delay, failed));

      const records = await query(url, 'SELECT COUNT(*) AS n FROM oss_uploads');
      assert.equal(Number(records[0]!.n), DISTINCT, 'one record per distinct upload');
      const charged = await query(url, 'SELECT COUNT(*) AS n FROM usage_quota_uploads');
      assert.equal(Number(charged[0]!.n), DISTINCT);
      const owners = await query(url, 'SELECT owner, used_bytes, object_count FROM usage_quota_owners ORDER BY owner');
      const expected = new Map<string, number>();
      for (const upload of uploads) expected.set(upload.owner, (expected.get(upload.owner) ?? 0) + upload.size);
      assert.deepEqual(
        // MySQL string columns are VARBINARY (exact byte comparison): the raw driver returns Buffers.
        owners.map((row) => [Buffer.isBuffer(row.owner) ? row.owner.toString('utf8') : row.owner, Number(row.used_bytes)]),
        [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
        'every owner’s bytes add up exactly',
      );
      figures(`flood ${name}`, { deliveries: replies.length, distinct: DISTINCT, records: Number(records[0]!.n), lost: 0, doubleCounted: 0 });
    });

    if (server) {
      it(`the database stops in the middle of ${FAULT_LOAD} callbacks and comes back`, { timeout: 120_000 }, async (t) => {
        const url = await database(t, server);
        if (!url) return;
        const proxy = await startProxy(url);
        cleanups.push(() => proxy.close());
        const runtime = testRuntime({
          databaseUrl: withParams(proxy.url, { pool_max: '2', connect_timeout_ms: '500' }),
          deadlineMs: 1500,
        });
        // Migrate first, so that the fault hits callbacks, not table creation.
        await handleCallback(recordUpload, request(recordUpload, uploadsFor(1)[0]!), runtime);

        const uploads = uploadsFor(FAULT_LOAD);
        const outcomes: { upload: Upload; status: number; code: string; id?: string; message?: string }[] = [];
        let next = 0;
        let faults = 0;
        let back: Promise<void> = Promise.resolve();
        const worker = async () => {
          while (next < uploads.length) {
            const upload = uploads[next++]!;
            if (next === Math.floor(FAULT_LOAD / 3)) {
              faults++;
              proxy.close(); // the database goes away...
              back = new Promise((resolve) => setTimeout(resolve, 400)).then(() => proxy.reopen()); // ...and comes back
            }
            const reply = await handleCallback(recordUpload, request(recordUpload, upload), runtime);
            const json = JSON.parse(reply.body.toString());
            outcomes.push({ upload, status: reply.status, code: json.error?.code ?? 'OK', id: json.id, message: json.error?.message });
            // A steady pace, so that traffic goes on before, during and after the outage.
            await new Promise((resolve) => setTimeout(resolve, PACE_MS));
          }
        };
        await Promise.all(Array.from({ length: FAULT_WORKERS }, worker));

        const refused = outcomes.filter((o) => o.status !== 200);
        assert.deepEqual([...new Set(refused.map((o) => o.code))].filter((c) => c !== 'StoreUnavailable' && c !== 'DeadlineExceeded'), []);
        const overloaded = refused.filter((o) => o.message && /local overload/.test(o.message));
        if (overloaded.length > 0) figures(`fault ${name} overload`, { refusedForLocalOverload: overloaded.length, cores: CORES, example: JSON.stringify(overloaded[0]!.message) });
        assert.ok(refused.length > 0, 'the fault was felt');
        const lastRefused = Math.max(...refused.map((o) => outcomes.indexOf(o)));
        assert.ok(outcomes.slice(lastRefused + 1).length > 0 && outcomes.slice(lastRefused + 1).every((o) => o.status === 200), 'after the store came back, callbacks succeed again');
        const rows = await query(url, 'SELECT id, object FROM oss_uploads');
        const committed = new Map(rows.map((row) => [String(row.id), String(row.object)]));
        const lost = outcomes.filter((o) => o.status === 200 && committed.get(o.id!) !== o.upload.values.object);
        assert.equal(lost.length, 0, 'every 200 has its committed record');

        await back;
        const after = await handleCallback(recordUpload, request(recordUpload, uploadsFor(1)[0]!), runtime);
        assert.equal(after.status, 200, `the same process recovers: ${after.body}`);
        figures(`fault ${name}`, {
          sent: outcomes.length,
          ok: outcomes.length - refused.length,
          storeUnavailable: refused.filter((o) => o.code === 'StoreUnavailable').length,
          deadlineExceeded: refused.filter((o) => o.code === 'DeadlineExceeded').length,
          faultsInjected: faults,
          recordsLost: lost.length,
        });
      });
    }
  });
}
