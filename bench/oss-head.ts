/**
 * The object check's cost, against the local OSS emulator (a real object, V4 signatures verified):
 *
 * 1. Cold: a fresh `node` process that loads the HEAD code and asks about the object once (what an
 *    instance's first callback pays for the check), for the shipped code (shared/core/oss-head.ts
 *    bundled by esbuild as the functions are) and for the client it replaced (`require('ali-oss')` +
 *    `client.head`), against an empty `node` start. Spawn to the HEAD's answer; medians; rounds alternate.
 * 2. Warm, per HEAD: the pipeline's HEAD step (`verifyObject`, OSS_VERIFY_OBJECTS=head) against a
 *    raw HEAD with the same client (node:http, a keep-alive agent, the same V4 signer), sequential
 *    calls (latency, not throughput). Target (issue 13): raw time / step time ≥ 0.8. ali-oss's
 *    `head` on the same object is shown for reference.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { verifyObject } from '../shared/core/verify-object.js';
import { signRequestV4 } from '../shared/protocol/oss-v4.js';
import { DEFAULT_CREDENTIALS, startOssEmulator } from '../shared/testing/oss-emulator/index.js';
import { type BenchOptions, type BenchResult, log, ROOT } from './lib/common.js';
import { fmt, median } from './lib/stats.js';

export const TARGET_RATIO = 0.8;
const BUCKET = 'examplebucket';
const KEY = 'bench/photos/cat 1+2.jpg';
const REGION = 'cn-hangzhou';

interface AliOssClient {
  put(name: string, body: Buffer): Promise<{ res: { headers: Record<string, string> } }>;
  head(name: string): Promise<{ status: number }>;
}

/** Wall time of a fresh `node` running `args` until it exits having printed `ok` (async: the emulator runs in this process). */
function wallMs(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - started;
      if (code !== 0 || out.trim() !== 'ok') reject(new Error(`node ${args.join(' ')} failed: ${out}`));
      else resolve(ms);
    });
  });
}

/** One raw signed HEAD: node:http with a keep-alive agent, V4 header auth, IP endpoint addressing. */
function rawHead(agent: Agent, port: number): Promise<number> {
  const headers = signRequestV4({ method: 'HEAD', bucket: BUCKET, key: KEY, region: REGION, credentials: DEFAULT_CREDENTIALS, at: new Date() });
  const path = `/${KEY.split('/').map(encodeURIComponent).join('/')}`;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'HEAD', path, agent, headers: { ...headers, host: `${BUCKET}.oss-${REGION}.aliyuncs.com` } }, (res) => {
      res.resume();
      if (res.statusCode !== 200) reject(new Error(`raw HEAD: ${res.statusCode}`));
      else resolve(Number(res.headers['content-length']));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const processes = options.quick ? 5 : 11;
  const rounds = options.quick ? 5 : 9;
  const batch = options.quick ? 200 : 500;
  const folder = mkdtempSync(join(tmpdir(), 'oss-cb-bench-head-'));
  const emulator = await startOssEmulator({ port: 0, dataDir: join(folder, 'oss'), buckets: new Set([BUCKET]), region: REGION });
  try {
    const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => AliOssClient;
    const clientOptions = { endpoint: emulator.url, region: `oss-${REGION}`, bucket: BUCKET, ...DEFAULT_CREDENTIALS };
    const aliOss = new OSS(clientOptions);
    const put = await aliOss.put(KEY, Buffer.alloc(4096, 7));
    const etag = put.res.headers.etag!;

    // (1) Cold: the shipped HEAD code, bundled as the functions are, vs ali-oss, in fresh processes.
    const entry = join(folder, 'entry.ts');
    writeFileSync(
      entry,
      `import { headObject } from ${JSON.stringify(join(ROOT, 'shared/core/oss-head.ts'))};\n` +
        `headObject({ bucket: ${JSON.stringify(BUCKET)}, key: ${JSON.stringify(KEY)} }, { endpoint: process.argv[2]!, region: ${JSON.stringify(REGION)}, pathStyle: false, credentials: ${JSON.stringify(DEFAULT_CREDENTIALS)}, timeoutMs: 5000 })` +
        `.then((facts) => { if (!facts) throw new Error('no object'); process.stdout.write('ok'); process.exit(0); });\n`,
    );
    const bundle = join(folder, 'head.cjs');
    await build({ entryPoints: [entry], outfile: bundle, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
    const empty = join(folder, 'empty.cjs');
    writeFileSync(empty, "process.stdout.write('ok')");
    const viaAliOssCold = `const OSS=require('ali-oss');new OSS(${JSON.stringify(clientOptions)}).head(${JSON.stringify(KEY)}).then(()=>{process.stdout.write('ok');process.exit(0)})`;
    const loadOnly = (code: string) => Number(execFileSync(process.execPath, ['-e', `const t=performance.now();${code};process.stdout.write(String(performance.now()-t))`], { cwd: ROOT, encoding: 'utf8' }));
    const emptyMs: number[] = [];
    const newMs: number[] = [];
    const oldMs: number[] = [];
    const oldLoad: number[] = [];
    for (let i = 0; i < processes; i++) {
      emptyMs.push(await wallMs([empty]));
      newMs.push(await wallMs([bundle, emulator.url]));
      oldMs.push(await wallMs(['-e', viaAliOssCold]));
      oldLoad.push(loadOnly("require('ali-oss')"));
    }
    const e = median(emptyMs);
    const n = median(newMs);
    const o = median(oldMs);
    log(`cold, spawn → first HEAD answered (median of ${processes}): raw V4 HEAD bundle ${fmt(n, 1)} ms (+${fmt(n - e, 1)}), ali-oss ${fmt(o, 1)} ms (+${fmt(o - e, 1)}), empty node ${fmt(e, 1)} ms`);
    log(`  require('ali-oss') alone: ${fmt(median(oldLoad), 1)} ms`);

    // (2) Warm, per HEAD: the pipeline's step vs a raw HEAD with the same client.
    const agent = new Agent({ keepAlive: true });
    const config = { verify: 'head', endpoint: emulator.url, pathStyle: false, headTimeoutMs: 1500 } as const;
    const platform = { region: REGION, credentials: DEFAULT_CREDENTIALS };
    const signal = new AbortController().signal;
    const step = () => verifyObject({ bucket: BUCKET, key: KEY, etag }, config, { platform, deadline: Date.now() + 10_000, signal, log: () => {} });
    const raw = () => rawHead(agent, emulator.port);
    const viaAliOss = () => aliOss.head(KEY);
    for (let i = 0; i < 100; i++) {
      await step();
      await raw();
      await viaAliOss();
    }
    const perCall = async (fn: () => Promise<unknown>) => {
      const started = performance.now();
      for (let i = 0; i < batch; i++) await fn();
      return ((performance.now() - started) / batch) * 1000;
    };
    const stepUs: number[] = [];
    const rawUs: number[] = [];
    const aliUs: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const r = await perCall(raw);
      const s = await perCall(step);
      aliUs.push(await perCall(viaAliOss));
      rawUs.push(r);
      stepUs.push(s);
      ratios.push(r / s);
    }
    agent.destroy();
    const ratio = median(ratios);
    const s = median(stepUs);
    const r = median(rawUs);
    log(`HEAD on the local OSS (${rounds} rounds × ${batch} sequential calls): pipeline step ${fmt(s, 0)} µs, raw http.request ${fmt(r, 0)} µs, ratio raw/step ${fmt(ratio)} (target ≥ ${TARGET_RATIO}); ali-oss head ${fmt(median(aliUs), 0)} µs`);
    return {
      name: 'oss-head',
      targets: [
        { label: 'object check: first HEAD in a fresh process, raw V4 vs ali-oss (cold start)', measured: `+${fmt(n - e, 1)} vs +${fmt(o - e, 1)} ms over an empty node start`, met: undefined, note: 'informational' },
        { label: `object check: HEAD step vs raw HEAD, same client (≥ ${TARGET_RATIO})`, measured: `${fmt(ratio)} (${fmt(s, 0)} vs ${fmt(r, 0)} µs; ali-oss ${fmt(median(aliUs), 0)} µs)`, met: ratio >= TARGET_RATIO },
      ],
    };
  } finally {
    await emulator.close();
    rmSync(folder, { recursive: true, force: true });
  }
}
