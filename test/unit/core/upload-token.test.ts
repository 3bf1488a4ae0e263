import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signUploadToken, verifyUploadToken } from '../../../shared/core/upload-token.js';

const secret = 'a'.repeat(48);
const claims = { bucket: 'photos', key: 'uploads/alice/0190.png', owner: 'alice', job: 'usage-quota', expiresAt: 1_800_000_000 };
const expected = { bucket: 'photos', key: 'uploads/alice/0190.png', job: 'usage-quota' };

test('a token verifies for its own object and job, and yields the owner', () => {
  const token = signUploadToken(claims, secret);
  assert.match(token, /^ut1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const check = verifyUploadToken(token, expected, secret, { now: claims.expiresAt });
  assert.deepEqual(check, { ok: true, claims });
});

test('a copied token is refused for another object, bucket or job', () => {
  const token = signUploadToken(claims, secret);
  assert.equal(verifyUploadToken(token, { ...expected, key: 'uploads/bob/x.png' }, secret, { now: 0 }).ok, false);
  assert.equal(verifyUploadToken(token, { ...expected, bucket: 'other' }, secret, { now: 0 }).ok, false);
  const job = verifyUploadToken(token, { ...expected, job: 'record-upload' }, secret, { now: 0 });
  assert.equal(job.ok === false && job.reason, 'job');
});

test('changing the owner in the claims breaks the MAC; another secret is refused', () => {
  const token = signUploadToken(claims, secret);
  const [prefix, , sig] = token.split('.');
  const forged = `${prefix}.${Buffer.from(JSON.stringify({ b: 'photos', k: claims.key, o: 'mallory', j: 'usage-quota', e: claims.expiresAt })).toString('base64url')}.${sig}`;
  const check = verifyUploadToken(forged, expected, secret, { now: 0 });
  assert.equal(check.ok === false && check.reason, 'signature');
  const other = verifyUploadToken(token, expected, 'b'.repeat(48), { now: 0 });
  assert.equal(other.ok === false && other.reason, 'signature');
});

test('expiry: accepted within the grace period, refused after it', () => {
  const token = signUploadToken(claims, secret);
  assert.equal(verifyUploadToken(token, expected, secret, { now: claims.expiresAt + 3600 }).ok, true);
  const late = verifyUploadToken(token, expected, secret, { now: claims.expiresAt + 3601 });
  assert.equal(late.ok === false && late.reason, 'expired');
  assert.equal(verifyUploadToken(token, expected, secret, { now: claims.expiresAt + 10, graceSeconds: 5 }).ok, false);
});

test('malformed tokens and short secrets', () => {
  for (const bad of ['', 'ut1', 'ut1.a', 'ut2.a.b', 'ut1.a+b.c', 'ut1..x']) {
    const check = verifyUploadToken(bad, expected, secret);
    assert.equal(check.ok === false && check.reason, 'malformed', bad);
  }
  assert.throws(() => signUploadToken(claims, 'short'), /at least 32 bytes/);
});
