/** Which scheme a request is signed with, and its verification: V1 or V4, header or query (presigned URL). */
import { ERRORS } from '../xml.js';
import { type AuthContext, type Authenticated, hasQuery, type SignedRequest } from './request.js';
import { verifyV1Header, verifyV1Query } from './v1.js';
import { V4_ALGORITHM, verifyV4Header, verifyV4Query } from './v4.js';

export function authenticate(request: SignedRequest, context: AuthContext): Authenticated {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    return authorization.trim().startsWith(V4_ALGORITHM) ? verifyV4Header(request, authorization, context) : verifyV1Header(request, authorization, context);
  }
  if (hasQuery(request, 'x-oss-signature')) return verifyV4Query(request, context);
  if (hasQuery(request, 'Signature') || hasQuery(request, 'OSSAccessKeyId')) return verifyV1Query(request, context);
  throw ERRORS.anonymous();
}

export type { Authenticated, AuthContext, Credentials, SignedRequest } from './request.js';
export { v1Signature, v1StringToSign } from './v1.js';
export { v4Signature, v4SigningKey, parseV4Date, V4_ALGORITHM } from './v4.js';
