/**
 * `npm run events`: (re)writes the example FC 3.0 HTTP trigger events of every function from
 * `functions/<name>/events/samples.json`, signed with the development test key.
 *
 * samples.json: { "<file>.json": { "type": "form" | "json", "path"?: "/", "query"?: "a=1",
 *                  "base64"?: true, "values": { "<OSS variable>": value, "x:<name>": value } } }
 *
 * It also writes the FC OSS trigger events of the same upload (the first sample): `oss-put.json`
 * (or `oss-post.json` / `oss-multipart.json`, after the sample's operation) and `oss-delete.json`,
 * in the shape of the published FC OSS trigger samples (test/fixtures/oss-events/).
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
  const first = Object.values(samples)[0];
  if (first) {
    for (const [file, event] of Object.entries(ossEvents(first.values))) {
      writeFileSync(join(dir, file), `${JSON.stringify(event, null, 2)}\n`);
      written.push(join('functions', name, 'events', file));
    }
  }
  return written;
}

const OSS_EVENT_FILES: Record<string, string> = { PutObject: 'oss-put.json', PostObject: 'oss-post.json', CompleteMultipartUpload: 'oss-multipart.json' };

/**
 * The FC OSS trigger events of one sample upload: its ObjectCreated event (same bucket, key, ETag,
 * size and request id as the callback) and an ObjectRemoved:DeleteObject of the same object a
 * minute later. OSS request ids start with the request's Unix time in hex; eventTime follows it.
 */
export function ossEvents(values: Sample['values']): Record<string, object> {
  const bucket = String(values.bucket);
  const key = String(values.object);
  const etag = String(values.etag);
  const size = Number(values.size);
  const reqId = String(values.reqId);
  const operation = String(values.operation ?? (etag.includes('-') ? 'CompleteMultipartUpload' : 'PutObject'));
  const created = OSS_EVENT_FILES[operation] ? operation : 'PutObject';
  const seconds = Number.parseInt(reqId.slice(0, 8), 16);
  const record = (eventName: string, requestId: string, at: number, object: object) => ({
    eventName,
    eventSource: 'acs:oss',
    eventTime: new Date(at * 1000).toISOString(),
    eventVersion: '1.0',
    oss: {
      bucket: { arn: `acs:oss:cn-hangzhou:1234567890123456:${bucket}`, name: bucket, ownerIdentity: '1234567890123456', virtualBucket: '' },
      object,
      ossSchemaVersion: '1.0',
      ruleId: '9adac8e253828f4f7c0466d941fa3db81161a5c2',
    },
    region: 'cn-hangzhou',
    requestParameters: { sourceIPAddress: String(values.clientIp ?? '203.0.113.7') },
    responseElements: { requestId },
    userIdentity: { principalId: '1234567890123456' },
  });
  const meta = values.mimeType ? { objectMeta: { mimeType: String(values.mimeType) } } : {};
  const deleteId = `${(seconds + 60).toString(16).toUpperCase()}${reqId.slice(8)}`;
  return {
    [OSS_EVENT_FILES[created]!]: { events: [record(`ObjectCreated:${created}`, reqId, seconds, { deltaSize: size, eTag: etag, key, ...meta, size })] },
    'oss-delete.json': { events: [record('ObjectRemoved:DeleteObject', deleteId, seconds + 60, { deltaSize: -size, eTag: etag, key, size })] },
  };
}

if (process.argv[1]?.endsWith('events.ts')) {
  for (const name of functionNames()) {
    for (const file of await writeEvents(name)) process.stdout.write(`wrote ${file}\n`);
  }
}
