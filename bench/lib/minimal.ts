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
import { createPublicKey, type KeyObject } from 'node:crypto';
import { uploads } from '../../functions/record-upload/index.js';
import type { CallbackRequest } from '../../shared/core/http.js';
import { type Dialect, insertOncePlan } from '../../shared/store/sql.js';
import { benchKey } from './callbacks.js';
import { minimalParamsWithKey } from './minimal-params.js';

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
  return { id: 'x', idempotencyKey: 'x', bucket: 'x', object: 'x', etag: 'x', size: 1, mimeType: null, imageWidth: null, imageHeight: null, imageFormat: null, crc64: null, contentMd5: null, vpcId: null, clientIp: 'x', ossRequestId: 'x', operation: 'x', custom: {}, receivedAt: new Date() };
}

/**
 * Handles one signed record-upload form callback: returns the INSERT's parameters, or throws when the
 * signature does not verify. `timestamp` encodes the receive time for the dialect.
 */
export function minimalParams(request: CallbackRequest, timestamp: (date: Date) => unknown): unknown[] {
  key ??= createPublicKey(benchKey().publicKeyPem);
  return minimalParamsWithKey(key, request, timestamp);
}
