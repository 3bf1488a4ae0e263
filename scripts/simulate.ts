/**
 * `npm run simulate -- …`: plays OSS's part in an upload with a callback, locally. The logic lives in
 * shared/testing/simulator/; this file is the command line. `--help` says everything.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEV_PUBLIC_KEYS_FILE,
  devSigningKey,
  type ObjectFacts,
  OPERATIONS,
  type Operation,
  type SigningKey,
  signingKeyFromFile,
  simulateUpload,
  type UploadResult,
  writeTrustedKeysFile,
} from '../shared/testing/simulator/index.js';
import { withCustomVariables } from '../shared/testing/fill.js';

const HELP = `npm run simulate -- [options]

Plays OSS's part in an upload with a callback: checks the callback parameters as OSS does, works out
the object's variables, fills in the body, signs and sends the callback as OSS does (its headers,
Host from callbackHost, ';'-separated URLs in order, 5 s each), and prints what the uploader gets:
the callback's JSON passed through (200) or 203 CallbackFailed with OSS's message.

Callback parameters, exactly as the uploader sends them:
  --callback <value>       the x-oss-callback value: base64 (as ali-oss and the other SDKs send it)
                           or the plain JSON; @path reads it from a file
  --callback-var <value>   the x-oss-callback-var value, the same ways
  --var name=value         a custom variable x:name (repeatable; like PostObject's form fields)
Or let the simulator write them for one of this project's functions:
  --function <name>        functions/<name>'s callbackBody template
  --json                   ... as callbackBodyType application/json (default: form)
  --url <callbackUrl>      default http://127.0.0.1:\${PORT:-9000}/<name>

The uploaded object:
  --file <path>            a local file: size, ETag, Content-MD5, CRC-64, MIME type (by extension)
                           and image info (PNG, JPEG, GIF, WebP) come from it
  --bucket <name>          default examplebucket
  --key <object key>       default: the file's name, or example.txt
  --size <bytes>           without --file (default 1024; hashes are then random)
  --mime <type>            the Content-Type the uploader sets (default: guessed from the key)
  --operation <name>       PutObject (default), PostObject or CompleteMultipartUpload
  --part-size <bytes>      CompleteMultipartUpload part size for the ETag (default 1048576)
  --client-ip <ip>         \${clientIp} (default 127.0.0.1)
  --vpc-id <id>            \${vpcId} (default empty)
  --req-id <id>            \${reqId} and x-oss-request-id (default random); reuse one to see a duplicate

Signing (OSS's key stays OSS's: the simulator signs with a local key pair):
  --private-key <pem>      default: the development key, test/fixtures/keys/dev-private.pem
  --key-url <url>          the x-oss-pub-key-url to announce (default: the development key's URL)
  --keys-file <path>       write {key URL: public PEM} here, for the functions' OSS_PUBLIC_KEYS_FILE
                           (default with --private-key: .data/simulator-public-keys.json). npm start
                           already trusts the development key.

Sending:
  --serve                  start the local server (npm start) trusting this key on a free port, send
                           the callback there, print, stop it: one command, nothing else running
  --to <origin>            connect to this origin instead of callbackUrl's host; the path and query
                           (which are signed) and the Host header are unchanged
  --oss <endpoint>         first store the file (--file, PutObject) in this OSS endpoint, the local OSS
                           emulator of npm start (http://127.0.0.1:9001), so that the server's object
                           check (OSS_VERIFY_OBJECTS=head) finds it; signed with LOCAL_FC_ACCESS_KEY_ID
                           / _SECRET (default: the local development pair)
  --timeout <ms>           per callback URL (default 5000, as OSS)
  --insecure               accept any TLS certificate for https callback URLs

Output:
  --output json            one JSON document on stdout instead of the report
  -v, --verbose            print every header sent and received

Unlike OSS, the simulator calls back private and loopback addresses (localhost, 127.0.0.1, 10.x,
192.168.x, ...): OSS refuses those callbackUrls with "Private address is forbidden to callback.",
and the simulator warns that it would. To test a deployed function, point --callback at its URL.

Exit status: 0 the uploader got 200; 1 203 CallbackFailed; 2 400 InvalidArgument or a usage error.

Examples:
  npm run simulate -- --serve --function record-upload --file photo.png
  npm run simulate -- --function record-upload --json --var owner=alice      (npm start running)
  npm run simulate -- --callback eyJjYWxsYmFja1VybCI6… --callback-var eyJ4Om… --file a.pdf
  npm run simulate -- --callback '{"callbackUrl":"http://127.0.0.1:9000/record-upload","callbackBody":"bucket=\${bucket}&object=\${object}"}' --key a.txt --size 12
`;

function usage(message: string): never {
  process.stderr.write(`${message}\n\nnpm run simulate -- --help  for the options\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      callback: { type: 'string' },
      'callback-var': { type: 'string' },
      var: { type: 'string', multiple: true, default: [] },
      function: { type: 'string' },
      json: { type: 'boolean', default: false },
      url: { type: 'string' },
      file: { type: 'string' },
      bucket: { type: 'string', default: 'examplebucket' },
      key: { type: 'string' },
      size: { type: 'string' },
      mime: { type: 'string' },
      operation: { type: 'string', default: 'PutObject' },
      'part-size': { type: 'string' },
      'client-ip': { type: 'string' },
      'vpc-id': { type: 'string' },
      'req-id': { type: 'string' },
      'private-key': { type: 'string' },
      'key-url': { type: 'string' },
      'keys-file': { type: 'string' },
      serve: { type: 'boolean', default: false },
      to: { type: 'string' },
      oss: { type: 'string' },
      timeout: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      output: { type: 'string' },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  });
} catch (error) {
  usage((error as Error).message);
}
const opts = parsed.values;
if (opts.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function fromFileOrValue(value: string | undefined): string | undefined {
  return value?.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
}

function integerOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) usage(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

// ------------------------------------------------------------------------------ callback parameters

let callback = fromFileOrValue(opts.callback);
/** The callback parameter of --function, for a server at `origin` (unless --url says where). */
let functionCallback: ((origin: string) => string) | undefined;
if (opts.function) {
  if (callback) usage('give either --callback or --function, not both');
  const { loadFunction } = await import('./functions.js');
  const { job } = await loadFunction(opts.function);
  // Each --var joins the template too, as an uploader would add `&x:name=${x:name}` for it.
  const body = withCustomVariables(
    opts.json ? job.template.json : job.template.form,
    (opts.var ?? []).map((pair) => `x:${pair.split('=')[0]!.replace(/^x:/, '')}`),
    opts.json ? 'json' : 'form',
  );
  functionCallback = (origin) => {
    const json = {
      callbackUrl: opts.url ?? `${origin}/${job.name}`,
      callbackBody: body,
      ...(opts.json ? { callbackBodyType: 'application/json' } : {}),
    };
    return Buffer.from(JSON.stringify(json)).toString('base64'); // as an SDK sends it
  };
  callback = functionCallback(`http://127.0.0.1:${process.env.PORT ?? 9000}`);
}
if (!callback) usage('no callback parameters: give --callback <x-oss-callback value> or --function <name>');
if (!OPERATIONS.includes(opts.operation as Operation)) usage(`--operation must be one of ${OPERATIONS.join(', ')}`);
const vars: Record<string, string> = {};
for (const pair of opts.var ?? []) {
  const eq = pair.indexOf('=');
  vars[eq < 0 ? pair : pair.slice(0, eq)] = eq < 0 ? '' : pair.slice(eq + 1);
}

// ------------------------------------------------------------------------------------------ signing

let key: SigningKey;
let keysFile: string;
if (opts['private-key']) {
  key = signingKeyFromFile(opts['private-key'], opts['key-url'] ?? 'http://127.0.0.1/oss-callback-simulator-key.pem');
  keysFile = resolve(opts['keys-file'] ?? '.data/simulator-public-keys.json');
  writeTrustedKeysFile(keysFile, key);
} else {
  key = devSigningKey();
  if (opts['key-url']) key = { ...key, keyUrl: opts['key-url'] };
  keysFile = opts['keys-file'] ? resolve(opts['keys-file']) : DEV_PUBLIC_KEYS_FILE;
  if (opts['keys-file'] || opts['key-url']) writeTrustedKeysFile(keysFile, key);
}

// ------------------------------------------------------------------------------------------ sending

const root = resolve(import.meta.dirname, '..');
let server: ChildProcess | undefined;
let to = opts.to;

async function startServer(): Promise<string> {
  server = spawn(process.execPath, ['--import', 'tsx', 'scripts/serve.ts'], {
    cwd: root,
    // The simulated objects exist in no OSS the server could ask: the object check is off for this
    // server unless OSS_VERIFY_OBJECTS says otherwise (with the local OSS emulator, it can be on).
    env: { ...process.env, PORT: '0', OSS_EMULATOR_PORT: '0', OSS_PUBLIC_KEYS_FILE: keysFile, OSS_CALLBACK_LOG: opts.verbose ? 'stderr' : 'off', OSS_VERIFY_OBJECTS: process.env.OSS_VERIFY_OBJECTS ?? 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let banner = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`the local server did not start:\n${banner}`)), 30_000);
    server!.stderr!.on('data', (chunk: Buffer) => {
      if (opts.verbose) process.stderr.write(chunk);
      banner += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(banner);
      if (match && banner.includes('GET ')) {
        clearTimeout(timer);
        resolvePromise(match[1]!);
      }
    });
    server!.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local server exited (${code}):\n${banner}`));
    });
  });
}

async function stopServer(): Promise<void> {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((done) => server!.once('exit', done));
  server.kill('SIGTERM');
  await exited;
}

/** PutObject of `--file` into the OSS endpoint of `--oss` (V4-signed, as an SDK uploads), before the callback. */
async function storeInLocalOss(endpoint: string): Promise<void> {
  if (!opts.file) usage('--oss stores the file in OSS before calling back: give --file');
  if (opts.operation !== 'PutObject') usage('--oss stores the file with PutObject: leave --operation out');
  const { objectFacts } = await import('../shared/testing/simulator/object.js');
  const { signRequestV4, encodeKeyPath } = await import('../shared/protocol/oss-v4.js');
  const { DEFAULT_CREDENTIALS } = await import('../shared/testing/oss-emulator/index.js');
  const facts = await objectFacts({ bucket: opts.bucket!, key: opts.key, file: opts.file, mimeType: opts.mime });
  const region = process.env.FC_REGION?.trim() || 'cn-hangzhou';
  const credentials = process.env.LOCAL_FC_ACCESS_KEY_ID && process.env.LOCAL_FC_ACCESS_KEY_SECRET ? { accessKeyId: process.env.LOCAL_FC_ACCESS_KEY_ID, accessKeySecret: process.env.LOCAL_FC_ACCESS_KEY_SECRET } : DEFAULT_CREDENTIALS;
  const bytes = readFileSync(opts.file);
  const headers = signRequestV4({ method: 'PUT', bucket: facts.bucket, key: facts.key, region, credentials, at: new Date(), headers: { 'content-type': facts.mimeType } });
  const url = `${endpoint.replace(/\/+$/, '')}/${encodeURIComponent(facts.bucket)}/${encodeKeyPath(facts.key)}`; // path-style
  let response: Response;
  try {
    response = await fetch(url, { method: 'PUT', headers, body: bytes });
  } catch (error) {
    throw new Error(`--oss ${endpoint}: the local OSS did not answer (${(error as Error).message}); is npm start running (OSS_EMULATOR_PORT)?`);
  }
  if (response.status !== 200) throw new Error(`--oss ${endpoint}: PutObject ${facts.bucket}/${facts.key} answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
  const etag = response.headers.get('etag')?.replace(/"/g, '');
  if (etag?.toUpperCase() !== facts.etag.toUpperCase()) throw new Error(`--oss ${endpoint}: OSS stored ETag ${etag}, the simulator computed ${facts.etag}`);
  if (opts.output !== 'json') process.stdout.write(`stored ${facts.bucket}/${facts.key} in ${endpoint} (ETag ${etag})\n`);
}

let result: UploadResult;
try {
  if (opts.oss) await storeInLocalOss(opts.oss);
  if (opts.serve) {
    if (to) usage('give either --serve or --to, not both');
    const served = await startServer();
    // --function without --url: the callbackUrl is the started server's own (the one printed is
    // the one used). Otherwise the given callbackUrl is kept and only the connection goes there.
    if (functionCallback && !opts.url) callback = functionCallback(served);
    else to = served;
  }
  result = await simulateUpload({
    callback,
    callbackVar: fromFileOrValue(opts['callback-var']),
    vars,
    object: {
      bucket: opts.bucket!,
      key: opts.key,
      file: opts.file,
      size: integerOption('size', opts.size),
      mimeType: opts.mime,
      operation: opts.operation as Operation,
      partSize: integerOption('part-size', opts['part-size']),
    },
    clientIp: opts['client-ip'],
    vpcId: opts['vpc-id'],
    reqId: opts['req-id'],
    key,
    timeoutMs: integerOption('timeout', opts.timeout),
    to,
    insecure: opts.insecure,
  });
} catch (error) {
  await stopServer();
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(2);
}
await stopServer();

// ------------------------------------------------------------------------------------------- output

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 203: 'Non-Authoritative Information', 400: 'Bad Request' };

function describeObject(o: ObjectFacts): string {
  const image = o.image ? `, image ${o.image.width}x${o.image.height} ${o.image.format}` : '';
  return `${o.bucket}/${o.key}: ${o.size} bytes, ${o.mimeType}, etag ${o.etag}, crc64 ${o.crc64}${o.contentMd5 ? `, Content-MD5 ${o.contentMd5}` : ''}${image}${o.source === 'declared' ? ' (declared: hashes are random)' : ''}`;
}

if (opts.output === 'json') {
  process.stdout.write(
    `${JSON.stringify(
      {
        outcome: result.outcome,
        uploader: result.uploader,
        error: result.error,
        object: result.object,
        custom: result.custom,
        body: result.body,
        keysFile,
        attempts: result.attempts.map((a) => ({
          url: a.url.text,
          target: a.request.target,
          host: a.request.headers.host,
          result: a.transport.kind === 'reply' ? { status: a.transport.status, body: a.transport.body?.toString('utf8') } : { kind: a.transport.kind },
          verdict: a.verdict.ok ? { ok: true } : { ok: false, message: a.verdict.message, reason: a.verdict.reason },
        })),
        warnings: result.warnings,
      },
      null,
      2,
    )}\n`,
  );
} else {
  const out: string[] = [];
  if (result.params) out.push(`callback: ${JSON.stringify(result.params.json)}`);
  if (Object.keys(result.custom).length > 0) out.push(`custom variables: ${JSON.stringify(result.custom)}`);
  if (result.object) out.push(`object: ${describeObject(result.object)}`);
  for (const warning of result.warnings) out.push(`warning: ${warning}`);
  if (key.keyUrl !== devSigningKey().keyUrl || opts['private-key']) out.push(`signed with ${key.keyUrl}; the functions must trust it: OSS_PUBLIC_KEYS_FILE=${keysFile}`);
  for (const attempt of result.attempts) {
    const { request, transport, verdict } = attempt;
    const where = to ? `${to}${request.target}` : `${attempt.url.protocol}//${attempt.url.hostname}:${attempt.url.port}${request.target}`;
    out.push('', `→ POST ${where}   (Host: ${request.headers.host})`);
    const shown = opts.verbose ? Object.entries(request.headers) : Object.entries(request.headers).filter(([k]) => k === 'content-type');
    for (const [name, value] of shown) out.push(`  ${name}: ${value}`);
    out.push(`  ${request.body.toString('utf8')}`);
    if (transport.kind === 'reply') {
      out.push(`← ${transport.status} in ${transport.durationMs} ms${transport.body ? `: ${transport.body.toString('utf8').slice(0, 2000)}` : ' (body not read)'}`);
      if (opts.verbose) for (const [name, value] of Object.entries(transport.headers)) out.push(`  ${name}: ${String(value)}`);
    } else {
      out.push(`← ${transport.kind} after ${transport.durationMs} ms`);
    }
    out.push(verdict.ok ? '  OSS accepts this reply' : `  OSS: ${verdict.message} (${verdict.reason})`);
  }
  const u = result.uploader;
  if (result.outcome === 'invalid-argument') out.push('OSS refuses the callback parameters: nothing is uploaded.');
  out.push('', 'The uploader gets:', `HTTP/1.1 ${u.status} ${STATUS_TEXT[u.status] ?? ''}`);
  for (const [name, value] of Object.entries(u.headers)) out.push(`${name}: ${value}`);
  out.push('', u.body.trimEnd(), '');
  process.stdout.write(out.join('\n'));
}
process.exit(result.outcome === 'ok' ? 0 : result.outcome === 'callback-failed' ? 1 : 2);
