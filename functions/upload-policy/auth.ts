/**
 * The application's own sign-in: `Authorization: Bearer <JWT>`, verified with jose.
 *  - UPLOAD_JWT_SECRET: HS256 only (a shared secret of at least 32 bytes);
 *  - UPLOAD_JWKS_URL: RS256 or ES256 only, keys fetched from the JWKS URL and cached (jose's
 *    createRemoteJWKSet: cached, refetched at most every 30 s when an unknown `kid` appears).
 * The algorithms are pinned per key source, so `none` and HS/RS confusion are refused. `exp` and
 * `sub` are required; UPLOAD_JWT_ISSUER / UPLOAD_JWT_AUDIENCE are checked when set. `sub` is the owner.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { CallbackError } from '../../shared/index.js';

export const MIN_JWT_SECRET_BYTES = 32;
/** Owners become a key segment and a datastore value (128 characters at most). */
const OWNER = /^[A-Za-z0-9][A-Za-z0-9._@|:+=-]{0,127}$/;

export interface JwtSettings {
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

export type Verifier = (authorization: string | undefined) => Promise<string>;

const refuse = (code: 'TokenMissing' | 'TokenInvalid' | 'TokenExpired', message: string) =>
  new CallbackError(code, message, { status: 401 });

/** Builds the verifier once per configuration (the JWKS cache lives in it). */
export function createVerifier(settings: JwtSettings): Verifier {
  if (Boolean(settings.secret) === Boolean(settings.jwksUrl)) {
    throw new Error('set exactly one of UPLOAD_JWT_SECRET (HS256) and UPLOAD_JWKS_URL (RS256/ES256): how the application signs its sign-in tokens');
  }
  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (settings.secret) {
    if (Buffer.byteLength(settings.secret) < MIN_JWT_SECRET_BYTES) {
      throw new Error(`UPLOAD_JWT_SECRET must be at least ${MIN_JWT_SECRET_BYTES} bytes (HS256 wants a 256-bit key)`);
    }
    key = new TextEncoder().encode(settings.secret);
    algorithms = ['HS256'];
  } else {
    key = createRemoteJWKSet(new URL(settings.jwksUrl!), { timeoutDuration: 3000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
    algorithms = ['RS256', 'ES256'];
  }
  return async (authorization) => {
    const match = /^Bearer[ ]+([A-Za-z0-9_.~+/=-]+)\s*$/i.exec(authorization ?? '');
    if (!authorization) throw refuse('TokenMissing', 'no Authorization header: send "Authorization: Bearer <the sign-in JWT>"');
    if (!match) throw refuse('TokenMissing', 'the Authorization header is not "Bearer <JWT>"');
    let sub: unknown;
    try {
      const { payload } = await jwtVerify(match[1]!, key as Uint8Array, {
        algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 5,
        ...(settings.issuer ? { issuer: settings.issuer } : {}),
        ...(settings.audience ? { audience: settings.audience } : {}),
      });
      sub = payload.sub;
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw refuse('TokenExpired', 'the sign-in token has expired: sign in again');
      if (error instanceof errors.JWKSTimeout || error instanceof errors.JOSEError && error.code === 'ERR_JWKS_INVALID') {
        throw new CallbackError('KeysUnavailable', `the signing keys at UPLOAD_JWKS_URL could not be read: ${(error as Error).message}`, { status: 503 });
      }
      const why = error instanceof errors.JOSEAlgNotAllowed
        ? `its algorithm is not ${algorithms.join(' or ')}`
        : error instanceof errors.JWTClaimValidationFailed
          ? `claim "${error.claim}" ${error.reason === 'missing' ? 'is missing' : 'does not match'} (${error.message})`
          : error instanceof errors.JWSSignatureVerificationFailed
            ? 'its signature does not verify: another key or secret signed it'
            : error instanceof errors.JWKSNoMatchingKey
              ? 'no key in UPLOAD_JWKS_URL matches its "kid"'
              : (error as Error).message;
      throw refuse('TokenInvalid', `the sign-in token is not valid: ${why}`);
    }
    if (typeof sub !== 'string' || !OWNER.test(sub)) {
      throw refuse('TokenInvalid', 'the sign-in token\'s "sub" is not a usable owner id (1-128 characters: letters, digits and . _ @ | : + = -, starting with a letter or digit)');
    }
    return sub;
  };
}
