/**
 * `npm run build [-- <function-name>...]`: bundles each function with esbuild into its own
 * deployable folder, dist/<name>/index.js (CommonJS exporting `handler`, the FC nodejs20 convention).
 *
 * Not bundled (external):
 *  - `libsql`: a native module, and the embedded SQLite store is for local runs only: a deployed
 *    function keeps its records in PostgreSQL or MySQL (FC instances have no lasting disk);
 *  - `pg-native`: pg's optional native binding, never used;
 *  - `@alicloud/fc2`, `ali-oss`: preinstalled in the FC nodejs20 runtime.
 * Prints each bundle's size and the modules that dominate it.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { FUNCTIONS_DIR, functionNames } from './functions.js';

export const DIST_DIR = resolve(import.meta.dirname, '..', 'dist');
export const EXTERNAL = ['libsql', 'pg-native', '@alicloud/fc2', 'ali-oss'];

function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return match ? match[1]! : path.startsWith('shared/') ? 'shared/' : path.startsWith('functions/') ? 'functions/' : path;
}

function summarize(metafile: Metafile, outfile: string): string {
  const output = Object.entries(metafile.outputs).find(([file]) => file.endsWith(outfile));
  if (!output) return '';
  const [, info] = output;
  const byPackage = new Map<string, number>();
  for (const [path, input] of Object.entries(info.inputs)) {
    byPackage.set(packageOf(path), (byPackage.get(packageOf(path)) ?? 0) + input.bytesInOutput);
  }
  const top = [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  return `${kb(info.bytes)}  (${top.map(([name, bytes]) => `${name} ${kb(bytes)}`).join(', ')})`;
}

export async function buildFunction(name: string, options: { quiet?: boolean } = {}): Promise<string> {
  const outdir = join(DIST_DIR, name);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: [join(FUNCTIONS_DIR, name, 'index.ts')],
    outfile: join(outdir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    external: EXTERNAL,
    metafile: true,
    logLevel: 'warning',
  });
  // The folder is deployed on its own; this keeps `index.js` CommonJS wherever it is run from.
  writeFileSync(join(outdir, 'package.json'), `${JSON.stringify({ name, private: true, type: 'commonjs', main: 'index.js' }, null, 2)}\n`);
  const summary = summarize(result.metafile, 'index.js');
  if (!options.quiet) process.stdout.write(`dist/${name}/index.js  ${summary}\n`);
  return join(outdir, 'index.js');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const requested = process.argv.slice(2);
  const names = requested.length > 0 ? requested : functionNames();
  for (const name of names) await buildFunction(name);
}
