/**
 * `npm run reconcile -- --function <name> --bucket <bucket> [--prefix p] [--fix] [--endpoint url] [--region r]`
 *
 * Compares what a bucket holds (listed with ali-oss, ListObjectsV2) with a callback job's records (its
 * per-upload table: bucket, key, ETag, deleted_at; shared/core/object-state.ts) and reports
 *  - objects without records (a callback and its event both lost, or older than the event trigger);
 *  - records without objects (a deletion or overwrite whose event was lost).
 * With --fix, each difference goes through the job's own event path (handleObjectEvents, the same as an
 * FC OSS trigger): an ObjectCreated:PutObject event for an object without a record (size, ETag and time
 * from the listing), an ObjectRemoved:DeleteObject event naming the record's ETag for a record without
 * an object. Then it compares again. Exit 0 when no difference remains, 1 when some do, 2 on misuse.
 * Jobs that keep records only for some objects (image-upload: images; media-job: media with a preset)
 * decline the others: point --prefix at their objects.
 *
 * Where OSS is: --endpoint (e.g. the local emulator of `npm start`, http://127.0.0.1:9001) or OSS_ENDPOINT,
 * else --region / OSS_REGION / FC_REGION (real OSS). Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID,
 * ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS). The job's store and
 * allowed buckets come from its usual settings (DATABASE_URL, OSS_ALLOWED_BUCKETS, …).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { handleObjectEvents, type OssObjectEvent } from '../shared/core/events.js';
import type { Job } from '../shared/core/job.js';
import { normalizeEtag } from '../shared/core/object.js';
import { runtimeFromEnv, type Runtime } from '../shared/core/pipeline.js';
import type { Table } from '../shared/store/types.js';
import { endpointOptions } from './smoke.js';

export interface ReconcileOptions {
  functionName: string;
  bucket: string;
  prefix: string;
  fix: boolean;
  /** ali-oss client options (endpoint or region, credentials). */
  oss: Record<string, unknown>;
}

export interface Listed {
  key: string;
  etag: string;
  size: number;
  lastModified: Date;
}

export interface Differences {
  /** Objects the bucket holds that have no live record with their ETag. */
  missing: Listed[];
  /** Live records whose object is gone or now has another ETag. */
  stale: { key: string; etag: string; size: number }[];
}

interface ListV2Result {
  objects?: { name: string; etag: string; size: number; lastModified: string }[];
  nextContinuationToken?: string;
  isTruncated?: boolean;
}
interface AliOssLister {
  listV2(query: Record<string, unknown>, options?: Record<string, unknown>): Promise<ListV2Result>;
}

/** Every object under the prefix, page by page; `progress` after each page. */
export async function listBucket(client: AliOssLister, prefix: string, progress: (count: number) => void): Promise<Listed[]> {
  const listed: Listed[] = [];
  let token: string | undefined;
  do {
    const page = await client.listV2({ prefix, 'max-keys': 1000, ...(token ? { 'continuation-token': token } : {}) });
    for (const o of page.objects ?? []) listed.push({ key: o.name, etag: normalizeEtag(o.etag), size: Number(o.size), lastModified: new Date(o.lastModified) });
    progress(listed.length);
    token = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (token);
  return listed;
}

type RecordRow = { bucket: string; object: string; etag: string; size: number; deletedAt: Date | null };

/** The job's per-upload table: the one with bucket, object, etag and deletedAt. */
export function recordTable(job: Job): Table<RecordRow> {
  const table = job.tables.find((t) => ['bucket', 'object', 'etag', 'size', 'deletedAt'].every((f) => f in t.columns));
  if (!table) throw new Error(`${job.name} keeps no per-upload records with deleted_at: it has nothing to reconcile`);
  return table as unknown as Table<RecordRow>;
}

/** What differs between the listing and the job's live records under the prefix. */
export async function compare(job: Job, runtime: Runtime, bucket: string, prefix: string, listed: readonly Listed[]): Promise<Differences> {
  const store = await runtime.storeFor(job);
  const table = recordTable(job);
  const rows = (await store.transaction((tx) => tx.find(table, { bucket, deletedAt: null }))).filter((r) => r.etag !== '' && r.object.startsWith(prefix));
  const recorded = new Set(rows.map((r) => `${r.object}\0${r.etag}`));
  const held = new Set(listed.map((o) => `${o.key}\0${o.etag}`));
  return {
    missing: listed.filter((o) => !recorded.has(`${o.key}\0${o.etag}`)),
    stale: rows.filter((r) => !held.has(`${r.object}\0${r.etag}`)).map((r) => ({ key: r.object, etag: r.etag, size: r.size })),
  };
}

/** The events that bring the records in line with the listing (what a lost trigger would have delivered). */
export function fixEvents(bucket: string, differences: Differences, now = new Date()): OssObjectEvent[] {
  return [
    ...differences.missing.map((o): OssObjectEvent => ({ kind: 'created', name: 'ObjectCreated:PutObject', bucket, key: o.key, etag: o.etag, size: o.size, eventTime: o.lastModified })),
    ...differences.stale.map((r): OssObjectEvent => ({ kind: 'removed', name: 'ObjectRemoved:DeleteObject', bucket, key: r.key, etag: r.etag, size: r.size, eventTime: now })),
  ];
}

/** Runs a reconcile; returns the exit status. */
export async function reconcile(options: ReconcileOptions, runtime: Runtime, log: (line: string) => void): Promise<number> {
  const { loadFunction } = await import('./functions.js');
  const { job } = await loadFunction(options.functionName);
  recordTable(job);
  const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => AliOssLister;
  const client = new OSS({ ...options.oss, bucket: options.bucket });
  const where = `oss://${options.bucket}/${options.prefix}`;
  let shown = 0;
  const listed = await listBucket(client, options.prefix, (count) => {
    if (count - shown >= 10_000) log(`listed ${(shown = count)} objects under ${where} …`);
  });
  log(`${where}: ${listed.length} object(s)`);
  let differences = await compare(job, runtime, options.bucket, options.prefix, listed);
  report(differences, log);
  if (options.fix && differences.missing.length + differences.stale.length > 0) {
    const events = fixEvents(options.bucket, differences);
    for (let i = 0; i < events.length; i += 100) {
      const summary = await handleObjectEvents(job, events.slice(i, i + 100), runtime);
      log(`fixed ${Math.min(i + 100, events.length)}/${events.length} through ${job.name}'s event path: ${JSON.stringify(summary.outcomes)}`);
    }
    differences = await compare(job, runtime, options.bucket, options.prefix, listed);
    log('after --fix:');
    report(differences, log);
  }
  const remaining = differences.missing.length + differences.stale.length;
  log(remaining === 0 ? `${job.name} agrees with ${where}` : `${remaining} difference(s) remain${options.fix ? ' (the job declined them, or they changed meanwhile)' : ': run again with --fix'}`);
  return remaining === 0 ? 0 : 1;
}

function report(d: Differences, log: (line: string) => void): void {
  log(`objects without records: ${d.missing.length}; records without objects: ${d.stale.length}`);
  for (const o of d.missing.slice(0, 20)) log(`  no record:  ${o.key} (ETag ${o.etag}, ${o.size} bytes)`);
  for (const r of d.stale.slice(0, 20)) log(`  no object:  ${r.key} (ETag ${r.etag})`);
  if (d.missing.length > 20 || d.stale.length > 20) log('  …');
}

export function parseReconcileArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ReconcileOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: { function: { type: 'string' }, bucket: { type: 'string' }, prefix: { type: 'string', default: '' }, fix: { type: 'boolean', default: false }, endpoint: { type: 'string' }, region: { type: 'string' } },
  });
  if (!values.function || !values.bucket) throw new Error('usage: npm run reconcile -- --function <name> --bucket <bucket> [--prefix p] [--fix] [--endpoint url | --region r]');
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID?.trim();
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET?.trim();
  if (!accessKeyId || !accessKeySecret) throw new Error('set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)');
  const endpoint = values.endpoint ?? (env.OSS_ENDPOINT?.trim() || undefined);
  const region = values.region ?? (env.OSS_REGION?.trim() || env.FC_REGION?.trim() || undefined);
  if (!endpoint && !region) throw new Error('where is OSS? pass --endpoint <url> (or OSS_ENDPOINT) or --region <region> (or OSS_REGION)');
  const token = env.ALIBABA_CLOUD_SECURITY_TOKEN?.trim();
  return {
    functionName: values.function,
    bucket: values.bucket,
    prefix: values.prefix ?? '',
    fix: values.fix ?? false,
    oss: { accessKeyId, accessKeySecret, ...(token ? { stsToken: token } : {}), ...(endpoint ? endpointOptions(endpoint) : { region: region!.startsWith('oss-') ? region : `oss-${region}`, secure: true }) },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let options: ReconcileOptions;
  try {
    options = parseReconcileArgs(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  reconcile(options, runtimeFromEnv(), (line) => process.stdout.write(`${line}\n`)).then(
    (status) => process.exit(status),
    (error: unknown) => {
      process.stderr.write(`reconcile failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
