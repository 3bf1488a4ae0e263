/**
 * A job's own configuration, from environment variables: each variable is declared with a schema
 * (the `env.*` helpers below cover the usual kinds), the whole set is read once, on first use, and
 * a mistake fails with a message that names the variable, its value and what was expected.
 *
 *   const config = envConfig({
 *     IMAGE_MAX_BYTES: env.integer({ default: 20 * 1024 * 1024, min: 1 }),
 *     IMAGE_ALLOWED_FORMATS: env.list({ default: ['jpg', 'png'] }),
 *   });
 *   config().IMAGE_MAX_BYTES   // a number
 *
 * An empty value counts as unset (s.yaml's `${env('X', '')}` passes `''` for a variable you did not
 * export). Names must not start with `FC_`: Function Compute reserves that prefix.
 */
import * as v from 'valibot';
import { configurationError } from '../protocol/errors.js';
import { ConfigError } from './config.js';

/** A schema for one variable: its raw value (`undefined` when unset or empty) → its typed value. */
export type EnvSchema<T = unknown> = v.GenericSchema<string | undefined, T>;
export type EnvEntries = Record<string, EnvSchema>;
export type EnvConfig<E extends EnvEntries> = { readonly [K in keyof E]: v.InferOutput<E[K]> };

class Invalid {
  constructor(readonly message: string) {}
}

/** A variable read by `parse`, which gets the trimmed raw value (or undefined) and may return `invalid(…)`. */
function variable<T>(parse: (raw: string | undefined) => T | Invalid): EnvSchema<T> {
  return v.pipe(
    v.optional(v.string()),
    v.rawTransform<string | undefined, T>(({ dataset, addIssue, NEVER }) => {
      const raw = dataset.value?.trim();
      const result = parse(raw === '' ? undefined : raw);
      if (result instanceof Invalid) {
        addIssue({ message: result.message });
        return NEVER;
      }
      return result;
    }),
  );
}

const invalid = (message: string): Invalid => new Invalid(message);
const required = (what: string) => invalid(`is not set: expected ${what}`);

export const env = {
  /** Any text; required unless there is a default. */
  string(options: { default?: string; pattern?: RegExp; expected?: string } = {}): EnvSchema<string> {
    const expected = options.expected ?? (options.pattern ? `text matching ${options.pattern}` : 'a value');
    return variable((raw) => {
      const value = raw ?? options.default;
      if (value === undefined) return required(expected);
      if (options.pattern && !options.pattern.test(value)) return invalid(`expected ${expected}`);
      return value;
    });
  },
  /** Any text, or undefined when unset. */
  optional(options: { pattern?: RegExp; expected?: string } = {}): EnvSchema<string | undefined> {
    return variable((raw) => {
      if (raw !== undefined && options.pattern && !options.pattern.test(raw)) {
        return invalid(`expected ${options.expected ?? `text matching ${options.pattern}`}`);
      }
      return raw;
    });
  },
  /** A decimal integer in [min, max]. */
  integer(options: { default?: number; min?: number; max?: number }): EnvSchema<number> {
    const min = options.min ?? 0;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    const expected = `an integer from ${min} to ${max}`;
    return variable((raw) => {
      if (raw === undefined) return options.default ?? required(expected);
      const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
      return Number.isSafeInteger(value) && value >= min && value <= max ? value : invalid(`expected ${expected}`);
    });
  },
  /** `true`/`false` (also `1`/`0`, `yes`/`no`). */
  boolean(options: { default: boolean }): EnvSchema<boolean> {
    return variable((raw) => {
      if (raw === undefined) return options.default;
      const lower = raw.toLowerCase();
      if (['true', '1', 'yes'].includes(lower)) return true;
      if (['false', '0', 'no'].includes(lower)) return false;
      return invalid('expected true or false');
    });
  },
  /** One of the given words. */
  oneOf<const T extends string>(values: readonly T[], options: { default: T }): EnvSchema<T> {
    return variable((raw) => {
      if (raw === undefined) return options.default;
      return (values as readonly string[]).includes(raw) ? (raw as T) : invalid(`expected one of ${values.join(', ')}`);
    });
  },
  /** A comma-separated list (items trimmed, empty items dropped), each item checked by `item`. */
  list(options: { default: readonly string[]; item?: (item: string) => string | Invalid; lowerCase?: boolean }): EnvSchema<string[]> {
    return variable((raw) => {
      if (raw === undefined) return [...options.default];
      const items = raw
        .split(',')
        .map((item) => (options.lowerCase ? item.trim().toLowerCase() : item.trim()))
        .filter((item) => item !== '');
      const out: string[] = [];
      for (const item of items) {
        const checked = options.item ? options.item(item) : item;
        if (checked instanceof Invalid) return checked;
        out.push(checked);
      }
      return out;
    });
  },
  /** An absolute http(s) URL, without a trailing slash. */
  url(options: { default?: string } = {}): EnvSchema<string> {
    return variable((raw) => {
      const value = raw ?? options.default;
      if (value === undefined) return required('an http:// or https:// URL');
      return isHttpUrl(value) ? value.replace(/\/+$/, '') : invalid('expected an http:// or https:// URL');
    });
  },
  /** Anything else: `parse` gets the raw value (or undefined) and returns the value or `invalid(message)`. */
  custom<T>(parse: (raw: string | undefined) => T | Invalid): EnvSchema<T> {
    return variable(parse);
  },
  invalid,
};

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value.replace(/\{[a-z]+\}/g, 'x'));
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Variables whose value is never repeated in a message (a reply or a log line). */
const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|ACCESS_KEY|_KEY$/i;

/** Reads and checks every variable of `entries` from `source`; throws a ConfigError naming each bad one (never a secret's value). */
export function parseEnvConfig<E extends EnvEntries>(entries: E, source: NodeJS.ProcessEnv = process.env): EnvConfig<E> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, schema] of Object.entries(entries)) {
    if (name.startsWith('FC_')) throw new ConfigError(`${name}: Function Compute reserves the FC_ prefix; pick another name`);
    const raw = source[name];
    const result = v.safeParse(schema, raw);
    if (result.success) out[name] = result.output;
    else {
      const message = result.issues.map((issue) => issue.message).join('; ');
      const shown = SECRET_NAME.test(name) ? '(value hidden)' : JSON.stringify(raw);
      problems.push(raw === undefined || raw.trim() === '' ? `${name} ${message}` : `${name}=${shown}: ${message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return out as EnvConfig<E>;
}

export interface EnvConfigReader<E extends EnvEntries> {
  /** The configuration, read on the first call and kept; a mistake throws `ConfigurationError` naming each bad variable. */
  (): EnvConfig<E>;
  /** The declared variables (for docs and tests). */
  readonly entries: E;
  /** Forget the kept configuration (tests that change the environment). */
  reset(): void;
}

export function envConfig<E extends EnvEntries>(entries: E, source: () => NodeJS.ProcessEnv = () => process.env): EnvConfigReader<E> {
  let kept: EnvConfig<E> | undefined;
  const read = (() => {
    if (kept) return kept;
    try {
      kept = parseEnvConfig(entries, source());
    } catch (error) {
      throw configurationError(error instanceof Error ? error.message : String(error), error);
    }
    return kept;
  }) as EnvConfigReader<E>;
  Object.defineProperty(read, 'entries', { value: entries });
  read.reset = () => {
    kept = undefined;
  };
  return read;
}
