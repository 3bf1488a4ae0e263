/**
 * The house is layered one way: protocol at the ground, then store, core, handoff, runtime, testing;
 * functions and scripts sit on top. A file under shared/ imports only from its own layer or below.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SHARED = resolve(import.meta.dirname, '..', '..', 'shared');
const LAYERS = ['protocol', 'store', 'core', 'handoff', 'runtime', 'testing'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(path: string): number {
  const top = relative(SHARED, path).split(/[\\/]/)[0] ?? '';
  return LAYERS.indexOf(top);
}

test('shared/ imports only downward (protocol → store → core → handoff → runtime → testing)', () => {
  const upward: string[] = [];
  for (const file of files(SHARED)) {
    const own = layerOf(file);
    if (own < 0) continue; // shared/index.ts: the public surface, above every layer
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(file, '..', match[1]!);
      const layer = layerOf(target);
      if (layer > own) upward.push(`${relative(SHARED, file)} imports ${match[1]} (${LAYERS[layer]} is above ${LAYERS[own]})`);
    }
  }
  assert.deepEqual(upward, []);
});
