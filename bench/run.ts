/**
 * `npm run bench [-- [--quick] [--profile] [<name>...]]`: the benchmarks, each against a baseline
 * measured in the same run (alternating rounds, medians). Names: hot-path, server, datastores,
 * custom-runtime, cold-start, memory (default: all, in that order). `--quick`: fewer and shorter rounds.
 * `--profile`: CPU profiles of the subjects, summarized. Only loopback traffic; every load is
 * bounded in requests or time. Prints the machine, the figures, and a summary of the targets.
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { type BenchOptions, type BenchResult, log, verdict } from './lib/common.js';
import { table } from './lib/stats.js';

const BENCHMARKS: Record<string, () => Promise<{ run(options: BenchOptions): Promise<BenchResult> }>> = {
  'hot-path': () => import('./hot-path.js'),
  server: () => import('./server.js'),
  datastores: () => import('./datastores.js'),
  'custom-runtime': () => import('./custom-runtime.js'),
  'cold-start': () => import('./cold-start.js'),
  memory: () => import('./memory.js'),
  'oss-head': () => import('./oss-head.js'),
};

const args = process.argv.slice(2);
const options: BenchOptions = { quick: args.includes('--quick'), profile: args.includes('--profile') };
const unknownFlags = args.filter((a) => a.startsWith('-') && a !== '--quick' && a !== '--profile');
const names = args.filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknownFlags.length > 0 || unknown.length > 0) {
  process.stderr.write(`unknown ${[...unknownFlags, ...unknown].join(', ')}\nusage: npm run bench -- [--quick] [--profile] [${Object.keys(BENCHMARKS).join('|')}...]\n`);
  process.exit(2);
}
const selected = names.length > 0 ? names : Object.keys(BENCHMARKS);

const load = () => loadavg().map((n) => n.toFixed(2)).join(' ');
log(`date: ${new Date().toISOString()}`);
log(`command: npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`);
log(`machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown model'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${process.platform}/${process.arch}, Node ${process.version}`);
log(`load average at start: ${load()}`);
log();

const started = performance.now();
const results: BenchResult[] = [];
const crashed: string[] = [];
for (const name of selected) {
  const t = performance.now();
  log(`=== ${name}`);
  try {
    const { run } = await BENCHMARKS[name]!();
    results.push(await run(options));
  } catch (error) {
    crashed.push(name);
    log(`  ${name} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  log(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  log();
}

log(`=== summary (${((performance.now() - started) / 1000).toFixed(0)} s; load average at end: ${load()})`);
log(
  table(
    ['benchmark', 'target', 'measured', 'verdict'],
    results.flatMap((r) => r.targets.map((t) => [r.name, t.label, t.measured, verdict(t.met)])),
  ),
);
if (crashed.length > 0) log(`crashed: ${crashed.join(', ')}`);
process.exit(crashed.length > 0 ? 1 : 0);
