/**
 * PostObject's signed policy, as OSS checks it (reference B.2, B.4):
 *  - V1: `OSSAccessKeyId`, `policy`, `Signature` = base64(HMAC-SHA1(secret, policy));
 *    V4: `x-oss-signature-version`, `x-oss-credential`, `x-oss-date`, `x-oss-signature` =
 *    hex(HMAC-SHA256(V4 signing key, policy)). The `policy` field is signed verbatim.
 *  - `expiration` (ISO 8601) must be in the future: "Invalid according to Policy: Policy expired.";
 *  - every condition must hold: `{"field": "v"}` and `["eq", "$field", "v"]` (exact),
 *    `["starts-with", "$field", "prefix"]`, `["in"|"not-in", "$field", [...]]`,
 *    `["content-length-range", min, max]` (EntityTooSmall / EntityTooLarge), `{"bucket": …}`.
 * Form fields the policy does not mention are accepted, as OSS accepts them (its own SDK sample sends
 * `callback` and `x:` fields without conditions): pin the callback with `{"callback": "<base64>"}`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthContext } from './auth/request.js';
import { parseCredential, parseV4Date, V4_ALGORITHM, v4Signature } from './auth/v4.js';
import { ERRORS, OssError, signatureMismatch } from './xml.js';

export interface PostForm {
  /** Form fields by lower-case name (x: variables keep their case). */
  fields: ReadonlyMap<string, string>;
  bucket: string;
  /** The file's size in bytes. */
  size: number;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const conditionFailed = (condition: unknown) =>
  new OssError(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ${JSON.stringify(condition)}`);

const invalidPolicy = (detail: string) => new OssError(400, 'InvalidPolicyDocument', `Invalid Policy: ${detail}`);

/** Verifies the signature over the policy; returns false when the form carries no policy (anonymous). */
export function verifyPostSignature(form: PostForm, context: AuthContext): boolean {
  const f = form.fields;
  const policy = f.get('policy');
  if (f.get('x-oss-signature-version') !== undefined || f.get('x-oss-signature') !== undefined) {
    if (f.get('x-oss-signature-version') !== V4_ALGORITHM) {
      throw new OssError(400, 'InvalidArgument', 'Unsupported signature version.', { 'x-oss-signature-version': f.get('x-oss-signature-version') ?? '' });
    }
    const credentialText = f.get('x-oss-credential') ?? '';
    const date = f.get('x-oss-date') ?? '';
    const signature = f.get('x-oss-signature') ?? '';
    if (!policy || !credentialText || !date || !signature) {
      throw new OssError(400, 'InvalidArgument', 'Post form V4 requires policy, x-oss-credential, x-oss-date and x-oss-signature fields.');
    }
    const credential = parseCredential(credentialText, context);
    const time = parseV4Date(date);
    if (!Number.isFinite(time) || !date.startsWith(credential.day)) throw new OssError(400, 'InvalidArgument', 'Invalid x-oss-date.', { 'x-oss-date': date });
    if (time > context.now + 15 * 60 * 1000 || time < context.now - 7 * 24 * 3600 * 1000) throw ERRORS.skewed(date, new Date(context.now).toISOString());
    const expected = v4Signature(context.credentials.accessKeySecret, credential.day, credential.region, policy);
    if (!same(signature, expected)) throw signatureMismatch(credential.accessKeyId, signature, policy);
    return true;
  }
  const accessKeyId = f.get('ossaccesskeyid');
  const signature = f.get('signature');
  const present = [accessKeyId, policy, signature].filter((v) => v !== undefined).length;
  if (present === 0) return false;
  if (present < 3) throw new OssError(400, 'InvalidArgument', 'Post form V1 requires all of OSSAccessKeyId, policy and Signature.');
  if (accessKeyId !== context.credentials.accessKeyId) throw ERRORS.invalidAccessKeyId(accessKeyId!);
  const expected = createHmac('sha1', context.credentials.accessKeySecret).update(policy!, 'utf8').digest('base64');
  if (!same(signature!, expected)) throw signatureMismatch(accessKeyId!, signature!, policy!);
  return true;
}

function fieldValue(form: PostForm, name: string): string | undefined {
  const field = name.replace(/^\$/, '').toLowerCase();
  if (field === 'bucket') return form.bucket;
  return form.fields.get(field) ?? [...form.fields.entries()].find(([k]) => k.toLowerCase() === field)?.[1];
}

/** Decodes the policy and checks its expiration and every condition. */
export function checkPolicy(form: PostForm, now: number): void {
  const text = form.fields.get('policy');
  if (text === undefined) return;
  let policy: unknown;
  try {
    policy = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Policy is not a valid JSON document.');
  }
  if (typeof policy !== 'object' || policy === null) throw invalidPolicy('Policy is not a JSON object.');
  const { expiration, conditions } = policy as { expiration?: unknown; conditions?: unknown };
  if (typeof expiration !== 'string' || expiration === '') throw invalidPolicy('Policy missing expiration.');
  const expires = Date.parse(expiration);
  if (!Number.isFinite(expires)) throw invalidPolicy('Policy has an invalid expiration.');
  if (expires < now) throw new OssError(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.', { EC: '0006-00000213' });
  if (!Array.isArray(conditions)) throw invalidPolicy('Policy missing conditions.');
  for (const condition of conditions) checkCondition(form, condition);
}

function checkCondition(form: PostForm, condition: unknown): void {
  if (Array.isArray(condition)) {
    const [mode, a, b] = condition as unknown[];
    const op = typeof mode === 'string' ? mode.toLowerCase() : '';
    if (op === 'content-length-range') {
      if (typeof a !== 'number' || typeof b !== 'number' || a < 0 || b < a) throw invalidPolicy('Invalid content-length-range condition.');
      if (form.size > b) throw new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.', { MaxSizeAllowed: String(b), ProposedSize: String(form.size), EC: '0006-00000003' });
      if (form.size < a) throw new OssError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.', { MinSizeAllowed: String(a), ProposedSize: String(form.size), EC: '0006-00000004' });
      return;
    }
    if (typeof a !== 'string' || !a.startsWith('$')) throw invalidPolicy(`Invalid condition ${JSON.stringify(condition)}: the field must be "$name".`);
    const value = fieldValue(form, a);
    switch (op) {
      case 'eq':
        if (typeof b !== 'string') throw invalidPolicy(`Invalid condition ${JSON.stringify(condition)}.`);
        if (value !== b) throw conditionFailed(condition);
        return;
      case 'starts-with':
        if (typeof b !== 'string') throw invalidPolicy(`Invalid condition ${JSON.stringify(condition)}.`);
        if (value === undefined || !value.startsWith(b)) throw conditionFailed(condition);
        return;
      case 'in':
      case 'not-in':
        if (!Array.isArray(b)) throw invalidPolicy(`Invalid condition ${JSON.stringify(condition)}: in/not-in need a list.`);
        if ((op === 'in') !== (value !== undefined && b.includes(value))) throw conditionFailed(condition);
        return;
      default:
        throw invalidPolicy(`Invalid condition ${JSON.stringify(condition)}: unknown match mode.`);
    }
  }
  if (typeof condition === 'object' && condition !== null) {
    const entries = Object.entries(condition);
    if (entries.length !== 1) throw invalidPolicy('Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.');
    const [name, expected] = entries[0]!;
    if (fieldValue(form, name) !== expected) throw conditionFailed(condition);
    return;
  }
  throw invalidPolicy(`Invalid condition ${JSON.stringify(condition)}.`);
}
