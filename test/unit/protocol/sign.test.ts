import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { createKeyResolver, verifyCallbackSignature } from '../../../shared/protocol/index.js';
import { generateTestKeyPair, signCallback } from '../../../shared/testing/sign.js';

describe('shared/testing/sign', () => {
  it('generates an RSA pair and signs callbacks the verifier accepts', async () => {
    const pair = generateTestKeyPair();
    assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(createPublicKey(pair.publicKeyPem).asymmetricKeyDetails?.modulusLength, 1024);
    const keyUrl = 'http://127.0.0.1/test-key.pem';
    const headers = signCallback({ privateKeyPem: pair.privateKeyPem, keyUrl, rawPath: '/cb/%E4%B8%AD', rawQuery: '', body: 'bucket=b' });
    assert.equal(Buffer.from(headers['x-oss-pub-key-url'], 'base64').toString(), keyUrl);
    assert.equal(Buffer.from(headers.authorization, 'base64').length, 128);
    const keys = createKeyResolver({ trustedKeys: { [keyUrl]: pair.publicKeyPem } });
    const result = await verifyCallbackSignature(
      { rawPath: '/cb/%E4%B8%AD', rawQuery: '', headers, body: Buffer.from('bucket=b') },
      keys,
    );
    assert.deepEqual(result, { keyUrl, query: '' });
  });
  it('generates a 512-bit key like OSS uses when asked', () => {
    const pair = generateTestKeyPair(512);
    assert.equal(createPublicKey(pair.publicKeyPem).asymmetricKeyDetails?.modulusLength, 512);
  });
});
