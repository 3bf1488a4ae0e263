/** The README documents each function's callback template and every configuration variable: keep them true. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadAllFunctions } from '../../scripts/functions.js';
import { config as uploadPolicyConfig } from '../../functions/upload-policy/index.js';
import { ERROR_STATUS } from '../../shared/protocol/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('shows the callback template of every callback function, exactly', async () => {
    for (const fn of await loadAllFunctions()) {
      if (fn.kind !== 'callback') continue;
      assert.ok(readme.includes(`### \`${fn.name}\``), `README has no section for ${fn.name}`);
      assert.ok(readme.includes(fn.job.template.form), `README shows a stale callback template for ${fn.name}:\n${fn.job.template.form}`);
    }
  });

  it('lists every core error code with its status', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      assert.match(readme, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `README error table lacks ${code} ${status}`);
    }
  });

  it('documents every environment variable the shared code reads', () => {
    const sources = ['shared/core/config.ts'].map((file) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'));
    const names = new Set(sources.flatMap((text) => [...text.matchAll(/env\.([A-Z][A-Z0-9_]+)|env, '([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1] ?? m[2]!)));
    assert.ok(names.size > 5);
    for (const name of names) assert.ok(readme.includes(`\`${name}\``), `README does not document ${name}`);
  });

  it('documents every upload-policy setting and refusal', () => {
    for (const name of Object.keys(uploadPolicyConfig.entries)) assert.ok(readme.includes(`\`${name}\``), `README does not document ${name}`);
    const source = readFileSync(new URL('../../functions/upload-policy/index.ts', import.meta.url), 'utf8') + readFileSync(new URL('../../functions/upload-policy/auth.ts', import.meta.url), 'utf8');
    const codes = new Set([...source.matchAll(/'([A-Z][A-Za-z]+)', `|refuse\('([A-Z][A-Za-z]+)'|CallbackError\('([A-Z][A-Za-z]+)'/g)].map((m) => m[1] ?? m[2] ?? m[3]!));
    assert.ok(codes.size >= 8, [...codes].join());
    for (const code of codes) assert.match(readme, new RegExp(`\\| \`${code}\` \\| \\d{3} \\|`), `README lacks ${code}`);
  });
});
