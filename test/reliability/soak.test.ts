/**
 * Soak (long version only): steady load on the local server for SOAK_SECONDS (default 600) with
 * no error and flat memory. Runs only with RELIABILITY_SOAK=1:
 *
 *   RELIABILITY_SOAK=1 SOAK_SECONDS=600 npm test -- test/reliability/soak.test.ts
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { job as recordUpload } from '../../functions/record-upload/index.js';
import { body, signedRequest, uploadValues } from '../helpers/callbacks.js';
import { startLocalServer } from '../helpers/server.js';

const ENABLED = process.env.RELIABILITY_SOAK === '1';
const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const CONCURRENCY = 8;

async function startServer(): Promise<{ child: ChildProcess; base: string }> {
  const dbFile = join(mkdtempSync(join(tmpdir(), 'oss-cb-soak-')), 'callbacks.db');
  // About memory and stability, not the object check: no OSS to ask here.
  return startLocalServer({ DATABASE_URL: `sqlite:${dbFile}`, OSS_VERIFY_OBJECTS: 'off' });
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

describe('soak', { skip: ENABLED ? false : 'set RELIABILITY_SOAK=1 to run the soak test (10 minutes by default)' }, () => {
  it(`steady load for ${SECONDS} s: no error, flat memory`, { timeout: (SECONDS + 120) * 1000 }, async () => {
    const { child, base } = await startServer();
    try {
      const end = Date.now() + SECONDS * 1000;
      const samples: number[] = [];
      let sent = 0;
      let errors = 0;
      const sampler = setInterval(() => samples.push(rssOf(child.pid!)), 10_000);
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (Date.now() < end) {
            const payload = body(recordUpload.template.form, uploadValues());
            const request = signedRequest(payload);
            const response = await fetch(`${base}/record-upload`, { method: 'POST', headers: request.headers as Record<string, string>, body: request.body });
            sent++;
            if (response.status !== 200) errors++;
            await response.arrayBuffer();
          }
        }),
      );
      clearInterval(sampler);
      process.stdout.write(`# soak: ${sent} callbacks, ${errors} errors, RSS samples (MB): ${samples.map((s) => (s / 2 ** 20).toFixed(0)).join(' ')}\n`);
      assert.equal(errors, 0);
      const half = samples.slice(Math.floor(samples.length / 2));
      if (half.length >= 2) {
        const growth = (half.at(-1)! - half[0]!) / half[0]!;
        assert.ok(growth < 0.15, `memory grew ${(growth * 100).toFixed(1)}% over the second half`);
      }
    } finally {
      child.kill('SIGTERM');
    }
  });
});
