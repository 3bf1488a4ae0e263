/**
 * `npm run send -- <function-name> [options]`: sends one signed test callback to the local server
 * (`npm start`) the way OSS would, signed with the development test key, and prints the reply.
 *
 *   --url <url>         where to send (default http://127.0.0.1:$PORT/<function-name>)
 *   --json              JSON body (callbackBodyType application/json) instead of form
 *   --bucket <name>     default examplebucket
 *   --object <key>      default uploads/hello world.txt
 *   --size <bytes>      default 1024
 *   --mime <type>       default text/plain
 *   --req-id <id>       OSS request id (default random; reuse one to see a duplicate)
 *   --var k=v           a custom variable x:k (repeatable)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fillTemplate } from '../shared/testing/fill.js';
import { signCallback } from '../shared/testing/sign.js';
import { loadFunction } from './functions.js';
import { DEV_KEYS_FILE } from './local-env.js';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    json: { type: 'boolean', default: false },
    bucket: { type: 'string', default: 'examplebucket' },
    object: { type: 'string', default: 'uploads/hello world.txt' },
    size: { type: 'string', default: '1024' },
    mime: { type: 'string', default: 'text/plain' },
    'req-id': { type: 'string' },
    var: { type: 'string', multiple: true, default: [] },
  },
});
const name = positionals[0];
if (!name) {
  process.stderr.write('usage: npm run send -- <function-name> [--json] [--object key] [--var k=v] [--url url]\n');
  process.exit(2);
}
const { job } = await loadFunction(name);
const url = new URL(opts.url ?? `http://127.0.0.1:${process.env.PORT ?? 9000}/${name}`);
const type = opts.json ? 'json' : 'form';

const custom = Object.fromEntries(
  (opts.var ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? [`x:${pair}`, ''] : [`x:${pair.slice(0, eq)}`, pair.slice(eq + 1)];
  }),
);
let template = type === 'json' ? job.template.json : job.template.form;
for (const key of Object.keys(custom)) {
  if (!template.includes(`\${${key}}`)) {
    template = type === 'json' ? `${template.slice(0, -1)},${JSON.stringify(key)}:\${${key}}}` : `${template}&${key}=\${${key}}`;
  }
}
const hex = (n: number) => randomBytes(n).toString('hex').toUpperCase();
const body = Buffer.from(
  fillTemplate(
    template,
    {
      bucket: opts.bucket,
      object: opts.object,
      etag: hex(16),
      size: Number(opts.size),
      mimeType: opts.mime,
      crc64: BigInt(`0x${hex(8)}`).toString(),
      contentMd5: randomBytes(16).toString('base64'),
      clientIp: '127.0.0.1',
      reqId: opts['req-id'] ?? hex(12),
      operation: 'PutObject',
      ...custom,
    },
    type,
  ),
);

const keys = JSON.parse(readFileSync(DEV_KEYS_FILE, 'utf8')) as Record<string, string>;
const keyUrl = Object.keys(keys)[0]!;
const privateKeyPem = readFileSync(join(DEV_KEYS_FILE, '..', 'dev-private.pem'), 'utf8');
const rawQuery = url.search === '' ? null : url.search.slice(1);
const signature = signCallback({ privateKeyPem, keyUrl, rawPath: url.pathname, rawQuery, body });

process.stderr.write(`POST ${url.href}\n${body.toString()}\n\n`);
const reply = await fetch(url, {
  signal: AbortSignal.timeout(5000), // OSS gives up after 5 s too
  method: 'POST',
  headers: {
    'content-type': type === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
    'user-agent': 'aliyun-oss-callback',
    'x-oss-request-id': hex(12),
    ...signature,
  },
  body,
}).catch((error: unknown) => {
  const cause = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
  process.stderr.write(`could not reach ${url.origin} (${cause}): is the local server running? Start it with \`npm start\`.\n`);
  process.exit(1);
});
process.stdout.write(`${reply.status} ${await reply.text()}\n`);
