/**
 * The object check's cost: (1) loading `ali-oss` in a fresh process (paid once per instance, on the
 * first callback), against an empty `node` start; (2) one HeadObject through `headObject()` (ali-oss,
 * V1-signed) against a raw V1-signed `http.request` HEAD with a keep-alive agent, both to the same
 * loopback responder, sequentially (latency, not throughput). Rounds alternate the two sides.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { headObject } from '../shared/core/oss-head.js';
import { type BenchOptions, type BenchResult, log, ROOT } from './lib/common.js';
import { fmt, median } from './lib/stats.js';

const KEY = { accessKeyId: 'bench-ak', accessKeySecret: 'bench-secret' };

function freshProcessMs(code: string): number {
  const out = execFileSync(process.execPath, ['-e', `const t=process.hrtime.bigint();${code};process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`], { cwd: ROOT, encoding: 'utf8' });
  return Number(out);
}

function wallMs(code: string): number {
  const started = performance.now();
  execFileSync(process.execPath, ['-e', code], { cwd: ROOT });
  return performance.now() - started;
}

function rawHead(agent: Agent, port: number, bucket: string, key: string): Promise<number> {
  const date = new Date().toUTCString();
  const signature = createHmac('sha1', KEY.accessKeySecret).update(`HEAD\n\n\n${date}\n/${bucket}/${key}`).digest('base64');
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'HEAD', path: `/${encodeURIComponent(key)}`, agent, headers: { host: `${bucket}.oss-cn-hangzhou.aliyuncs.com`, date, authorization: `OSS ${KEY.accessKeyId}:${signature}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(Number(res.headers['content-length'])));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const processes = options.quick ? 5 : 9;
  const rounds = options.quick ? 5 : 9;
  const batch = options.quick ? 200 : 500;

  // (1) ali-oss load time in fresh processes.
  const requireMs: number[] = [];
  const emptyMs: number[] = [];
  const withOssMs: number[] = [];
  for (let i = 0; i < processes; i++) {
    requireMs.push(freshProcessMs("require('ali-oss')"));
    emptyMs.push(wallMs('0'));
    withOssMs.push(wallMs("require('ali-oss')"));
  }
  const load = median(requireMs);
  log(`ali-oss: require() in a fresh process ${fmt(load, 1)} ms (median of ${processes}); node -e 0 ${fmt(median(emptyMs), 1)} ms, node -e "require('ali-oss')" ${fmt(median(withOssMs), 1)} ms`);

  // (2) one HEAD, ali-oss vs raw, against a loopback responder.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { etag: '"D41D8CD98F00B204E9800998ECF8427E"', 'content-length': '1024', 'content-type': 'image/jpeg', 'x-oss-request-id': '5C3D9175B6FC201293AD4890', 'x-oss-hash-crc64ecma': '1' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const agent = new Agent({ keepAlive: true });
  const viaAliOss = () => headObject({ bucket: 'examplebucket', key: 'photos/a.jpg' }, { endpoint, region: 'cn-hangzhou', pathStyle: false, credentials: KEY, timeoutMs: 1500 });
  const viaRaw = () => rawHead(agent, port, 'examplebucket', 'photos/a.jpg');
  for (let i = 0; i < 100; i++) {
    await viaAliOss();
    await viaRaw();
  }
  const perCall = async (fn: () => Promise<unknown>) => {
    const started = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    return ((performance.now() - started) / batch) * 1000;
  };
  const ali: number[] = [];
  const raw: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const r = await perCall(viaRaw);
    const a = await perCall(viaAliOss);
    raw.push(r);
    ali.push(a);
    ratios.push(a / r);
  }
  agent.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const a = median(ali);
  const r = median(raw);
  log(`HEAD on loopback (${rounds} rounds × ${batch} sequential calls): ali-oss ${fmt(a, 0)} µs, raw http.request ${fmt(r, 0)} µs, ratio ${fmt(median(ratios))}× (+${fmt(a - r, 0)} µs per callback)`);
  return {
    name: 'oss-head',
    targets: [
      { label: 'ali-oss load (once per instance, on the first callback)', measured: `${fmt(load, 1)} ms`, met: undefined, note: 'informational' },
      { label: 'HEAD via ali-oss vs raw signed http.request (loopback)', measured: `${fmt(a, 0)} vs ${fmt(r, 0)} µs (${fmt(median(ratios))}×)`, met: undefined, note: 'informational' },
    ],
  };
}
