/**
 * An upload's callback, run after the object is stored (OSS stores first, then calls back), through
 * the simulator's own code: parameters checked as OSS checks them, body filled from the stored
 * object's facts, signed with the development key, `;`-separated URLs tried in order with 5 s each,
 * and OSS's verdict: the function's JSON (200) or 203 CallbackFailed.
 */
import {
  type CallbackParams,
  deliverCallback,
  type Delivered,
  objectFacts,
  type ObjectFacts,
  type Operation,
  parseCallback,
  parseCallbackVar,
  privateAddressWarnings,
  type SigningKey,
} from '../simulator/index.js';
import { checkCustomKey } from '../simulator/params.js';

export interface CallbackRequest {
  params: CallbackParams;
  custom: Record<string, string>;
}

/** Parses `x-oss-callback` / `x-oss-callback-var` (or the form's `callback` and `x:` fields). Throws the simulator's InvalidArgument. */
export function parseCallbackRequest(callback: string | undefined, callbackVar: string | undefined, formVars?: ReadonlyMap<string, string>): CallbackRequest | undefined {
  if (callback === undefined || callback === '') return undefined;
  const params = parseCallback(callback);
  const custom = parseCallbackVar(callbackVar);
  for (const [name, value] of formVars ?? []) {
    if (!name.startsWith('x:')) continue;
    checkCustomKey(name);
    custom[name] = value;
  }
  return { params, custom };
}

export interface StoredObject {
  bucket: string;
  key: string;
  /** The stored bytes. */
  file: string;
  mimeType: string;
  operation: Operation;
  partDigests?: readonly Buffer[];
}

/** The stored object's facts (ETag, CRC-64, Content-MD5, MIME type, image info) from its bytes. */
export function storedFacts(object: StoredObject): Promise<ObjectFacts> {
  return objectFacts({ bucket: object.bucket, key: object.key, file: object.file, mimeType: object.mimeType, operation: object.operation, partDigests: object.partDigests });
}

export interface RunCallbackInput {
  request: CallbackRequest;
  facts: ObjectFacts;
  operation: Operation;
  reqId: string;
  clientIp: string;
  key: SigningKey | undefined;
  region: string;
  requester: string;
  timeoutMs?: number;
  log: (line: Record<string, unknown>) => void;
}

export async function runCallback(input: RunCallbackInput): Promise<Delivered> {
  for (const warning of [...input.request.params.warnings, ...privateAddressWarnings(input.request.params, 'the local OSS')]) {
    input.log({ ossEmulator: 'callback', warning });
  }
  const delivered = await deliverCallback({
    params: input.request.params,
    custom: input.request.custom,
    object: input.facts,
    operation: input.operation,
    reqId: input.reqId,
    clientIp: input.clientIp,
    requester: input.requester,
    key: input.key,
    timeoutMs: input.timeoutMs,
    region: input.region,
  });
  input.log({
    ossEmulator: 'callback',
    requestId: input.reqId,
    urls: delivered.attempts.map((a) => a.url.text),
    status: delivered.uploader.status,
    ...(delivered.error ? { message: delivered.error.message } : {}),
  });
  return delivered;
}
