/**
 * `npm test`: runs every `*.test.ts` under test/ with Node's own test runner (TypeScript through tsx).
 * Pass paths or folders to run a subset: `npm test -- test/unit`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path: string, out: string[]): void {
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      collect(join(path, entry), out);
    }
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
}

const roots = process.argv.slice(2);
if (roots.length === 0) {
  // The whole suite starts with a type check: a type error fails `npm test` like a failing test.
  process.stdout.write('type check (tsc -p .)\n');
  const tsc = spawnSync(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}
const files: string[] = [];
for (const root of roots.length > 0 ? roots : ['test']) collect(root, files);
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ') || 'test'}`);
  process.exit(1);
}

const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
});
process.exit(result.status ?? 1);
