/**
 * Cold start: for each function bundle (`npm run build`: dist/<name>/index.js), the time from
 * spawning `node` to the first reply of an invocation: a child process requires the bundle and
 * calls `handler` with one of the function's example events (functions/<name>/events/), with
 * DATABASE_URL pointing at PostgreSQL when it is reachable (a database created for the run), else at
 * a closed port (fails fast: the reply is StoreUnavailable). Against spawning `node` with an empty
 * script (until it exits). Rounds alternate; medians. Plus each bundle's size and, from an esbuild
 * metafile of the same build, the modules that dominate it.
 *
 * Issue 13's target 5 has a baseline of its own: record-upload's first callback (require, connect,
 * migration check, callback, reply 200 from PostgreSQL) against a minimal handler's first callback
 * (bench/servers/minimal-cold.ts, bundled with the same esbuild options and the same `pg` driver
 * bundle: require, connect, one INSERT, reply), each in a fresh process through the same child script,
 * with the empty `node` start in the same rounds. The round trips of a cold start are checked by
 * test/integration/cold-start-round-trips.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { DEV_KEYS_FILE } from '../scripts/local-env.js';
import { DIST_DIR, functionBuildOptions, VENDOR_DIR } from '../scripts/build.js';
import { postgresDialect } from '../shared/store/sql.js';
import { FUNCTIONS_DIR, functionNames } from '../scripts/functions.js';
import { POSTGRES_URL, rawQuery, reachable } from '../test/helpers/stores.js';
import { type BenchOptions, type BenchResult, log, ROOT, type Target } from './lib/common.js';
import { minimalStatement } from './lib/minimal.js';
import { fmt, kb, median, table } from './lib/stats.js';

/** Every function's first reply against an empty `node` start (spawn to exit). */
export const TARGET_RATIO = 2;
/** Issue 13, target 5: record-upload's first callback against a minimal handler's connect + INSERT. */
export const TARGET_MINIMAL_RATIO = 1.5;
const MINIMAL_DIR = join(DIST_DIR, '.bench-minimal-cold');
export const MAX_BUNDLE_BYTES = 300 * 1024;

/** Requires the bundle, invokes the handler once, prints one line with timings (ms since process start). */
const CHILD = `
const booted = performance.now();
const [bundle, eventFile] = process.argv.slice(2);
const { handler } = require(bundle);
const loaded = performance.now();
const event = require('node:fs').readFileSync(eventFile);
const context = { requestId: 'cold-start', function: { name: 'bench', handler: 'index.handler', memory: 512, timeout: 10 }, region: 'local', accountId: 'local', credentials: {} };
Promise.resolve(handler(event, context)).then(
  (r) => {
    const code = r && typeof r === 'object' && 'statusCode' in r ? r.statusCode : 'returned';
    let error = '';
    try { error = JSON.parse(r.body).error?.code ?? ''; } catch {}
    process.stdout.write('REPLY ' + JSON.stringify({ code, error, booted, loaded, replied: performance.now() }) + '\\n');
    process.exit(0);
  },
  (e) => { process.stdout.write('REPLY ' + JSON.stringify({ code: 'threw', error: String(e && e.message), booted, loaded, replied: performance.now() }) + '\\n'); process.exit(0); },
);
`;

interface Invocation {
  ms: number;
  code: string | number;
  error: string;
  booted: number;
  loaded: number;
  replied: number;
}

/** Spawn to exit of `node <empty file>`. */
function emptyStart(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [file], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - started));
  });
}

/** Spawn to the REPLY line of the child script. */
function invocation(script: string, bundle: string, event: string, env: Record<string, string>): Promise<Invocation> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [script, bundle, event], { cwd: tmpdir(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let done = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const at = out.indexOf('REPLY ');
      if (done || at === -1 || !out.includes('\n', at)) return;
      done = true;
      const ms = performance.now() - started;
      const line = out.slice(at + 6, out.indexOf('\n', at));
      resolve({ ms, ...(JSON.parse(line) as Omit<Invocation, 'ms'>) });
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (err += chunk));
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      if (!done) reject(new Error(`no reply from ${bundle}: ${err.slice(0, 2000)}`));
    });
  });
}

function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (match) return match[1]!;
  const top = /^(shared\/[^/]+|functions\/[^/]+)/.exec(path);
  return top ? `${top[1]}/` : path;
}

/** The bundle rebuilt in memory with scripts/build.ts's options, for its metafile. */
async function composition(name: string): Promise<{ bytes: number; parts: [string, number][] }> {
  // scripts/build.ts's own options, kept in memory: only the metafile is wanted here.
  const result = await build({ ...functionBuildOptions(name), write: false, logLevel: 'silent', absWorkingDir: ROOT });
  const [, output] = Object.entries(result.metafile.outputs).find(([file]) => file.endsWith('index.js'))!;
  const parts = new Map<string, number>();
  for (const [path, input] of Object.entries(output.inputs)) parts.set(packageOf(path), (parts.get(packageOf(path)) ?? 0) + input.bytesInOutput);
  return { bytes: output.bytes, parts: [...parts.entries()].sort((a, b) => b[1] - a[1]) };
}

function exampleEvent(name: string): string | undefined {
  const dir = join(FUNCTIONS_DIR, name, 'events');
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'samples.json').sort();
  const file = files.includes('form.json') ? 'form.json' : files[0];
  return file === undefined ? undefined : join(dir, file);
}

/**
 * The baseline of target 5: bench/servers/minimal-cold.ts bundled with the functions' own esbuild
 * options into dist/.bench-minimal-cold/index.js, next to a copy of the same `pg` driver bundle
 * (dist/.drivers, built by scripts/build.ts with the functions). Returns the bundle's path.
 */
async function buildMinimal(): Promise<string> {
  rmSync(MINIMAL_DIR, { recursive: true, force: true });
  mkdirSync(MINIMAL_DIR, { recursive: true });
  const outfile = join(MINIMAL_DIR, 'index.js');
  await build({
    ...functionBuildOptions('record-upload'),
    entryPoints: [join(ROOT, 'bench', 'servers', 'minimal-cold.ts')],
    outfile,
    define: { MINIMAL_INSERT_SQL: JSON.stringify(minimalStatement(postgresDialect)) },
    absWorkingDir: ROOT,
  });
  writeFileSync(join(MINIMAL_DIR, 'package.json'), `${JSON.stringify({ name: 'bench-minimal-cold', private: true, type: 'commonjs', main: 'index.js' })}\n`);
  cpSync(VENDOR_DIR, join(MINIMAL_DIR, 'node_modules'), { recursive: true });
  return outfile;
}

interface MinimalComparison {
  rounds: number;
  /** Per-round ratios, record-upload / minimal handler and record-upload / empty node. */
  ratios: number[];
  emptyRatios: number[];
  subject: Invocation[];
  minimal: Invocation[];
  empty: number[];
}

/**
 * Target 5: record-upload's first callback (require, connect, migration check, callback, reply 200
 * from PostgreSQL) against the minimal handler's (require, `pg`, connect, one INSERT, reply 200), each
 * in a fresh process through the same child script, with an empty `node` start in the same rounds. The
 * order within a round rotates, so that neither side always runs first.
 */
async function minimalComparison(script: string, minimalBundle: string, env: Record<string, string>, empty: string, rounds: number): Promise<MinimalComparison> {
  const bundle = join(ROOT, 'dist', 'record-upload', 'index.js');
  const event = exampleEvent('record-upload')!;
  const check = (x: Invocation, who: string): Invocation => {
    if (x.code !== 200) throw new Error(`cold start, ${who}: reply ${x.code} ${x.error}, not 200: the comparison needs both to commit on PostgreSQL`);
    return x;
  };
  check(await invocation(script, minimalBundle, event, env), 'minimal handler'); // warm the page cache
  const result: MinimalComparison = { rounds, ratios: [], emptyRatios: [], subject: [], minimal: [], empty: [] };
  for (let round = 0; round < rounds; round++) {
    let s: Invocation | undefined;
    let m: Invocation | undefined;
    let e: number | undefined;
    const steps = [
      async () => void (s = check(await invocation(script, bundle, event, env), 'record-upload')),
      async () => void (m = check(await invocation(script, minimalBundle, event, env), 'minimal handler')),
      async () => void (e = await emptyStart(empty)),
    ];
    for (let i = 0; i < 3; i++) await steps[(round + i) % 3]!();
    result.subject.push(s!);
    result.minimal.push(m!);
    result.empty.push(e!);
    result.ratios.push(s!.ms / m!.ms);
    result.emptyRatios.push(s!.ms / e!);
  }
  return result;
}

/**
 * record-upload as shipped, and with a preload that defines `navigator` (so that pg's Cloudflare
 * check returns early instead of constructing a `Response`), alternating with the empty start.
 */
async function cloudflareProbe(work: string, script: string, env: Record<string, string>, empty: string, rounds: number) {
  const preload = join(work, 'navigator.cjs');
  writeFileSync(preload, "if (typeof globalThis.navigator === 'undefined') globalThis.navigator = { userAgent: 'Node.js' };\n");
  const bundle = join(ROOT, 'dist', 'record-upload', 'index.js');
  const event = exampleEvent('record-upload');
  if (!event) return undefined;
  const withEnv = { ...env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`.trim() };
  const times = { with: [] as number[], without: [] as number[], empty: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    times.without.push((await invocation(script, bundle, event, env)).ms);
    times.with.push((await invocation(script, bundle, event, withEnv)).ms);
    times.empty.push(await emptyStart(empty));
  }
  return { with: median(times.with), without: median(times.without), empty: median(times.empty) };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const rounds = options.quick ? 7 : 15;
  const names = functionNames();
  log(`cold start: ${names.length} function(s); npm run build first`);
  const built: string[] = [];
  for (const name of names) {
    // One build per function, so that a function that does not build does not stop the others.
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', name], { cwd: ROOT, encoding: 'utf8' });
    if (result.status === 0 && existsSync(join(ROOT, 'dist', name, 'index.js'))) built.push(name);
    else log(`  ${name}: build FAILED, skipped: ${(result.stderr || result.stdout).trim().split('\n').slice(0, 3).join(' / ')}`);
  }

  const work = mkdtempSync(join(tmpdir(), 'oss-cb-bench-cold-'));
  const empty = join(work, 'empty.js');
  writeFileSync(empty, '');
  const script = join(work, 'invoke.cjs');
  writeFileSync(script, CHILD);
  const pgUp = await reachable(POSTGRES_URL);
  const database = `oss_cb_bench_${randomBytes(4).toString('hex')}`;
  let databaseUrl = 'postgres://127.0.0.1:1/unreachable?connect_timeout_ms=1000';
  if (pgUp) {
    await rawQuery(POSTGRES_URL, `CREATE DATABASE ${database}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  }
  log(
    pgUp
      ? `  store: PostgreSQL at ${new URL(POSTGRES_URL).host} (database ${database}, created for this run); each invocation opens its own connection`
      : `  store: PostgreSQL NOT reachable; DATABASE_URL points at a closed port (127.0.0.1:1), so the reply is StoreUnavailable after a refused connection`,
  );
  const env = {
    DATABASE_URL: databaseUrl,
    OSS_ALLOWED_BUCKETS: 'examplebucket',
    OSS_PUBLIC_KEYS_FILE: DEV_KEYS_FILE,
    OSS_CALLBACK_LOG: 'stdout',
    NODE_ENV: 'production',
    // The callback and its store, without OSS (the first HEAD's own cost: bench/oss-head.ts), and an
    // owner binding for the jobs that need one (deployed functions refuse to start without it).
    OSS_VERIFY_OBJECTS: 'off',
    CALLBACK_OWNER_FROM: 'x:owner',
  };

  const targets: Target[] = [];
  const rows: string[][] = [];
  const sizes: string[][] = [];
  let probe: Awaited<ReturnType<typeof cloudflareProbe>>;
  let versus: MinimalComparison | undefined;
  try {
    for (const _ of [0, 1, 2]) await emptyStart(empty); // warm the page cache
    for (const name of built) {
      const bundle = join(ROOT, 'dist', name, 'index.js');
      const event = exampleEvent(name);
      if (!event) {
        log(`  ${name}: no example event under functions/${name}/events/, skipped`);
        continue;
      }
      await invocation(script, bundle, event, env); // warm the page cache
      const base: number[] = [];
      const subject: Invocation[] = [];
      for (let round = 0; round < rounds; round++) {
        if (round % 2 === 0) {
          base.push(await emptyStart(empty));
          subject.push(await invocation(script, bundle, event, env));
        } else {
          subject.push(await invocation(script, bundle, event, env));
          base.push(await emptyStart(empty));
        }
      }
      const b = median(base);
      const s = median(subject.map((x) => x.ms));
      // Alternating rounds: the median of the per-round ratios cancels the machine's drift.
      const ratio = median(subject.map((x, i) => x.ms / base[i]!));
      const last = subject[subject.length - 1]!;
      const reply = `${last.code}${last.error ? ` ${last.error}` : ''}`;
      rows.push([
        name,
        `events/${event.split('/').pop()}`,
        reply,
        fmt(b, 1),
        fmt(s, 1),
        `${fmt(ratio)}×`,
        fmt(median(subject.map((x) => x.booted)), 1),
        fmt(median(subject.map((x) => x.loaded - x.booted)), 1),
        fmt(median(subject.map((x) => x.replied - x.loaded)), 1),
      ]);
      targets.push({ label: `${name}: cold start ≤ ${TARGET_RATIO}× an empty node start`, measured: `${fmt(ratio)}× (${fmt(s, 1)} vs ${fmt(b, 1)} ms, reply ${reply})`, met: ratio <= TARGET_RATIO });

      const size = statSync(bundle).size;
      const { bytes, parts } = await composition(name);
      const drivers = ['pg/index.js', 'mysql2/promise.js']
        .map((file) => join(ROOT, 'dist', name, 'node_modules', file))
        .filter(existsSync)
        .map((file) => `${file.split('node_modules/')[1]!.split('/')[0]} ${kb(statSync(file).size)}`);
      const top = parts.slice(0, 5).map(([part, n]) => `${part} ${kb(n)}`).join(', ');
      sizes.push([name, kb(size), top + (bytes === size ? '' : ` (metafile build ${kb(bytes)})`), drivers.join(', ')]);
      targets.push({ label: `${name}: bundle ≤ ${MAX_BUNDLE_BYTES / 1024} KB apart from database drivers`, measured: kb(size), met: size <= MAX_BUNDLE_BYTES });
    }
    if (built.includes('record-upload') && pgUp) versus = await minimalComparison(script, await buildMinimal(), env, empty, options.quick ? 9 : 21);
    probe = built.includes('record-upload') ? await cloudflareProbe(work, script, env, empty, rounds) : undefined;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(MINIMAL_DIR, { recursive: true, force: true });
    if (pgUp) await rawQuery(POSTGRES_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
  }
  log(`  ${rounds} alternating rounds; medians; ms; ratio = median of the per-round ratios. "boot" = node start to the first line of the child script, "require" = loading the bundle, "invoke" = the handler until its reply (connect, migration check, insert)`);
  log(table(['function', 'event', 'reply', 'empty node', 'spawn→reply', 'ratio', 'boot', 'require', 'invoke'], rows).replace(/^/gm, '  '));
  log('  bundle sizes (dist/<name>/index.js; database drivers are separate files under dist/<name>/node_modules, loaded only for their URL scheme):');
  log(table(['function', 'index.js', 'largest parts (esbuild metafile)', 'drivers'], sizes).replace(/^/gm, '  '));
  if (versus) {
    const phases = (xs: Invocation[], ms: number[]) => [fmt(median(ms), 1), fmt(median(xs.map((x) => x.booted)), 1), fmt(median(xs.map((x) => x.loaded - x.booted)), 1), fmt(median(xs.map((x) => x.replied - x.loaded)), 1)];
    const sorted = [...versus.ratios].sort((a, b) => a - b);
    const ratio = median(versus.ratios);
    log(
      `  target 5, record-upload's first callback against a minimal handler's (bench/servers/minimal-cold.ts, bundled the same way: require, \`pg\`, connect, one INSERT … ON CONFLICT DO NOTHING RETURNING, reply), ` +
        `each in a fresh process, reply 200 from PostgreSQL; ${versus.rounds} rounds, order rotating; medians, ms:`,
    );
    log(
      table(
        ['', 'spawn→reply', 'boot', 'require', 'invoke'],
        [
          ['empty node (spawn→exit)', fmt(median(versus.empty), 1), '', '', ''],
          ['minimal handler', ...phases(versus.minimal, versus.minimal.map((x) => x.ms))],
          ['record-upload', ...phases(versus.subject, versus.subject.map((x) => x.ms))],
        ],
      ).replace(/^/gm, '  '),
    );
    log(
      `  ratio (median of the per-round ratios) record-upload / minimal handler ${fmt(ratio)}× (rounds ${fmt(sorted[0]!)} to ${fmt(sorted[sorted.length - 1]!)}×, ` +
        `middle half ${fmt(sorted[Math.floor(sorted.length / 4)]!)} to ${fmt(sorted[Math.ceil((3 * sorted.length) / 4) - 1]!)}×); record-upload / empty node ${fmt(median(versus.emptyRatios))}×`,
    );
    targets.push({
      label: `record-upload: first callback after a cold start ≤ ${TARGET_MINIMAL_RATIO}× a minimal handler's (connect + INSERT)`,
      measured: `${fmt(ratio)}× (${fmt(median(versus.subject.map((x) => x.ms)), 1)} vs ${fmt(median(versus.minimal.map((x) => x.ms)), 1)} ms; ${fmt(median(versus.emptyRatios))}× an empty node start)`,
      met: ratio <= TARGET_MINIMAL_RATIO,
    });
  } else {
    targets.push({ label: `record-upload: first callback after a cold start ≤ ${TARGET_MINIMAL_RATIO}× a minimal handler's (connect + INSERT)`, measured: 'PostgreSQL not reachable', met: undefined });
  }
  if (probe) {
    log(
      `  diagnostic, record-upload: pg checks for Cloudflare Workers when it loads: without a \`navigator\` global (Node 20) it constructs a \`Response\`, which loads undici. ` +
        `With \`globalThis.navigator\` defined first (as Node >= 21 has it): spawn→reply ${fmt(probe.with, 1)} ms vs ${fmt(probe.without, 1)} ms as shipped, empty node ${fmt(probe.empty, 1)} ms (ratio ${fmt(probe.with / probe.empty)}× instead of ${fmt(probe.without / probe.empty)}×)`,
    );
  }
  return { name: 'cold-start', targets };
}
