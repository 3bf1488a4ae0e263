/** The README documents each function's callback template and every configuration variable: keep them true. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { loadAllFunctions, loadFunction } from '../../scripts/functions.js';
import { config as uploadPolicyConfig } from '../../functions/upload-policy/index.js';
import { ERROR_STATUS } from '../../shared/protocol/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
const ROOT = new URL('../../', import.meta.url).pathname;

/** The command lines of the README's sh code blocks (comments dropped). */
function shellLines(text: string): string[] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n')).map((line) => line.replace(/\s+#.*$/, '').trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

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

  it('"Two commands" shows exactly two: the local server and every test', () => {
    const section = /## Two commands\n([\s\S]*?)\n## /.exec(readme)?.[1];
    assert.ok(section, 'no "Two commands" section');
    assert.deepEqual(shellLines(section), ['npm start', 'npm test']);
  });

  it('uses only npm scripts that exist', () => {
    const used = new Set([...readme.matchAll(/npm run ([a-z][\w:-]*)/g)].map((m) => m[1]!));
    assert.ok(used.has('simulate') && used.has('smoke'), [...used].join(', '));
    for (const name of used) assert.ok(scripts[name], `README uses \`npm run ${name}\`, which package.json lacks`);
  });

  it('gives simulate commands that run as pasted: real --callback values, files that exist', async () => {
    const commands = shellLines(readme).filter((line) => line.startsWith('npm run simulate'));
    assert.ok(commands.length >= 5);
    for (const command of commands) {
      assert.doesNotMatch(command, /…|<|>/, `a placeholder in: ${command}`);
      for (const [, option, value] of command.matchAll(/--(callback|callback-var|file) (\S+)/g)) {
        if (value!.startsWith('@') || option === 'file') {
          assert.ok(existsSync(`${ROOT}${value!.replace(/^@/, '')}`), `${command}: ${value} does not exist`);
        } else {
          assert.doesNotThrow(() => JSON.parse(Buffer.from(value!, 'base64').toString('utf8')), `${command}: --${option} is not base64 JSON`);
        }
      }
    }
    // The example callback is record-upload's template plus x:owner (what the README says it is).
    const example = JSON.parse(readFileSync(`${ROOT}test/fixtures/simulator/callback.json`, 'utf8'));
    const { job } = await loadFunction('record-upload');
    assert.equal(example.callbackBody, `${job.template.form}&x:owner=\${x:owner}`);
    const inline = /--callback (eyJ\S+)/.exec(readme)?.[1];
    assert.deepEqual(JSON.parse(Buffer.from(inline!, 'base64').toString('utf8')), example);
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
