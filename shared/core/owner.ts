/**
 * Owner binding: whose upload this is, for jobs that charge or attribute an upload to someone
 * (`defineJob({ owner: true, … })`). `x:owner` is written by the uploader, so it proves nothing. Each
 * job reads one setting, named after the job (`usage-quota` → USAGE_QUOTA_OWNER_FROM):
 *
 *  - `token`: the owner in the upload token (shared/core/upload-token.ts) that the upload-policy
 *    function issued for this bucket, key and job; it travels in the callback URL's query
 *    (`upload_token`), which OSS signs. Needs UPLOAD_TOKEN_SECRET. Use with browser/PostObject uploads.
 *  - `key`: the first capture group of <JOB>_OWNER_KEY_PATTERN (e.g. `^users/([^/]+)/`) on the
 *    object key, which OSS confirmed exists. Use where STS session policies confine each user to a
 *    prefix (the mobile-SDK flow): the key then proves who wrote it.
 *  - `x:owner`: the uploader's own claim, unverified. Only where every uploader is trusted (local runs).
 *
 * A setting may list several sources, tried in order (`token,x:owner`): a source the callback does not
 * carry (no `upload_token` in the query, a key that does not match the pattern, no `x:owner`) passes
 * to the next; one it carries decides (a token that does not verify is refused, never skipped).
 *
 * Unset: CALLBACK_OWNER_FROM (every job's fallback; `npm start` sets `token,x:owner`), else `token`
 * when UPLOAD_TOKEN_SECRET is set and/or `key` when the job's pattern is set (both: `token,key`), else
 * every callback is refused with a configuration error naming the settings.
 */
import { CallbackError, configurationError } from '../protocol/errors.js';
import type { VerifiedObject } from './object.js';
import { assertTokenSecret, UPLOAD_TOKEN_PARAM, verifyUploadToken } from './upload-token.js';

export type OwnerSource = 'token' | 'key' | 'x:owner';
export const OWNER_SOURCES: readonly OwnerSource[] = ['token', 'key', 'x:owner'];
export const MAX_OWNER_LENGTH = 128;

/** Who the upload belongs to, and how that was established. */
export interface Owner {
  id: string;
  from: OwnerSource;
}

/** The settings owner binding reads (part of CoreConfig, from the environment). */
export interface OwnerConfig {
  /** UPLOAD_TOKEN_SECRET. */
  tokenSecret: string | undefined;
  /** UPLOAD_TOKEN_GRACE_S. */
  tokenGraceSeconds: number;
  /** CALLBACK_OWNER_FROM: the fallback for every job (sources tried in order). */
  defaultFrom: readonly OwnerSource[] | undefined;
  /** Every <JOB>_OWNER_FROM and <JOB>_OWNER_KEY_PATTERN variable, by name. */
  vars: Readonly<Record<string, string | undefined>>;
}

export interface OwnerBinding {
  job: string;
  /** The sources, tried in order. */
  from: readonly OwnerSource[];
  pattern?: RegExp;
}

/** `token, x:owner` → ['token', 'x:owner']; undefined when empty; throws naming `setting` on a bad word. */
export function parseOwnerSources(raw: string | undefined, setting: string): OwnerSource[] | undefined {
  const words = (raw ?? '').split(',').map((word) => word.trim()).filter((word) => word !== '');
  if (words.length === 0) return undefined;
  for (const word of words) {
    if (!(OWNER_SOURCES as readonly string[]).includes(word)) {
      throw configError(`${setting}=${JSON.stringify(raw)}: expected one or more of ${OWNER_SOURCES.join(', ')} (comma-separated, tried in order)`);
    }
  }
  return [...new Set(words)] as OwnerSource[];
}

/** `usage-quota` → `{ from: 'USAGE_QUOTA_OWNER_FROM', pattern: 'USAGE_QUOTA_OWNER_KEY_PATTERN' }`. */
export function ownerSettingNames(job: string): { from: string; pattern: string } {
  const prefix = job.toUpperCase().replace(/-/g, '_');
  return { from: `${prefix}_OWNER_FROM`, pattern: `${prefix}_OWNER_KEY_PATTERN` };
}

/** True for the variable names collected into `OwnerConfig.vars`. */
export const isOwnerSetting = (name: string): boolean => /^[A-Z][A-Z0-9_]*_OWNER_(FROM|KEY_PATTERN)$/.test(name);

function configError(message: string): CallbackError {
  return configurationError(message);
}

/** The job's binding from its settings; throws `ConfigurationError` naming the settings. */
export function ownerBinding(job: string, config: OwnerConfig): OwnerBinding {
  const names = ownerSettingNames(job);
  const rawFrom = config.vars[names.from]?.trim() || undefined;
  const rawPattern = config.vars[names.pattern]?.trim() || undefined;
  let pattern: RegExp | undefined;
  if (rawPattern !== undefined) {
    try {
      pattern = new RegExp(rawPattern);
    } catch (error) {
      throw configError(`${names.pattern}=${JSON.stringify(rawPattern)} is not a regular expression (${(error as Error).message})`);
    }
    if (new RegExp(`${rawPattern}|`).exec('')!.length !== 2) {
      throw configError(`${names.pattern}=${JSON.stringify(rawPattern)} must have exactly one capture group, the owner (e.g. ^users/([^/]+)/)`);
    }
  }
  const implicit: OwnerSource[] = [...(config.tokenSecret ? (['token'] as const) : []), ...(pattern ? (['key'] as const) : [])];
  const from = parseOwnerSources(rawFrom, names.from) ?? config.defaultFrom ?? (implicit.length > 0 ? implicit : undefined);
  if (from === undefined) {
    throw configError(
      `${job} needs to know whose upload this is: set UPLOAD_TOKEN_SECRET (owners from upload tokens), or ${names.pattern} (owners from the object key, e.g. ^users/([^/]+)/), or ${names.from}=x:owner to trust the uploader's x:owner (unverified)`,
    );
  }
  if (from.includes('token')) assertSecret(config.tokenSecret, names.from);
  if (from.includes('key') && !pattern) throw configError(`${names.from}=${from.join(',')} needs ${names.pattern} (a regular expression with one capture group, e.g. ^users/([^/]+)/)`);
  return pattern ? { job, from, pattern } : { job, from };
}

function assertSecret(secret: string | undefined, setting: string): void {
  try {
    assertTokenSecret(secret);
  } catch (error) {
    throw configError(`${setting} includes token: ${(error as Error).message}`);
  }
}

function checked(id: string | undefined, from: OwnerSource, what: string): Owner {
  if (id === undefined || id === '') throw new CallbackError('OwnerUnverified', `${what} gave no owner`, { status: 403 });
  if (id.length > MAX_OWNER_LENGTH) throw new CallbackError('OwnerUnverified', `${what} gave an owner longer than ${MAX_OWNER_LENGTH} characters`, { status: 403 });
  return { id, from };
}

export interface OwnerInput {
  object: Pick<VerifiedObject, 'bucket' | 'key'>;
  /** The body's custom variables (keys without `x:`). */
  custom: Readonly<Record<string, string>>;
  /** The callback URL's query exactly as the signature verified it (null: no `?`). */
  query: string | null;
}

/**
 * The owner by the job's binding; refuses with `OwnerUnverified` or `UploadTokenInvalid` (403). Each
 * source in turn: one the callback does not carry passes to the next; the last one's refusal stands.
 */
export function resolveOwner(binding: OwnerBinding, input: OwnerInput, config: OwnerConfig, now?: number): Owner {
  const names = ownerSettingNames(binding.job);
  const setting = `${names.from}=${binding.from.join(',')}`;
  let refusal: CallbackError | undefined;
  for (const from of binding.from) {
    const result = fromSource(from, binding, input, config, setting, now);
    if (!(result instanceof Absent)) return result;
    refusal = result.refusal;
  }
  throw binding.from.length === 1
    ? refusal!
    : new CallbackError('OwnerUnverified', `the callback carries none of the owner sources ${setting} accepts (${refusal!.message})`, { status: 403 });
}

/** A source the callback does not carry, and what a lone source would have answered. */
class Absent {
  constructor(readonly refusal: CallbackError) {}
}

function fromSource(from: OwnerSource, binding: OwnerBinding, input: OwnerInput, config: OwnerConfig, setting: string, now?: number): Owner | Absent {
  const names = ownerSettingNames(binding.job);
  switch (from) {
    case 'x:owner':
      if (input.custom.owner === undefined || input.custom.owner === '') {
        return new Absent(new CallbackError('OwnerUnverified', `the custom variable x:owner (trusted because ${setting}) gave no owner`, { status: 403 }));
      }
      return checked(input.custom.owner, 'x:owner', `the custom variable x:owner (trusted because ${setting})`);
    case 'key': {
      const match = binding.pattern!.exec(input.object.key);
      if (!match) {
        return new Absent(
          new CallbackError(
            'OwnerUnverified',
            `the object key ${JSON.stringify(input.object.key)} does not match ${names.pattern} (${binding.pattern!.source}): the owner cannot be told from the key; upload under the user's prefix`,
            { status: 403 },
          ),
        );
      }
      return checked(match[1], 'key', `${names.pattern} on the object key`);
    }
    case 'token': {
      const tokens = new URLSearchParams(input.query ?? '').getAll(UPLOAD_TOKEN_PARAM);
      if (tokens.length === 0) {
        return new Absent(
          new CallbackError(
            'OwnerUnverified',
            `the callback URL has no ${UPLOAD_TOKEN_PARAM} query parameter: ${setting} takes the owner from the upload token the upload-policy function puts in the callback URL`,
            { status: 403 },
          ),
        );
      }
      if (tokens.length > 1) {
        throw new CallbackError('UploadTokenInvalid', `the callback URL has ${tokens.length} ${UPLOAD_TOKEN_PARAM} parameters: exactly one is accepted`, { status: 403 });
      }
      const result = verifyUploadToken(tokens[0]!, { ...input.object, job: binding.job }, config.tokenSecret!, {
        graceSeconds: config.tokenGraceSeconds,
        ...(now === undefined ? {} : { now }),
      });
      if (!result.ok) throw new CallbackError('UploadTokenInvalid', `${result.message}; nothing was recorded`, { status: 403, details: { reason: result.reason } });
      return checked(result.claims.owner, 'token', 'the upload token');
    }
  }
}

/**
 * The owner of an object known only from an OSS event (no token, no x:owner): the first capture group
 * of <JOB>_OWNER_KEY_PATTERN on the key when that pattern is set and matches, else undefined (unknown).
 */
export function ownerFromKey(job: string, config: OwnerConfig, key: string): Owner | undefined {
  const raw = config.vars[ownerSettingNames(job).pattern]?.trim();
  if (!raw) return undefined;
  let pattern: RegExp;
  try {
    pattern = new RegExp(raw);
  } catch (error) {
    throw configError(`${ownerSettingNames(job).pattern}=${JSON.stringify(raw)} is not a regular expression (${(error as Error).message})`);
  }
  const id = pattern.exec(key)?.[1];
  return id && id.length <= MAX_OWNER_LENGTH ? { id, from: 'key' } : undefined;
}
