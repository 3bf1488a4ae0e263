/**
 * `npm run smoke -- --url <trigger URL> --bucket <bucket>`: the check after a deploy. It uploads a
 * tiny object to the bucket through real OSS with ali-oss, with a callback to the deployed function
 * (the function's own callback template, `x:owner=smoke-test`), prints what OSS passed back (the
 * function's JSON reply) and the record id, then deletes the object.
 *
 * Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and, for STS,
 * ALIBABA_CLOUD_SECURITY_TOKEN. Where OSS is: `--region` (default: the region in an FC trigger URL,
 * `https://<name>-xxxx.<region>.fcapp.run`, else FC_REGION) or `--endpoint` (e.g. a local emulator,
 * `--endpoint http://127.0.0.1:9001`).
 *
 * Exit status: 0 the callback succeeded (200); 1 OSS stored the object but the callback failed
 * (203 CallbackFailed: the function refused or could not be reached); 2 a usage or configuration
 * mistake (nothing was uploaded); 3 the upload itself failed (credentials, bucket, network).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const EXIT = { ok: 0, callbackFailed: 1, usage: 2, uploadFailed: 3 } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface SmokeOptions {
  url: string;
  bucket: string;
  /** The deployed function's name: whose callback template to send. */
  functionName: string;
  /** ali-oss `region` (`oss-<region>`), or undefined when `endpoint` is given. */
  region: string | undefined;
  endpoint: string | undefined;
  key: string;
  /** What to upload. */
  content: Buffer;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken: string | undefined };
  timeoutMs: number;
}

export const USAGE = `npm run smoke -- --url <trigger URL> --bucket <bucket> [options]

Uploads a tiny object with a callback to the function at --url through real OSS (ali-oss), prints
the function's reply and the record id, then deletes the object.

  --url <url>          the function's trigger URL (what s deploy printed): the callbackUrl
  --bucket <name>      a bucket in OSS_ALLOWED_BUCKETS of that function
  --function <name>    whose callback template to send (default: the name in --url)
  --region <region>    OSS region, e.g. cn-hangzhou (default: from an fcapp.run --url, else FC_REGION)
  --endpoint <url>     OSS endpoint instead of --region, e.g. http://127.0.0.1:9001
  --key <key>          object key (default oss-callback-smoke/<time>-<random>.txt)
  --file <path>        upload this file instead of a short text (e.g. an image for image-upload)
  --timeout <ms>       default 30000

Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN (STS).
Exit status: 0 callback OK, 1 callback failed (object stored, then deleted), 2 usage, 3 upload failed.`;

/** The function a trigger URL points at: `/<name>` (local server) or `<name>-xxxx.<region>.fcapp.run`. */
export function functionFromUrl(url: URL, known: readonly string[]): string | undefined {
  const segment = url.pathname.split('/')[1] ?? '';
  const host = url.hostname.split('.')[0] ?? '';
  const matches = known.filter((name) => segment === name || host.startsWith(`${name}-`) || host === name);
  return matches.sort((a, b) => b.length - a.length)[0];
}

/** The region of an FC trigger URL (`<x>.<region>.fcapp.run`), if it is one. */
export function regionFromUrl(url: URL): string | undefined {
  return /^[^.]+\.([a-z]+-[a-z0-9-]+)\.fcapp\.run$/.exec(url.hostname)?.[1];
}

export function smokeKey(now = new Date()): string {
  return `oss-callback-smoke/${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}.txt`;
}

/** Reads the command line and environment; throws UsageError naming what is missing or wrong. */
export function parseSmokeArgs(argv: readonly string[], env: NodeJS.ProcessEnv, known: readonly string[]): SmokeOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        bucket: { type: 'string' },
        function: { type: 'string' },
        region: { type: 'string' },
        endpoint: { type: 'string' },
        key: { type: 'string' },
        file: { type: 'string' },
        timeout: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.url) throw new UsageError('--url is required: the trigger URL that s deploy printed');
  if (!values.bucket) throw new UsageError('--bucket is required: a bucket in the function\'s OSS_ALLOWED_BUCKETS');
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(values.url)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be http:// or https://, got ${url.protocol}`);
  const functionName = values.function ?? functionFromUrl(url, known);
  if (!functionName) throw new UsageError(`cannot tell the function from --url ${url.href}: give --function (one of ${known.join(', ')})`);
  if (!known.includes(functionName)) throw new UsageError(`--function ${JSON.stringify(functionName)} is not a function under functions/ (${known.join(', ')})`);
  let endpoint: string | undefined;
  if (values.endpoint) {
    try {
      endpoint = new URL(values.endpoint).href.replace(/\/$/, '');
    } catch {
      throw new UsageError(`--endpoint ${JSON.stringify(values.endpoint)} is not a URL (e.g. https://oss-cn-hangzhou.aliyuncs.com)`);
    }
  }
  const region = endpoint ? undefined : (values.region ?? regionFromUrl(url) ?? env.FC_REGION);
  if (!endpoint && !region) throw new UsageError('where is OSS? give --region (e.g. cn-hangzhou) or --endpoint');
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID?.trim();
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET?.trim();
  const missing = [!accessKeyId && 'ALIBABA_CLOUD_ACCESS_KEY_ID', !accessKeySecret && 'ALIBABA_CLOUD_ACCESS_KEY_SECRET'].filter(Boolean);
  if (missing.length > 0) throw new UsageError(`no OSS credentials: set ${missing.join(' and ')} (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)`);
  const timeoutMs = values.timeout === undefined ? 30_000 : Number(values.timeout);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1000) throw new UsageError('--timeout must be an integer of at least 1000 (ms)');
  let content: Buffer;
  if (values.file) {
    try {
      content = readFileSync(values.file);
    } catch (error) {
      throw new UsageError(`--file ${values.file}: ${(error as Error).message}`);
    }
  } else {
    content = Buffer.from(`oss-callback smoke test ${new Date().toISOString()}\n`);
  }
  return {
    url: url.href,
    bucket: values.bucket,
    functionName,
    region: region ? (region.startsWith('oss-') ? region : `oss-${region}`) : undefined,
    endpoint,
    key: values.key ?? smokeKey(),
    content,
    credentials: { accessKeyId: accessKeyId!, accessKeySecret: accessKeySecret!, securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN?.trim() || undefined },
    timeoutMs,
  };
}

/** How the upload went, from ali-oss's result or error. */
export type SmokeOutcome =
  | { kind: 'ok'; status: number; reply: unknown; ossRequestId: string | undefined }
  | { kind: 'callbackFailed'; status: number; message: string; ossRequestId: string | undefined }
  | { kind: 'uploadFailed'; code: string; status: number | undefined; message: string; ossRequestId: string | undefined };

/** ali-oss error → outcome: OSS answers a failed callback with 203 CallbackFailed (the object is stored). */
export function outcomeOfError(error: unknown): SmokeOutcome {
  const e = error as { name?: string; code?: string; status?: number; message?: string; requestId?: string };
  if (e?.code === 'CallbackFailed' || e?.status === 203) {
    return { kind: 'callbackFailed', status: e.status ?? 203, message: e.message ?? '', ossRequestId: e.requestId };
  }
  return { kind: 'uploadFailed', code: e?.code ?? e?.name ?? 'Error', status: e?.status, message: e?.message ?? String(error), ossRequestId: e?.requestId };
}

/** The lines to print and the exit status for an outcome. */
export function report(options: Pick<SmokeOptions, 'bucket' | 'key' | 'url' | 'functionName'>, outcome: SmokeOutcome): { lines: string[]; exit: number } {
  const where = `oss://${options.bucket}/${options.key}`;
  const req = (id: string | undefined) => (id ? ` (OSS request id ${id})` : '');
  switch (outcome.kind) {
    case 'ok': {
      const id = (outcome.reply as { id?: unknown } | null)?.id;
      return {
        lines: [
          `OSS stored ${where} and the callback to ${options.functionName} succeeded${req(outcome.ossRequestId)}`,
          `reply: ${JSON.stringify(outcome.reply)}`,
          typeof id === 'string' ? `record id: ${id}` : 'record id: (none: the reply has no "id")',
        ],
        exit: EXIT.ok,
      };
    }
    case 'callbackFailed':
      return {
        lines: [
          `OSS stored ${where} but the callback failed: ${outcome.status} CallbackFailed "${outcome.message}"${req(outcome.ossRequestId)}`,
          /status : \d+/i.test(outcome.message)
            ? `  the function answered with that status: look up the error code in its log line (Log Service) or replay the callback locally (npm run simulate)`
            : `  OSS could not get a valid reply from ${options.url}: is it the trigger URL, public, and answering within 5 s?`,
        ],
        exit: EXIT.callbackFailed,
      };
    case 'uploadFailed':
      return {
        lines: [
          `the upload to ${where} failed: ${outcome.code}${outcome.status !== undefined ? ` (${outcome.status})` : ''}: ${outcome.message}${req(outcome.ossRequestId)}`,
          `  check the credentials (ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET), the bucket name, and --region/--endpoint`,
        ],
        exit: EXIT.uploadFailed,
      };
  }
}

/**
 * ali-oss options for `--endpoint`. ali-oss addresses a bucket as `<bucket>.<endpoint host>`, except
 * for an IP address (then `Host: <bucket>.oss-<region>.aliyuncs.com`, which the local OSS reads). A
 * loopback name such as `localhost` would become `<bucket>.localhost`, which the system resolver may
 * not know: path-style (`sldEnable`, `/<bucket>/<key>`) instead, as the local OSS accepts.
 */
export function endpointOptions(endpoint: string): Record<string, unknown> {
  const host = new URL(endpoint).hostname;
  const loopbackName = host === 'localhost' || host.endsWith('.localhost');
  return { endpoint, secure: endpoint.startsWith('https:'), ...(loopbackName ? { sldEnable: true } : {}) };
}

/** ali-oss ships no types: the part of its client this script uses. */
interface AliOssClient {
  put(name: string, file: Buffer, options: { callback: { url: string; body: string; contentType?: string; customValue?: Record<string, string> } }): Promise<{ data?: unknown; res?: { status?: number; headers?: Record<string, string> } }>;
  delete(name: string): Promise<unknown>;
}

/** Uploads, reports, deletes. `log` gets each line; returns the exit status. */
export async function runSmoke(options: SmokeOptions, log: (line: string) => void): Promise<number> {
  const OSS = createRequire(import.meta.url)('ali-oss') as new (options: Record<string, unknown>) => AliOssClient;
  const { loadFunction } = await import('./functions.js');
  const { job } = await loadFunction(options.functionName);
  const client = new OSS({
    bucket: options.bucket,
    accessKeyId: options.credentials.accessKeyId,
    accessKeySecret: options.credentials.accessKeySecret,
    ...(options.credentials.securityToken ? { stsToken: options.credentials.securityToken } : {}),
    ...(options.endpoint ? endpointOptions(options.endpoint) : { region: options.region, secure: true }),
    timeout: options.timeoutMs,
  });
  log(`uploading oss://${options.bucket}/${options.key} (${options.content.length} bytes) with a callback to ${options.url} (${options.functionName}'s template)`);
  let outcome: SmokeOutcome;
  try {
    const result = await client.put(options.key, options.content, {
      callback: { url: options.url, body: `${job.template.form}&x:owner=\${x:owner}`, contentType: 'application/x-www-form-urlencoded', customValue: { owner: 'smoke-test' } },
    });
    outcome = { kind: 'ok', status: result.res?.status ?? 200, reply: result.data, ossRequestId: result.res?.headers?.['x-oss-request-id'] };
  } catch (error) {
    outcome = outcomeOfError(error);
  }
  const { lines, exit } = report(options, outcome);
  for (const line of lines) log(line);
  if (outcome.kind !== 'uploadFailed') {
    try {
      await client.delete(options.key);
      log(`deleted oss://${options.bucket}/${options.key}`);
    } catch (error) {
      log(`warning: could not delete oss://${options.bucket}/${options.key}: ${(error as Error).message}`);
    }
  }
  return exit;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const { functionNames } = await import('./functions.js');
  let options: SmokeOptions;
  try {
    options = parseSmokeArgs(argv, process.env, functionNames());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`smoke: ${error.message}\n\n${USAGE}\n`);
    process.exit(EXIT.usage);
  }
  try {
    process.exit(await runSmoke(options, (line) => process.stdout.write(`${line}\n`)));
  } catch (error) {
    // Not an upload failure (those are reported above): e.g. --function names a timer task.
    process.stderr.write(`smoke: ${(error as Error).message}\n`);
    process.exit(EXIT.usage);
  }
}
