/**
 * A request as the signature schemes see it: method, bucket, object key (decoded), the query (decoded
 * pairs in order, `''` for a key without a value) and the headers (lower-case names).
 */
export interface SignedRequest {
  method: string;
  bucket: string | undefined;
  /** The object key, decoded; `''` for a bucket-level request. */
  key: string;
  query: ReadonlyArray<readonly [string, string]>;
  headers: Readonly<Record<string, string>>;
}

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface AuthContext {
  credentials: Credentials;
  /** The emulated region (`cn-hangzhou`): what V4 credentials must name. */
  region: string;
  now: number;
}

export interface Authenticated {
  scheme: 'v1' | 'v4';
  via: 'header' | 'query';
  accessKeyId: string;
}

export function queryValue(request: SignedRequest, name: string): string | undefined {
  return request.query.find(([k]) => k === name)?.[1];
}

export function hasQuery(request: SignedRequest, name: string): boolean {
  return request.query.some(([k]) => k === name);
}
