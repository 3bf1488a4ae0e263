/**
 * The PostObject policy (V4) and the presigned PUT for one upload. Everything the uploader could
 * change is pinned:
 *  - `["eq","$key",key]`: one key, chosen here, under `<prefix>/<owner>/`;
 *  - `["content-length-range",1,maxBytes]`: no empty objects, nothing above the limit;
 *  - `["eq","$Content-Type",contentType]`: the type that was checked against the job's policy;
 *  - `{"callback": <base64>}`: the callback (URL with the upload token, body template, body type).
 *    Without this condition OSS would accept a form without the callback, or with another one;
 *  - `["eq","$x-oss-forbid-overwrite","true"]`: a second upload with the same policy to the same key
 *    fails with 409 FileAlreadyExists (ignored by OSS on versioned buckets);
 *  - bucket, `success_action_status`, and the V4 fields (`x-oss-signature-version`,
 *    `x-oss-credential`, `x-oss-date`, `x-oss-security-token` with STS), as V4 requires.
 * The presigned PUT carries the same callback as the signed `callback` query parameter, with
 * Content-Type, the exact Content-Length and x-oss-forbid-overwrite as signed headers.
 */
import { presignV4, signPostPolicyV4, V4_ALGORITHM, v4Credential, v4Dates, type V4Credentials } from '../../shared/protocol/oss-v4.js';

export interface UploadPlan {
  bucket: string;
  key: string;
  region: string;
  contentType: string;
  /** The declared size (the presigned PUT pins it exactly). */
  size: number;
  maxBytes: number;
  callback: { callbackUrl: string; callbackBody: string; callbackBodyType: string };
  /** Custom variables (`x:<name>` form fields / callback-var). */
  variables: Record<string, string>;
  credentials: V4Credentials;
  now: Date;
  ttlSeconds: number;
}

export interface SignedUpload {
  /** Form fields in order; the file goes last. */
  fields: Record<string, string>;
  expiresAt: Date;
  /** The policy document, for tests and logs. */
  policy: { expiration: string; conditions: unknown[] };
  put: { pathAndQuery: string; objectPathAndQuery: string; headers: Record<string, string> };
}

export function signUpload(plan: UploadPlan): SignedUpload {
  const { day, stamp } = v4Dates(plan.now);
  const expiresAt = new Date(Math.floor(plan.now.getTime() / 1000) * 1000 + plan.ttlSeconds * 1000);
  const credential = v4Credential(plan.credentials.accessKeyId, day, plan.region);
  const callback = Buffer.from(JSON.stringify(plan.callback)).toString('base64');
  const policy = {
    expiration: expiresAt.toISOString(),
    conditions: [
      { bucket: plan.bucket },
      ['eq', '$key', plan.key],
      ['content-length-range', 1, plan.maxBytes],
      ['eq', '$Content-Type', plan.contentType],
      { callback },
      ['eq', '$success_action_status', '200'],
      ['eq', '$x-oss-forbid-overwrite', 'true'],
      { 'x-oss-signature-version': V4_ALGORITHM },
      { 'x-oss-credential': credential },
      { 'x-oss-date': stamp },
      ...(plan.credentials.securityToken ? [{ 'x-oss-security-token': plan.credentials.securityToken }] : []),
    ],
  };
  const policyBase64 = Buffer.from(JSON.stringify(policy)).toString('base64');
  const fields: Record<string, string> = {
    key: plan.key,
    policy: policyBase64,
    'x-oss-signature-version': V4_ALGORITHM,
    'x-oss-credential': credential,
    'x-oss-date': stamp,
    'x-oss-signature': signPostPolicyV4(policyBase64, plan.credentials.accessKeySecret, day, plan.region),
    ...(plan.credentials.securityToken ? { 'x-oss-security-token': plan.credentials.securityToken } : {}),
    success_action_status: '200',
    'x-oss-forbid-overwrite': 'true',
    'Content-Type': plan.contentType,
    callback,
    ...Object.fromEntries(Object.entries(plan.variables).map(([name, value]) => [`x:${name}`, value])),
  };
  const variables = Object.fromEntries(Object.entries(plan.variables).map(([name, value]) => [`x:${name}`, value]));
  const put = presignV4({
    method: 'PUT',
    bucket: plan.bucket,
    key: plan.key,
    region: plan.region,
    credentials: plan.credentials,
    at: plan.now,
    expiresSeconds: plan.ttlSeconds,
    queries: {
      callback,
      ...(Object.keys(variables).length > 0 ? { 'callback-var': Buffer.from(JSON.stringify(variables)).toString('base64') } : {}),
    },
    headers: { 'content-type': plan.contentType, 'content-length': String(plan.size), 'x-oss-forbid-overwrite': 'true' },
  });
  return { fields, expiresAt, policy, put };
}
