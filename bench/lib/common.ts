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
