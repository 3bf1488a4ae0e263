/**
 * Memory: resident memory while 100k signed callbacks (distinct uploads) go through the real
 * pipeline in-process (record-upload, embedded SQLite store in a temporary folder, 10 at a time),
 * sampled every 10k after a full GC, in a child process of its own (`node --expose-gc`). Callbacks
 * are signed in batches of 1000 just before they are sent, so the samples hold no backlog.
 * It must level off: the least-squares slope over the last half is reported, with the growth over
 * that half as a share of the resident memory at its start (levels off: under 2%).
 * For reference, the same run without a store (record-upload's schemas, a no-op job) separates the
 * pipeline from the datastore driver.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { job as recordUpload } from '../functions/record-upload/index.js';
import type { Job } from '../shared/core/job.js';
import { createRuntime, handleCallback, type Runtime } from '../shared/core/pipeline.js';
import { closeStores } from '../shared/store/index.js';
import { hotPathRuntime, noopJob } from './hot-path.js';
import { OSS_SHAPED_KEY_URL, ossShapedResolver, signedUploads } from './lib/callbacks.js';
import { type BenchOptions, type BenchResult, log, ROOT, WITHOUT_OSS } from './lib/common.js';
import { fmt, mb, slope, table } from './lib/stats.js';

export const MAX_LAST_HALF_GROWTH = 0.02;
const CHILD_FLAG = 'OSS_CB_BENCH_MEMORY_CHILD';

type Mode = 'sqlite' | 'no-store';

interface Sample {
  callbacks: number;
  rss: number;
  /** Linux: the anonymous part of RSS (heaps, native allocations), without mapped files. */
  rssAnon: number | undefined;
  heapUsed: number;
  external: number;
  seconds: number;
}

function rssAnon(): number | undefined {
  if (!existsSync('/proc/self/status')) return undefined;
  const match = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : undefined;
}

async function child(mode: Mode, total: number, every: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const folder = mkdtempSync(join(tmpdir(), 'oss-cb-bench-memory-'));
  const job: Job = mode === 'sqlite' ? recordUpload : noopJob;
  const runtime: Runtime = mode === 'no-store' ? hotPathRuntime() : createRuntime(
    {
      allowedBuckets: new Set(['examplebucket']),
      deadlineMs: 4000,
      maxBodyBytes: 64 * 1024,
      pathMap: [],
      databaseUrl: `sqlite:${join(folder, 'bench.db')}`,
      publicKeysFile: undefined,
      keyFetchTimeoutMs: 1500,
      logTarget: 'off',
      ...WITHOUT_OSS,
    },
    { keys: ossShapedResolver() },
  );
  const started = performance.now();
  const sample = (callbacks: number) => {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    const s: Sample = { callbacks, rss: m.rss, rssAnon: rssAnon(), heapUsed: m.heapUsed, external: m.external, seconds: (performance.now() - started) / 1000 };
    process.stdout.write(`SAMPLE ${JSON.stringify(s)}\n`);
  };
  let sent = 0;
  let failed = 0;
  const send = async (count: number) => {
    for (let done = 0; done < count; ) {
      const batch = signedUploads(Math.min(1000, count - done), OSS_SHAPED_KEY_URL);
      let next = 0;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          for (let i = next++; i < batch.length; i = next++) {
            const request = batch[i]!;
            request.receivedAt = Date.now();
            if ((await handleCallback(job, request, runtime)).status !== 200) failed++;
          }
        }),
      );
      done += batch.length;
    }
    sent += count;
  };
  await send(1000); // warm-up: store opened and migrated, code optimized
  sample(0);
  for (let n = every; n <= total; n += every) {
    await send(every);
    sample(n);
  }
  await closeStores();
  rmSync(folder, { recursive: true, force: true });
  process.stdout.write(`DONE ${JSON.stringify({ sent, failed, gc: gc !== undefined })}\n`);
}

function measure(mode: Mode, total: number, every: number): Promise<{ samples: Sample[]; done: { sent: number; failed: number; gc: boolean } }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), mode, String(total), String(every)], {
      cwd: ROOT,
      env: { ...process.env, [CHILD_FLAG]: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory child exited ${code}: ${err.slice(0, 2000)}`));
      const lines = out.split('\n');
      resolve({
        samples: lines.filter((l) => l.startsWith('SAMPLE ')).map((l) => JSON.parse(l.slice(7)) as Sample),
        done: JSON.parse(lines.find((l) => l.startsWith('DONE '))!.slice(5)) as { sent: number; failed: number; gc: boolean },
      });
    });
  });
}

function lastHalf(samples: Sample[], total: number) {
  const half = samples.filter((s) => s.callbacks >= total / 2);
  const xs = half.map((s) => s.callbacks);
  const rssSlope = slope(xs, half.map((s) => s.rss));
  const anon = half.every((s) => s.rssAnon !== undefined) ? slope(xs, half.map((s) => s.rssAnon!)) : undefined;
  const heapSlope = slope(xs, half.map((s) => s.heapUsed));
  return { half, rssSlope, anon, heapSlope, growth: (rssSlope * (total / 2)) / half[0]!.rss };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const total = options.quick ? 30_000 : 100_000;
  const every = total / 10;
  log(`memory: ${total / 1000}k callbacks through the pipeline in-process (record-upload, SQLite temp store, 10 concurrent), RSS after GC every ${every / 1000}k`);
  const { samples, done } = await measure('sqlite', total, every);
  const reference = await measure('no-store', total, every);
  const mbOrDash = (n: number | undefined) => (n === undefined ? '-' : mb(n));
  log(
    table(
      ['callbacks', 'RSS', 'RSS anon', 'heap used', 'external', 'elapsed s', 'no store: RSS', 'RSS anon'],
      samples.map((s, i) => [String(s.callbacks), mb(s.rss), mbOrDash(s.rssAnon), mb(s.heapUsed), mb(s.external), fmt(s.seconds, 1), mbOrDash(reference.samples[i]?.rss), mbOrDash(reference.samples[i]?.rssAnon)]),
    ).replace(/^/gm, '  '),
  );
  const h = lastHalf(samples, total);
  const r = lastHalf(reference.samples, total);
  const perCallback = (n: number | undefined) => (n === undefined ? '-' : `${fmt(n, 1)} B/callback`);
  log(
    `  last half (${total / 2000}k→${total / 1000}k), least-squares slopes: RSS ${perCallback(h.rssSlope)} (${fmt(h.growth * 100)}% over the half), RSS anon ${perCallback(h.anon)}, heap used ${perCallback(h.heapSlope)}; ` +
      `failed callbacks ${done.failed}; GC ${done.gc ? 'forced before each sample' : 'NOT exposed'}   target: levels off (< ${MAX_LAST_HALF_GROWTH * 100}% growth over the last half)`,
  );
  log(`  no store (record-upload's schemas, no-op job): RSS ${perCallback(r.rssSlope)} (${fmt(r.growth * 100)}% over the last half), heap used ${perCallback(r.heapSlope)}`);
  return {
    name: 'memory',
    targets: [
      {
        label: `resident memory levels off over ${total / 1000}k callbacks on SQLite (last-half growth < ${MAX_LAST_HALF_GROWTH * 100}%)`,
        measured: `${fmt(h.growth * 100)}% over the last half (${fmt(h.rssSlope, 1)} B/callback; RSS ${mb(h.half[0]!.rss)} → ${mb(h.half[h.half.length - 1]!.rss)}); no store: ${fmt(r.growth * 100)}%`,
        met: h.growth < MAX_LAST_HALF_GROWTH && done.failed === 0,
      },
    ],
  };
}

if (process.env[CHILD_FLAG] === '1' && process.argv[1] === fileURLToPath(import.meta.url)) {
  await child(process.argv[2] as Mode, Number(process.argv[3]), Number(process.argv[4]));
}
