/**
 * The public keys callback signatures are checked with.
 *
 * OSS names its key in the `x-oss-pub-key-url` header, which is not signed: anyone can point it at
 * their own key. So the URL is checked strictly (`checkKeyUrl`), the well-known key is pinned (no
 * network), and any other key OSS may publish later is fetched once, over https, from OSS's own host.
 * Operators can add local keys (tests, development) through `trustedKeys` / `OSS_PUBLIC_KEYS_FILE`.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { raceAbort } from './abort.js';
import { CallbackError } from './errors.js';

export const OSS_KEY_HOST = 'gosspublic.alicdn.com';
export const PINNED_KEY_URL_PATH = '/callback_pub_key_v1.pem';

/** `https://gosspublic.alicdn.com/callback_pub_key_v1.pem`: 512-bit RSA, e = 65537. */
export const PINNED_PUBLIC_KEY_PEM = `-----BEGIN PUBLIC KEY-----
MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKs/JBGzwUB2aVht4crBx3oIPBLNsjGs
C0fTXv+nvlmklvkcolvpvXLTjaxUHR3W9LXxQ2EHXAJfCB+6H2YF1k8CAwEAAQ==
-----END PUBLIC KEY-----
`;

export const DEFAULT_KEY_FETCH_TIMEOUT_MS = 1500;
/** A PEM public key is well under 1 KB; anything much bigger is not one. */
export const MAX_KEY_RESPONSE_BYTES = 16 * 1024;

/**
 * OSS's key naming: `/callback_pub_key_v<version>.pem` (v1 is the key in use; a later one would be
 * v2, v3…). Only these paths are ever fetched, so the set of fetchable paths is finite
 * (MAX_KEY_VERSION of them) and every one has its own backoff: a stranger naming invented paths
 * cannot use up a shared budget and starve a real new key.
 */
export const MAX_KEY_VERSION = 99;
const KEY_PATH = /^\/callback_pub_key_v([1-9][0-9]?)\.pem$/;
const MAX_KEY_URL_LENGTH = 2048;
const LOCAL_KEYS_HINT = 'for local keys use OSS_PUBLIC_KEYS_FILE';

let pinnedKey: KeyObject | undefined;

/** The pinned OSS key, parsed on first use. */
export function pinnedPublicKey(): KeyObject {
  pinnedKey ??= createPublicKey(PINNED_PUBLIC_KEY_PEM);
  return pinnedKey;
}

function forbidden(url: string, reason: string): CallbackError {
  return new CallbackError('PublicKeyUrlForbidden', `public key URL ${JSON.stringify(url)} refused: ${reason}`);
}

/**
 * Checks a key URL from `x-oss-pub-key-url` and returns it parsed. Throws
 * `CallbackError('PublicKeyUrlForbidden')` unless it is `http(s)://gosspublic.alicdn.com/callback_pub_key_v<1-99>.pem`
 * with nothing else: no user info, port, query, fragment, backslash, percent-escape or non-ASCII.
 * The checks run on the raw text, so look-alikes that a URL parser would normalise are refused too.
 */
export function checkKeyUrl(url: string): URL {
  if (typeof url !== 'string' || url.length === 0) {
    throw new CallbackError('PublicKeyUrlForbidden', 'public key URL refused: it is empty');
  }
  if (url.length > MAX_KEY_URL_LENGTH) {
    throw new CallbackError('PublicKeyUrlForbidden', `public key URL refused: it is ${url.length} characters long`);
  }
  // Printable ASCII only: refuses unicode homoglyph hosts, and tabs/newlines that URL parsers drop.
  if (!/^[\x21-\x7e]+$/.test(url)) {
    throw forbidden(url, 'it contains spaces, control or non-ASCII characters (a look-alike host?)');
  }
  if (url.includes('\\')) throw forbidden(url, 'it contains a backslash');
  if (url.includes('%')) throw forbidden(url, 'it contains percent-escapes');
  const scheme = /^(https?):\/\//.exec(url);
  if (!scheme) {
    throw forbidden(url, `it must start with http:// or https:// (lower case), followed by ${OSS_KEY_HOST}`);
  }
  const rest = url.slice(scheme[0].length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    throw forbidden(url, `it has user info before "@": the real host is ${authority.slice(at + 1) || '(empty)'}`);
  }
  if (!authority.startsWith('[') && authority.includes(':')) {
    throw forbidden(url, 'it names an explicit port; the OSS key URL never does');
  }
  if (authority === `${OSS_KEY_HOST}.`) {
    throw forbidden(url, `the host has a trailing dot; write ${OSS_KEY_HOST}`);
  }
  if (authority !== OSS_KEY_HOST) {
    throw forbidden(
      url,
      `the key URL points at ${authority || '(no host)'}, not ${OSS_KEY_HOST}: a forged callback or a test key; ${LOCAL_KEYS_HINT}`,
    );
  }
  if (url.includes('?')) throw forbidden(url, 'it has a query string');
  if (url.includes('#')) throw forbidden(url, 'it has a fragment');
  const path = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  if (!KEY_PATH.test(path)) {
    throw forbidden(
      url,
      `its path must be OSS's key naming /callback_pub_key_v<1-${MAX_KEY_VERSION}>.pem, got ${JSON.stringify(path || '/')}; ${LOCAL_KEYS_HINT}`,
    );
  }
  // Second opinion from the WHATWG parser: it must agree with the raw-text checks above.
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw forbidden(url, 'it is not a valid URL');
  }
  if (
    parsed.hostname !== OSS_KEY_HOST ||
    parsed.port !== '' ||
    parsed.username !== '' ||
    parsed.password !== '' ||
    parsed.search !== '' ||
    parsed.hash !== '' ||
    parsed.pathname !== path ||
    (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
  ) {
    throw forbidden(url, 'it does not parse to the expected OSS key URL');
  }
  return parsed;
}

/**
 * Parses a PEM public key. Throws a plain `Error` naming the problem: not a `PUBLIC KEY` PEM (a
 * private key or certificate is refused, so secrets never end up in a key list), unparsable, or not RSA.
 */
export function parsePublicKeyPem(pem: unknown): KeyObject {
  if (typeof pem !== 'string') throw new Error(`expected a PEM string, got ${pem === null ? 'null' : typeof pem}`);
  if (/PRIVATE KEY-----/.test(pem)) throw new Error('this is a private key: list only public keys');
  if (!/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) {
    throw new Error('not a PEM public key (expected "-----BEGIN PUBLIC KEY-----")');
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new Error(`unparsable public key PEM (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new Error(`OSS signs with RSA, but this is a ${key.asymmetricKeyType ?? 'unknown'} key`);
  }
  return key;
}

export interface KeyResolver {
  /** The key for a (decoded) `x-oss-pub-key-url`; rejects with a `CallbackError`. */
  resolve(keyUrl: string, signal?: AbortSignal): Promise<KeyObject>;
  /**
   * The key `resolve` would give at once, without a promise (a trusted key, or a URL that already
   * resolved); undefined when `resolve` has to check, fetch or refuse. Optional: callers without it
   * await `resolve`.
   */
  cached?(keyUrl: string): KeyObject | undefined;
}

export type FetchPem = (url: string, signal: AbortSignal) => Promise<string>;

export interface KeyResolverOptions {
  /** Operator-supplied keys by exact URL (tests, local development). Any URL; never fetched. */
  trustedKeys?: Record<string, string>;
  /** Timeout for fetching a key that is not pinned. Default 1500 ms. */
  fetchTimeoutMs?: number;
  /** How to download a PEM; default `fetchPemOverHttps`. Only ever called with https URLs on the OSS host. */
  fetchPem?: FetchPem;
  /** After a failed fetch, requests naming that key fail fast for this long. Default 10 s. */
  failureBackoffMs?: number;
}

class FetchTimeout extends Error {}

function abortReason(signal: AbortSignal, what: string): CallbackError {
  const reason: unknown = signal.reason;
  if (reason instanceof CallbackError) return reason;
  return new CallbackError('DeadlineExceeded', `gave up waiting for ${what}: the request was aborted`, { cause: reason });
}


/** After a failed fetch of an unknown key, requests naming it fail fast for this long. */
export const FAILED_FETCH_BACKOFF_MS = 10_000;

export function createKeyResolver(options: KeyResolverOptions = {}): KeyResolver {
  const trusted = new Map(Object.entries(options.trustedKeys ?? {}));
  const trustedParsed = new Map<string, KeyObject>();
  const timeoutMs = options.fetchTimeoutMs ?? DEFAULT_KEY_FETCH_TIMEOUT_MS;
  const fetchPem = options.fetchPem ?? fetchPemOverHttps;
  const backoffMs = options.failureBackoffMs ?? FAILED_FETCH_BACKOFF_MS;
  const fetched = new Map<string, KeyObject>();
  const inFlight = new Map<string, Promise<KeyObject>>();
  // Unsigned requests choose the key URL, so unknown paths are rationed per path, never globally:
  // checkKeyUrl admits only MAX_KEY_VERSION paths, each fetched at most once at a time and, after
  // a failure, again only after the backoff. A stranger naming every invented version costs at
  // most MAX_KEY_VERSION small fetches per backoff period, and a real new key path is still
  // fetched: its own backoff is the only thing that can delay it. This map holds at most
  // MAX_KEY_VERSION entries.
  const failed = new Map<string, { at: number; error: CallbackError }>();
  // Key URLs that resolved to the pinned or a fetched key, by their exact text, so that the next
  // callback naming one skips the URL checks. checkKeyUrl admits two spellings (http, https) of
  // each of MAX_KEY_VERSION key paths: a bounded map.
  const accepted = new Map<string, KeyObject>();

  function trustedKey(url: string, pem: string): KeyObject {
    let key = trustedParsed.get(url);
    if (!key) {
      try {
        key = parsePublicKeyPem(pem);
      } catch (error) {
        throw new CallbackError(
          'PublicKeyUnavailable',
          `the trusted key configured for ${url} is unusable: ${(error as Error).message}`,
        );
      }
      trustedParsed.set(url, key);
    }
    return key;
  }

  async function download(httpsUrl: string): Promise<KeyObject> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new FetchTimeout(`timed out after ${timeoutMs} ms`);
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    });
    let pem: string;
    try {
      // Race the timeout too, in case a fetcher ignores its signal.
      pem = await Promise.race([fetchPem(httpsUrl, controller.signal), timeout]);
    } catch (error) {
      const cause = error instanceof FetchTimeout ? error.message : (error as Error)?.message ?? String(error);
      throw new CallbackError('PublicKeyUnavailable', `could not fetch the OSS public key ${httpsUrl}: ${cause}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
    try {
      return parsePublicKeyPem(pem);
    } catch (error) {
      throw new CallbackError(
        'PublicKeyUnavailable',
        `the OSS public key ${httpsUrl} is unusable: ${(error as Error).message}`,
      );
    }
  }

  return {
    cached(keyUrl: string): KeyObject | undefined {
      if (trusted.has(keyUrl)) return trustedParsed.get(keyUrl); // parsed on its first resolve
      return accepted.get(keyUrl);
    },
    async resolve(keyUrl: string, signal?: AbortSignal): Promise<KeyObject> {
      const trustedPem = trusted.get(keyUrl);
      if (trustedPem !== undefined) return trustedKey(keyUrl, trustedPem);
      const known = accepted.get(keyUrl);
      if (known) return known;
      const url = checkKeyUrl(keyUrl);
      const path = url.pathname;
      const ready = path === PINNED_KEY_URL_PATH ? pinnedPublicKey() : fetched.get(path);
      if (ready) {
        accepted.set(keyUrl, ready);
        return ready;
      }
      const failure = failed.get(path);
      if (failure && Date.now() - failure.at < backoffMs) throw failure.error;
      let pending = inFlight.get(path);
      if (!pending) {
        const httpsUrl = `https://${OSS_KEY_HOST}${path}`;
        pending = download(httpsUrl).then(
          (key) => {
            fetched.set(path, key);
            failed.delete(path);
            inFlight.delete(path);
            return key;
          },
          (error: unknown) => {
            inFlight.delete(path);
            if (error instanceof CallbackError) failed.set(path, { at: Date.now(), error });
            throw error;
          },
        );
        inFlight.set(path, pending);
      }
      return raceAbort(pending, signal, (aborted) => abortReason(aborted, `the public key ${keyUrl}`));
    },
  };
}

/**
 * The default `fetchPem`: GET over `node:https` (loaded on first use), status 200 only, no
 * redirects, at most 16 KB, aborted by `signal`.
 */
export async function fetchPemOverHttps(url: string, signal: AbortSignal, tls: { ca?: string } = {}): Promise<string> {
  if (!url.startsWith('https://')) throw new Error(`refusing to fetch a key over anything but https: ${url}`);
  const https = await import('node:https');
  signal.throwIfAborted();
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      request.destroy();
      reject(error);
    };
    const request = https.get(url, { signal, headers: { accept: 'application/x-pem-file, text/plain, */*' }, ...tls }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        fail(new Error(`HTTP status ${response.statusCode ?? 'unknown'}`));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      response.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > MAX_KEY_RESPONSE_BYTES) {
          fail(new Error(`the response is over ${MAX_KEY_RESPONSE_BYTES} bytes, not a PEM public key`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => {
        if (settled) return;
        settled = true;
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      response.on('error', (error) => fail(error));
      response.on('close', () => {
        if (!response.complete) fail(new Error('the connection closed mid-response'));
      });
    });
    request.on('error', (error) => {
      const reason: unknown = signal.aborted ? signal.reason : undefined;
      fail(reason instanceof Error ? reason : error);
    });
  });
}

/**
 * Reads the JSON file `OSS_PUBLIC_KEYS_FILE` points at: an object mapping key URL → PEM public key.
 * Throws a plain `Error` naming the file and the problem.
 */
export function loadTrustedKeysFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`OSS_PUBLIC_KEYS_FILE ${path} is unreadable: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`OSS_PUBLIC_KEYS_FILE ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new Error(`OSS_PUBLIC_KEYS_FILE ${path} must hold a JSON object mapping key URL to PEM public key`);
  }
  const keys: Record<string, string> = {};
  for (const [url, pem] of Object.entries(data)) {
    try {
      parsePublicKeyPem(pem);
    } catch (error) {
      throw new Error(`OSS_PUBLIC_KEYS_FILE ${path}: the key for ${JSON.stringify(url)} is unusable: ${(error as Error).message}`);
    }
    Object.defineProperty(keys, url, { value: pem, enumerable: true, writable: true, configurable: true });
  }
  return keys;
}
