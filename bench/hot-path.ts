/**
 * Hot path: one signed callback through the real pipeline, in-process (`handleCallback`: deadline,
 * signature verification with the key resolver, body decoding, bucket check, payload validation,
 * job, JSON reply), with a job whose handle() does nothing and a store that is never opened;
 * against the bare cost of one RSA-MD5 verification (`crypto.verify` with a cached KeyObject of the
 * same 512-bit size as OSS's key) of the same bytes.
 *
 * Rounds alternate baseline and subject batches; each side's cost is the median of its rounds.
 */
import { createPublicKey, verify } from 'node:crypto';
import * as v from 'valibot';
import { job as recordUpload } from '../functions/record-upload/index.js';
import type { CoreConfig } from '../shared/core/config.js';
import type { CallbackRequest } from '../shared/core/http.js';
import { defineJob } from '../shared/core/job.js';
import { createRuntime, handleCallback, type Runtime } from '../shared/core/pipeline.js';
import { decodeBody } from '../shared/protocol/body.js';
import { fastParser } from '../shared/protocol/variables.js';
import { jsonReply } from '../shared/protocol/reply.js';
import { checkCallbackSignature, decodeBase64Strict, stringToSign } from '../shared/protocol/signature.js';
import type { Store } from '../shared/store/types.js';
import { benchKey, OSS_SHAPED_KEY_URL, ossShapedResolver, signedUploads } from './lib/callbacks.js';
import { type BenchOptions, type BenchResult, log, WITHOUT_OSS } from './lib/common.js';
import { profileInProcess, summarizeProfile } from './lib/profile.js';
import { fmt, median } from './lib/stats.js';

export const TARGET_RATIO = 2;

/** record-upload's schemas, a handle() that does nothing. */
export const noopJob = defineJob({
  name: 'record-upload',
  payload: recordUpload.payload,
  custom: recordUpload.custom,
  handle: async () => ({ id: '0193a8f2-6c1e-7b2a-9d4f-2f0c5e8b1a77', duplicate: false }),
});

const neverOpened: Store = new Proxy({} as Store, {
  get(_, property) {
    if (property === 'then') return undefined; // awaited by the pipeline: not a thenable
    throw new Error(`the hot-path benchmark must not use the store (store.${String(property)})`);
  },
});

export function hotPathRuntime(): Runtime {
  const config: CoreConfig = {
    allowedBuckets: new Set(['examplebucket']),
    deadlineMs: 4000,
    maxBodyBytes: 64 * 1024,
    pathMap: [],
    databaseUrl: 'postgres://never-opened.invalid/none',
    publicKeysFile: undefined,
    keyFetchTimeoutMs: 1500,
    logTarget: 'off',
    ...WITHOUT_OSS,
  };
  // The store as createRuntime's storeFor hands it out once it is open: the store itself, not a promise.
  return createRuntime(config, { keys: ossShapedResolver(), log: () => {}, storeFor: () => neverOpened });
}

interface Prepared {
  requests: CallbackRequest[];
  data: Buffer[];
  signatures: Buffer[];
}

function prepare(count: number): Prepared {
  const requests = signedUploads(count, OSS_SHAPED_KEY_URL);
  return {
    requests,
    data: requests.map((r) => stringToSign(r.rawPath, r.rawQuery, r.body)),
    signatures: requests.map((r) => decodeBase64Strict(r.headers.authorization!)!),
  };
}

/** µs per verification: `count` calls of crypto.verify on pre-built bytes with a cached KeyObject. */
function baselineBatch(p: Prepared, key: ReturnType<typeof createPublicKey>, count: number): number {
  const n = p.data.length;
  let ok = 0;
  const start = performance.now();
  for (let i = 0; i < count; i++) if (verify('md5', p.data[i % n]!, key, p.signatures[i % n]!)) ok++;
  const elapsed = performance.now() - start;
  if (ok !== count) throw new Error('baseline: a signature did not verify');
  return (elapsed * 1000) / count;
}

/** µs per callback: `count` callbacks through handleCallback, one after the other. */
async function subjectBatch(p: Prepared, runtime: Runtime, count: number): Promise<number> {
  const n = p.requests.length;
  let ok = 0;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const request = p.requests[i % n]!;
    request.receivedAt = Date.now();
    if ((await handleCallback(noopJob, request, runtime)).status === 200) ok++;
  }
  const elapsed = performance.now() - start;
  if (ok !== count) throw new Error('subject: a callback was not answered 200');
  return (elapsed * 1000) / count;
}

/**
 * Where the time goes: each stage of the pipeline on its own (µs per call, median of 5 batches).
 * The stages overlap the whole only roughly (the whole also awaits, races a timer, logs).
 */
async function stages(p: Prepared, key: ReturnType<typeof createPublicKey>, runtime: Runtime, count: number): Promise<void> {
  const n = p.requests.length;
  const decoded = p.requests.map((r) => decodeBody(r.headers['content-type'], r.body));
  const reply = { id: '0193a8f2-6c1e-7b2a-9d4f-2f0c5e8b1a77', duplicate: false };
  const entries = Object.keys(noopJob.payload.entries);
  const measure = async (name: string, call: (i: number) => unknown): Promise<void> => {
    const batches: number[] = [];
    for (let k = 0; k < 5; k++) {
      const start = performance.now();
      for (let i = 0; i < count; i++) await call(i % n);
      batches.push(((performance.now() - start) * 1000) / count);
    }
    log(`    ${name.padEnd(58)} ${fmt(median(batches)).padStart(7)} µs`);
  };
  log('  stages on their own (µs per call, median of 5 batches):');
  await measure('crypto.verify (the baseline)', (i) => verify('md5', p.data[i]!, key, p.signatures[i]!));
  await measure('checkCallbackSignature (headers, cached key, verify)', (i) => checkCallbackSignature(p.requests[i]!, runtime.keys));
  await measure('  of which keys.cached (the key at hand)', () => runtime.keys.cached?.(OSS_SHAPED_KEY_URL));
  await measure('decodeBody (UTF-8, form decoding)', (i) => decodeBody(p.requests[i]!.headers['content-type'], p.requests[i]!.body));
  await measure('valibot: payload + custom schemas (for refusals)', (i) => {
    const { fields, custom } = decoded[i]!;
    const input: Record<string, unknown> = {};
    for (const k of entries) if (Object.hasOwn(fields, k)) input[k] = fields[k];
    return v.safeParse(noopJob.payload, input).success && v.safeParse(noopJob.custom, custom).success;
  });
  await measure('jsonReply', () => jsonReply(200, reply));
  const payloadParser = fastParser(noopJob.payload)!;
  const customParser = fastParser(noopJob.custom)!;
  await measure('hand-written oss.* checks (what the pipeline runs)', (i) => {
    const { fields, custom } = decoded[i]!;
    return payloadParser(fields) !== undefined && customParser(custom) !== undefined;
  });
  await measure('handleCallback (the whole)', (i) => {
    const request = p.requests[i]!;
    request.receivedAt = Date.now();
    return handleCallback(noopJob, request, runtime);
  });
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const rounds = options.quick ? 7 : 15;
  const batch = options.quick ? 1000 : 2000;
  const prepared = prepare(2000);
  const key = createPublicKey(benchKey().publicKeyPem);
  const runtime = hotPathRuntime();
  log(`hot path: ${rounds} rounds × ${batch} calls each side, 2000 distinct signed callbacks, ${prepared.requests[0]!.body.length}-byte form body, 512-bit RSA-MD5`);

  // Warm-up (JIT, key resolution and caching) on both sides.
  baselineBatch(prepared, key, batch);
  await subjectBatch(prepared, runtime, batch);

  const base: number[] = [];
  const subject: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const b = baselineBatch(prepared, key, batch);
    const s = await subjectBatch(prepared, runtime, batch);
    base.push(b);
    subject.push(s);
    ratios.push(s / b);
  }
  const b = median(base);
  const s = median(subject);
  // Each round's two batches run back to back, so the per-round ratio cancels the machine's drift.
  const ratio = median(ratios);
  log(`  baseline  crypto.verify (cached KeyObject)     median ${fmt(b)} µs/op   (rounds: ${base.map((x) => fmt(x, 1)).join(' ')})`);
  log(`  subject   handleCallback (no-op job, no store)  median ${fmt(s)} µs/op   (rounds: ${subject.map((x) => fmt(x, 1)).join(' ')})`);
  log(`  ratio     ${fmt(ratio)}× (median of the per-round ratios; ratio of the medians ${fmt(s / b)}×; pipeline overhead ${fmt(s - b)} µs)   target ≤ ${TARGET_RATIO}×`);
  await stages(prepared, key, runtime, batch);
  if (options.profile) {
    const profile = await profileInProcess(async () => {
      for (let k = 0; k < 10; k++) await subjectBatch(prepared, runtime, batch);
    });
    log(`  CPU profile of ${10 * batch} callbacks through handleCallback, top functions by self time:`);
    for (const line of summarizeProfile(profile, 20)) log(`    ${line}`);
  }
  return {
    name: 'hot-path',
    targets: [{ label: `hot path ≤ ${TARGET_RATIO}× one bare RSA-MD5 verify`, measured: `${fmt(ratio)}× (${fmt(s)} vs ${fmt(b)} µs)`, met: ratio <= TARGET_RATIO }],
  };
}
