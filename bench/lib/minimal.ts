/**
 * The "minimal correct handler" the datastore and server benchmarks compare against: what any
 * correct record-upload handler must do at the least, written plainly for this one path.
 *
 * - verify the RSA-MD5 signature with a key parsed once (no key URL checks, no key resolution);
 * - decode the form body with `URLSearchParams` (no duplicate or `${…}` checks, no validation);
 * - one raw `INSERT … ON CONFLICT DO NOTHING RETURNING` (MySQL: `ON DUPLICATE KEY UPDATE`), in
 *   autocommit, on the same driver, writing the same row as record-upload does.
 *
 * It is not safe to deploy (it trusts the body's shapes and checks no bucket); it is the floor.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { uploads } from '../../functions/record-upload/index.js';
import type { CallbackRequest } from '../../shared/core/http.js';
import { callbackVersion, objectHash } from '../../shared/core/object-state.js';
import { stringToSign } from '../../shared/protocol/signature.js';
import { newId } from '../../shared/store/ids.js';
import { type Dialect, insertOncePlan } from '../../shared/store/sql.js';
import { benchKey } from './callbacks.js';

let key: KeyObject | undefined;

/** The public key to verify with (a server in another process than the signer); default: the bench key. */
export function useMinimalKey(publicKeyPem: string): void {
  key = createPublicKey(publicKeyPem);
}

/** The INSERT statement text (the same as the store's) and a way to turn a callback into its parameters. */
export function minimalStatement(dialect: Dialect): string {
  return insertOncePlan(dialect, uploads).query(sampleRow()).sql;
}

function sampleRow(): Record<string, unknown> {
  return { id: 'x', idempotencyKey: 'x', bucket: 'x', object: 'x', etag: 'x', size: 1, mimeType: null, imageWidth: null, imageHeight: null, imageFormat: null, crc64: null, contentMd5: null, vpcId: null, clientIp: 'x', ossRequestId: 'x', operation: 'x', custom: {}, receivedAt: new Date(), ...callbackVersion('x', 'x', new Date()) };
}

const int = (value: string | null): number | null => (value === null || value === '' ? null : Number(value));
const str = (value: string | null): string | null => (value === null || value === '' ? null : value);

/**
 * Handles one signed record-upload form callback: returns the INSERT's parameters, or throws when the
 * signature does not verify. `timestamp` encodes the receive time for the dialect.
 */
export function minimalParams(request: CallbackRequest, timestamp: (date: Date) => unknown): unknown[] {
  key ??= createPublicKey(benchKey().publicKeyPem);
  const signature = Buffer.from(request.headers.authorization ?? '', 'base64');
  if (!verify('md5', stringToSign(request.rawPath, request.rawQuery, request.body), key, signature)) throw new Error('bad signature');
  const f = new URLSearchParams(request.body.toString('utf8'));
  const bucket = f.get('bucket')!;
  const custom: Record<string, string> = {};
  for (const [name, value] of f) if (name.startsWith('x:')) custom[name.slice(2)] = value;
  const received = timestamp(new Date(request.receivedAt ?? Date.now()));
  return [
    newId(),
    `${bucket}/${f.get('reqId')}`,
    bucket,
    f.get('object'),
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
    received,
    // The object-state columns (shared/core/object-state.ts callbackVersion), as record-upload writes them.
    objectHash(bucket, f.get('object')!),
    received,
    'callback',
    null,
    null,
    null,
    received,
  ];
}
