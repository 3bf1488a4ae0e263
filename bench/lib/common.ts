/** What every benchmark returns, and the options they share. */
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface BenchOptions {
  /** Fewer rounds and shorter runs (about a third of the time). */
  quick: boolean;
  /** Extra diagnostics (e.g. a CPU profile of the hot path). */
  profile: boolean;
}

export interface Target {
  /** What is promised, e.g. "hot path ≤ 2× bare RSA-MD5 verify". */
  label: string;
  /** The figure measured, e.g. "1.7×". */
  measured: string;
  /** undefined: not measured (skipped). */
  met: boolean | undefined;
  note?: string;
}

export interface BenchResult {
  name: string;
  targets: Target[];
}

export function log(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function verdict(met: boolean | undefined): string {
  return met === undefined ? 'skipped' : met ? 'met' : 'MISSED';
}

/**
 * The pipeline benchmarks measure the pipeline without OSS: no HeadObject (OSS_VERIFY_OBJECTS=off) and
 * the uploader's x:owner. The HEAD's own cost is measured by bench/oss-head.ts.
 */
export const WITHOUT_OSS = {
  objects: { verify: 'off', endpoint: undefined, pathStyle: false, headTimeoutMs: 1500 },
  owner: { tokenSecret: undefined, tokenGraceSeconds: 3600, defaultFrom: ['x:owner'], vars: {} },
} as const satisfies Pick<import('../../shared/core/config.js').CoreConfig, 'objects' | 'owner'>;
