/**
 * `npm run events`: (re)writes the example FC 3.0 HTTP trigger events of every function from
 * `functions/<name>/events/samples.json`, signed with the development test key.
 *
 * samples.json: { "<file>.json": { "type": "form" | "json", "path"?: "/", "query"?: "a=1",
 *                  "base64"?: true, "values": { "<OSS variable>": value, "x:<name>": value } } }
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillTemplate, withCustomVariables } from '../shared/testing/fill.js';
import { signCallback } from '../shared/testing/sign.js';
import { FUNCTIONS_DIR, functionNames, loadFunction } from './functions.js';
import { DEV_KEYS_FILE } from './local-env.js';

interface Sample {
  type: 'form' | 'json';
  path?: string;
  query?: string;
  base64?: boolean;
  values: Record<string, string | number>;
}

const keyUrl = Object.keys(JSON.parse(readFileSync(DEV_KEYS_FILE, 'utf8')) as object)[0]!;
const privateKeyPem = readFileSync(join(DEV_KEYS_FILE, '..', 'dev-private.pem'), 'utf8');
/** When the example events say FC received them (`time` and `timeEpoch` of requestContext). */
export const EVENT_TIME = '2026-11-20T08:00:00Z';

export async function writeEvents(name: string): Promise<string[]> {
  const dir = join(FUNCTIONS_DIR, name, 'events');
  const samplesFile = join(dir, 'samples.json');
  if (!existsSync(samplesFile)) return [];
  const { job } = await loadFunction(name);
  const samples = JSON.parse(readFileSync(samplesFile, 'utf8')) as Record<string, Sample>;
  const written: string[] = [];
  for (const [file, sample] of Object.entries(samples)) {
    const custom = Object.keys(sample.values).filter((k) => k.startsWith('x:'));
    const template = withCustomVariables(sample.type === 'json' ? job.template.json : job.template.form, custom, sample.type);
    const body = Buffer.from(fillTemplate(template, sample.values, sample.type));
    const rawPath = sample.path ?? '/';
    const query = sample.query ?? null;
    const signature = signCallback({ privateKeyPem, keyUrl, rawPath, rawQuery: query, body });
    const event = {
      version: 'v1',
      rawPath,
      body: sample.base64 ? body.toString('base64') : body.toString('utf8'),
      isBase64Encoded: sample.base64 === true,
      headers: {
        Authorization: signature.authorization,
        'Content-Length': String(body.length),
        'Content-Type': sample.type === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
        Date: 'Fri, 20 Nov 2026 08:00:00 GMT',
        'User-Agent': 'aliyun-oss-callback',
        'X-Oss-Bucket': String(sample.values.bucket ?? ''),
        'X-Oss-Pub-Key-Url': signature['x-oss-pub-key-url'],
        'X-Oss-Request-Id': String(sample.values.reqId ?? ''),
        'X-Oss-Signature-Version': '1.0',
        'X-Oss-Tag': 'CALLBACK',
      },
      queryParameters: query ? Object.fromEntries(new URLSearchParams(query)) : {},
      requestContext: {
        accountId: '1234567890123456',
        domainName: `${name}-abcdefghij.cn-hangzhou.fcapp.run`,
        domainPrefix: `${name}-abcdefghij`,
        http: {
          method: 'POST',
          path: decodeURIComponent(rawPath),
          protocol: 'HTTP/1.1',
          sourceIp: '100.104.12.34',
          userAgent: 'aliyun-oss-callback',
        },
        requestId: `1-673d9aa5-${file.replace(/\W/g, '').slice(0, 24).padEnd(24, '0')}`,
        // FC sends both; the function reads timeEpoch (stored as the record's received_at): keep them equal.
        time: EVENT_TIME,
        timeEpoch: String(Date.parse(EVENT_TIME)),
      },
    };
    writeFileSync(join(dir, file), `${JSON.stringify(event, null, 2)}\n`);
    written.push(join('functions', name, 'events', file));
  }
  return written;
}

if (process.argv[1]?.endsWith('events.ts')) {
  for (const name of functionNames()) {
    for (const file of await writeEvents(name)) process.stdout.write(`wrote ${file}\n`);
  }
}
