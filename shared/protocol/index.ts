/** The OSS upload-callback protocol core: signature, keys, body decoding, variables, replies. */
export { CallbackError, configurationError, ERROR_STATUS, isCallbackError } from './errors.js';
export type { CallbackErrorOptions, CoreErrorCode } from './errors.js';
export { formDecode, percentDecodeBytes } from './path.js';
export {
  checkKeyUrl,
  createKeyResolver,
  DEFAULT_KEY_FETCH_TIMEOUT_MS,
  FAILED_FETCH_BACKOFF_MS,
  fetchPemOverHttps,
  MAX_KEY_VERSION,
  loadTrustedKeysFile,
  OSS_KEY_HOST,
  parsePublicKeyPem,
  PINNED_KEY_URL_PATH,
  PINNED_PUBLIC_KEY_PEM,
  pinnedPublicKey,
} from './keys.js';
export type { FetchPem, KeyResolver, KeyResolverOptions } from './keys.js';
export { checkCallbackSignature, decodeBase64Strict, stringToSign, verifyCallbackSignature } from './signature.js';
export type { SignedRequest, VerifiedSignature } from './signature.js';
export { decodeBody, FORM_CONTENT_TYPE, JSON_CONTENT_TYPE, MAX_JSON_DEPTH } from './body.js';
export type { DecodedBody } from './body.js';
export { callbackBodyTemplate, fastParser, oss, variableOf } from './variables.js';
export type { FastParser } from './variables.js';
export { errorReply, jsonReply, MAX_REPLY_BYTES } from './reply.js';
