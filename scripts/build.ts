/**
 * `npm run build [-- <function-name>...]`: bundles each function with esbuild into its own
 * deployable folder, dist/<name>/index.js (CommonJS exporting `handler`, the FC nodejs20 convention).
 *
 * Database drivers are bundled separately, each into one minified file under
 * dist/<name>/node_modules/ (`pg`, `mysql2/promise`): the function requires only the driver that
 * DATABASE_URL selects, so a cold start never parses the other one (mysql2 alone is ~1 MB).
 *
 * Not shipped at all:
 *  - `libsql`: a native module, and the embedded SQLite store is for local runs only: a deployed
 *    function keeps its records in PostgreSQL or MySQL (FC instances have no lasting disk);
 *  - `pg-native`, `pg-cloudflare`: pg's optional bindings, never used;
 *  - `@alicloud/fc2`, `ali-oss`: preinstalled in the FC nodejs20 runtime.
 * Prints each bundle's size and the modules that dominate it.
 */
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { FUNCTIONS_DIR, functionNames } from './functions.js';
import { writeUploadJobs } from './upload-jobs.js';

export const DIST_DIR = resolve(import.meta.dirname, '..', 'dist');
const require = createRequire(import.meta.url);
export const EXTERNAL = ['libsql', 'pg-native', 'pg-cloudflare', 'cloudflare:sockets', '@alicloud/fc2', 'ali-oss'];
/** Drivers bundled on their own: module specifier → file under dist/<name>/node_modules. */
export const DRIVERS: Record<string, string> = { pg: 'pg/index.js', 'mysql2/promise': 'mysql2/promise.js' };
/** The package.json of each bundled driver, so that both require() and import() resolve it. */
const DRIVER_PACKAGES: Record<string, object> = {
  pg: { name: 'pg', type: 'commonjs', main: 'index.js', exports: { '.': './index.js' } },
  mysql2: { name: 'mysql2', type: 'commonjs', exports: { './promise': './promise.js' } },
};
export const VENDOR_DIR = join(DIST_DIR, '.drivers');

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

/** The esbuild options of a function's bundle (also used by the cold-start benchmark's breakdown). */
export function functionBuildOptions(name: string): BuildOptions & { metafile: true } {
  return {
    entryPoints: [join(FUNCTIONS_DIR, name, 'index.ts')],
    outfile: join(DIST_DIR, name, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    // No source map: Node reads one only with --enable-source-maps, which parses it at load and adds
    // about 15% to a cold start (BENCHMARKS.md, "Source maps"); unused, it was 626 KB per function.
    sourcemap: false,
    legalComments: 'linked',
    external: [...EXTERNAL, 'pg', 'mysql2', 'mysql2/*'],
    // import() of a CommonJS driver from a CommonJS bundle costs Node 20 ~25 ms more than require().
    supported: { 'dynamic-import': false },
    metafile: true,
    logLevel: 'warning',
  };
}

export async function buildFunction(name: string, options: { quiet?: boolean } = {}): Promise<string> {
  const outdir = join(DIST_DIR, name);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build(functionBuildOptions(name));
  // The folder is deployed on its own; this keeps `index.js` CommonJS wherever it is run from.
  writeFileSync(join(outdir, 'package.json'), `${JSON.stringify({ name, private: true, type: 'commonjs', main: 'index.js' }, null, 2)}\n`);
  await buildDrivers(options);
  cpSync(VENDOR_DIR, join(outdir, 'node_modules'), { recursive: true });
  const summary = summarize(result.metafile, 'index.js');
  if (!options.quiet) process.stdout.write(`dist/${name}/index.js  ${summary}\n`);
  return join(outdir, 'index.js');
}

let driversBuilt: Promise<void> | undefined;
/** Bundles each database driver once per build into dist/.drivers/, copied into every function. */
export function buildDrivers(options: { quiet?: boolean }): Promise<void> {
  driversBuilt ??= (async () => {
    rmSync(VENDOR_DIR, { recursive: true, force: true });
    for (const [specifier, file] of Object.entries(DRIVERS)) {
      const result = await build({
        entryPoints: [require.resolve(specifier)],
        outfile: join(VENDOR_DIR, file),
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        minify: true,
        legalComments: 'linked',
        external: EXTERNAL,
        // pg asks "is this Cloudflare Workers?" at load time by constructing a fetch Response, which
        // makes Node 20 load undici (~40 ms of cold start). A navigator that is not Cloudflare's
        // answers the question first.
        define: specifier === 'pg' ? { navigator: '{"userAgent":"Node.js"}' } : {},
        metafile: true,
        logLevel: 'error',
      });
      if (!options.quiet) process.stdout.write(`  driver ${specifier}  ${summarize(result.metafile!, file)}\n`);
    }
    for (const [name, manifest] of Object.entries(DRIVER_PACKAGES)) {
      writeFileSync(join(VENDOR_DIR, name, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    }
    if (!existsSync(VENDOR_DIR)) throw new Error('no drivers were built');
  })();
  return driversBuilt;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const requested = process.argv.slice(2);
  const names = requested.length > 0 ? requested : functionNames();
  if (names.includes('upload-policy')) await writeUploadJobs(); // the jobs' current templates
  for (const name of names) await buildFunction(name);
}
