/**
 * `npm run build:server -- <function-name>`: the FC 3.0 custom-runtime build of one function,
 * dist/<name>-server/server.js, an HTTP server (shared/runtime/server.ts) to run with
 * `node server.js` (s.custom-runtime.yaml), with the same database drivers as `npm run build`.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildDrivers, DIST_DIR, functionBuildOptions, VENDOR_DIR } from './build.js';
import { functionNames } from './functions.js';

const ROOT = resolve(import.meta.dirname, '..');

export async function buildServer(name: string, options: { quiet?: boolean } = {}): Promise<string> {
  if (!functionNames().includes(name)) throw new Error(`no function "${name}"; functions: ${functionNames().join(', ')}`);
  const outdir = join(DIST_DIR, `${name}-server`);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const { entryPoints: _entry, outfile: _outfile, ...shared } = functionBuildOptions(name);
  await build({
    ...shared,
    stdin: {
      contents: `import { job } from './functions/${name}/index.ts';\nimport { startJobServer } from './shared/runtime/server.ts';\nstartJobServer(job);\n`,
      resolveDir: ROOT,
      sourcefile: `${name}-server.ts`,
      loader: 'ts',
    },
    outfile: join(outdir, 'server.js'),
  });
  writeFileSync(join(outdir, 'package.json'), `${JSON.stringify({ name: `${name}-server`, private: true, type: 'commonjs', main: 'server.js' }, null, 2)}\n`);
  await buildDrivers(options);
  cpSync(VENDOR_DIR, join(outdir, 'node_modules'), { recursive: true });
  if (!options.quiet) process.stdout.write(`dist/${name}-server/server.js\n`);
  return join(outdir, 'server.js');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  if (names.length === 0) {
    process.stderr.write('usage: npm run build:server -- <function-name>...\n');
    process.exit(2);
  }
  for (const name of names) await buildServer(name);
}
