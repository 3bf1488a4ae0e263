/**
 * The key pair the simulator signs with, standing in for OSS's. The functions must trust its public
 * key: OSS_PUBLIC_KEYS_FILE is a JSON file `{ "<key URL>": "<PEM>" }`, which `writeTrustedKeysFile`
 * writes. Default: the development pair in test/fixtures/keys (already listed in its public-keys.json).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SigningKey } from './send.js';

export const DEV_KEYS_DIR = resolve(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'keys');
export const DEV_PUBLIC_KEYS_FILE = resolve(DEV_KEYS_DIR, 'public-keys.json');
export const DEV_PRIVATE_KEY_FILE = resolve(DEV_KEYS_DIR, 'dev-private.pem');

export function devSigningKey(): SigningKey {
  const keyUrl = Object.keys(JSON.parse(readFileSync(DEV_PUBLIC_KEYS_FILE, 'utf8')) as object)[0]!;
  return { privateKeyPem: readFileSync(DEV_PRIVATE_KEY_FILE, 'utf8'), keyUrl };
}

/** The public key (SPKI PEM) of a private key PEM. */
export function publicKeyPem(privateKeyPem: string): string {
  return createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString();
}

export function signingKeyFromFile(privateKeyFile: string, keyUrl: string): SigningKey {
  const privateKeyPem = readFileSync(privateKeyFile, 'utf8');
  publicKeyPem(privateKeyPem); // fails early on something that is not a private key
  return { privateKeyPem, keyUrl };
}

/** Writes `{ keyUrl: public PEM }` for OSS_PUBLIC_KEYS_FILE. */
export function writeTrustedKeysFile(path: string, key: SigningKey): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({ [key.keyUrl]: publicKeyPem(key.privateKeyPem) }, null, 2)}\n`);
}
