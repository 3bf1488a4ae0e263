/**
 * The request signature of the FC 2.0 API (2016-08-15), exactly as `@alicloud/fc2` computes it
 * (lib/helper.js `composeStringToSign`, `Client.getSignature`), for the local FC API server that
 * checks it:
 *
 *   StringToSign = METHOD \n Content-MD5 \n Content-Type \n Date \n
 *                  (each x-fc-* header, name lower-cased, sorted: name:value \n)
 *                  /2016-08-15<path>                         (no query, except for /proxy/ paths:
 *                  \n + sorted "k=v" lines of the query, repeated keys expanded)
 *   Authorization = "FC " + AccessKeyId + ":" + base64(hmac-sha256(AccessKeySecret, StringToSign))
 *
 * The quirk: the client's Content-MD5 is the base64 of the md5 as a 32-character HEX STRING, not of
 * the 16-byte digest (`fc2ContentMd5`).
 */
import { createHash, createHmac } from 'node:crypto';

export function fc2ContentMd5(body: Buffer | string): string {
  return Buffer.from(createHash('md5').update(body).digest('hex'), 'utf8').toString('base64');
}

export function fc2StringToSign(
  method: string,
  path: string,
  headers: Readonly<Record<string, string | undefined>>,
  queries?: Readonly<Record<string, string | readonly string[]>> | null,
): string {
  const fcHeaders = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase().trim();
    if (lower.startsWith('x-fc-')) fcHeaders.set(lower, value);
  }
  const canonical = [...fcHeaders.keys()]
    .sort()
    .map((name) => `${name}:${fcHeaders.get(name)}\n`)
    .join('');
  let text = `${method}\n${headers['content-md5'] ?? ''}\n${headers['content-type'] ?? ''}\n${headers.date}\n${canonical}${path}`;
  if (queries) {
    const params: string[] = [];
    for (const [key, values] of Object.entries(queries)) {
      if (typeof values === 'string') params.push(`${key}=${values}`);
      else for (const value of values) params.push(`${key}=${value}`);
    }
    text += `\n${params.sort().join('\n')}`;
  }
  return text;
}

export function fc2Signature(accessKeySecret: string, stringToSign: string): string {
  return createHmac('sha256', accessKeySecret).update(stringToSign, 'utf8').digest('base64');
}

/** `FC <AccessKeyId>:<signature>` → its parts, or undefined. */
export function parseFc2Authorization(value: string | undefined): { accessKeyId: string; signature: string } | undefined {
  const match = /^FC ([^:\s]+):(\S+)$/.exec(value?.trim() ?? '');
  return match ? { accessKeyId: match[1]!, signature: match[2]! } : undefined;
}
