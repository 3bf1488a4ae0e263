/**
 * The per-callback work of the minimal correct handler (bench/lib/minimal.ts), with only light
 * imports, so that a bundle of it (bench/servers/minimal-cold.ts, the cold-start baseline) holds no
 * more than a minimal handler would: node:crypto, the string to sign, and an id generator.
 */
import { createHash, type KeyObject, verify } from 'node:crypto';
import type { CallbackRequest } from '../../shared/core/http.js';
import { stringToSign } from '../../shared/protocol/signature.js';
import { newId } from '../../shared/store/ids.js';

const int = (value: string | null): number | null => (value === null || value === '' ? null : Number(value));
const str = (value: string | null): string | null => (value === null || value === '' ? null : value);

/**
 * Handles one signed record-upload form callback: verifies the RSA-MD5 signature with `key`, decodes
 * the form with URLSearchParams and returns the INSERT's parameters (the row record-upload writes); throws when the signature does not
 * verify. `timestamp` encodes the receive time for the dialect.
 */
export function minimalParamsWithKey(key: KeyObject, request: CallbackRequest, timestamp: (date: Date) => unknown): unknown[] {
  const signature = Buffer.from(request.headers.authorization ?? '', 'base64');
  if (!verify('md5', stringToSign(request.rawPath, request.rawQuery, request.body), key, signature)) throw new Error('bad signature');
  const f = new URLSearchParams(request.body.toString('utf8'));
  const bucket = f.get('bucket')!;
  const object = f.get('object')!;
  const receivedAt = timestamp(new Date(request.receivedAt ?? Date.now()));
  const custom: Record<string, string> = {};
  for (const [name, value] of f) if (name.startsWith('x:')) custom[name.slice(2)] = value;
  return [
    newId(),
    `${bucket}/${f.get('reqId')}`,
    bucket,
    object,
    f.get('etag'),
    Number(f.get('size')),
    str(f.get('mimeType')),
    int(f.get('imageWidth')),
    int(f.get('imageHeight')),
    str(f.get('imageFormat')),
    str(f.get('crc64')),
    str(f.get('contentMd5')),
    str(f.get('vpcId')),
    f.get('clientIp'),
    f.get('reqId'),
    f.get('operation'),
    JSON.stringify(custom),
    receivedAt,
    // The version columns of a callback's row (shared/core/object-state.ts, callbackVersion):
    // object_hash, oss_created_at, oss_created_from, oss_removed_at, deleted_at, event_request_id, callback_at.
    createHash('sha256').update(`${bucket}/${object}`).digest('hex'),
    receivedAt,
    'callback',
    null,
    null,
    null,
    receivedAt,
  ];
}
