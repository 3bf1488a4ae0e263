/** The emulator's signature checks on published vectors: OSS's V4 key derivation and the PostObject policy vector (reference B.2). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { v4Signature, v4SigningKey } from '../../../shared/testing/oss-emulator/auth/v4.js';
import { checkPolicy, verifyPostSignature } from '../../../shared/testing/oss-emulator/policy.js';

const POLICY =
  'eyJleHBpcmF0aW9uIjoiMjAyMy0xMi0xNlQxNzoyMDo1Ny4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0IjoiZXhhbXBsZWJ1Y2tldCJ9LHsieC1vc3Mtc2lnbmF0dXJlLXZlcnNpb24iOiJPU1M0LUhNQUMtU0hBMjU2In0seyJ4LW9zcy1jcmVkZW50aWFsIjoiYWsvMjAyMzEyMTYvY24taGFuZ3pob3Uvb3NzL2FsaXl1bl92NF9yZXF1ZXN0In0seyJ4LW9zcy1kYXRlIjoiMjAyMzEyMTZUMTYyMDU3WiJ9LFsiY29udGVudC1sZW5ndGgtcmFuZ2UiLDEsMTA0ODU3NjBdLFsic3RhcnRzLXdpdGgiLCIka2V5IiwidXBsb2Fkcy91MS8iXV19';
const context = { credentials: { accessKeyId: 'ak', accessKeySecret: 'sk' }, region: 'cn-hangzhou', now: Date.parse('2023-12-16T16:25:00Z') };

describe('PostObject policy signatures (reference B.2 vectors)', () => {
  it('V4: the signing key and the signature over the base64 policy', () => {
    assert.equal(v4SigningKey('sk', '20231216', 'cn-hangzhou').toString('hex'), 'b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f');
    assert.equal(v4Signature('sk', '20231216', 'cn-hangzhou', POLICY), '4f17f0e8127bcb0f685be61b681eba3748f07b01c01e85c3c9297ac05a2de423');
  });

  const v4Fields = (signature: string) =>
    new Map([
      ['key', 'uploads/u1/a.png'],
      ['policy', POLICY],
      ['x-oss-signature-version', 'OSS4-HMAC-SHA256'],
      ['x-oss-credential', 'ak/20231216/cn-hangzhou/oss/aliyun_v4_request'],
      ['x-oss-date', '20231216T162057Z'],
      ['x-oss-signature', signature],
    ]);

  it('V4 form: accepted with the vector signature; conditions hold; one changed hex digit is refused', () => {
    const form = { fields: v4Fields('4f17f0e8127bcb0f685be61b681eba3748f07b01c01e85c3c9297ac05a2de423'), bucket: 'examplebucket', size: 10 };
    assert.equal(verifyPostSignature(form, context), true);
    checkPolicy(form, context.now);
    const forged = { ...form, fields: v4Fields('5f17f0e8127bcb0f685be61b681eba3748f07b01c01e85c3c9297ac05a2de423') };
    assert.throws(() => verifyPostSignature(forged, context), { code: 'SignatureDoesNotMatch' });
  });

  it('V1 form: base64 HMAC-SHA1 over the same policy string', () => {
    const fields = new Map([['key', 'uploads/u1/a.png'], ['policy', POLICY], ['ossaccesskeyid', 'ak'], ['signature', 'os8TMhaajm+kTNf6X/peC7GJlj4=']]);
    assert.equal(verifyPostSignature({ fields, bucket: 'examplebucket', size: 1 }, context), true);
  });

  it('conditions: another bucket, a key outside the prefix, an empty file, an expired policy', () => {
    const fields = v4Fields('');
    assert.throws(() => checkPolicy({ fields, bucket: 'otherbucket', size: 1 }, context.now), { code: 'AccessDenied', message: 'Invalid according to Policy: Policy Condition failed: {"bucket":"examplebucket"}' });
    const outside = new Map(fields).set('key', 'uploads/u2/a.png');
    assert.throws(() => checkPolicy({ fields: outside, bucket: 'examplebucket', size: 1 }, context.now), { message: /Policy Condition failed: \["starts-with","\$key","uploads\/u1\/"\]/ });
    assert.throws(() => checkPolicy({ fields, bucket: 'examplebucket', size: 0 }, context.now), { code: 'EntityTooSmall' });
    assert.throws(() => checkPolicy({ fields, bucket: 'examplebucket', size: 1 }, Date.parse('2023-12-16T17:21:00Z')), { message: 'Invalid according to Policy: Policy expired.' });
  });
});
