/**
 * Request signing of the two FC APIs: ACS3-HMAC-SHA256 (FC 3.0 API) against the test vector of Alibaba
 * Cloud's own OpenAPI utility, and the FC 2.0 string to sign against what @alicloud/fc2 itself computes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { acs3Authorization, acs3Signature, acs3StringToSign, canonicalQueryString, parseAcs3Authorization, sha256Hex } from '../../../shared/handoff/acs3.js';
import { fc2ContentMd5, fc2Signature, fc2StringToSign, parseFc2Authorization } from '../../../shared/handoff/fc2-signature.js';
import { acsDate, buildFc3InvokeRequest } from '../../../shared/handoff/fc3-client.js';

const require = createRequire(import.meta.url);
const fc2Helper = require('@alicloud/fc2/lib/helper.js') as { composeStringToSign(method: string, path: string, headers: object, queries?: object | null): string };
const FC2 = require('@alicloud/fc2') as { getSignature(id: string, secret: string, method: string, path: string, headers: object, queries?: object | null): string };

describe('ACS3-HMAC-SHA256 (FC 3.0 API)', () => {
  it("reproduces the test vector of Alibaba Cloud's OpenAPI utility (darabonba-openapi-util getAuthorization)", () => {
    // Query {test: ok, empty: ""}, headers x-acs-test=http and x-acs-TEST=https, GET, a given payload hash.
    const authorization = acs3Authorization(
      { method: 'GET', pathname: '', query: { test: 'ok', empty: '' }, headers: { 'x-acs-test': 'http', 'x-acs-TEST': 'https' } },
      '55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23',
      'acesskey',
      'secret',
    );
    assert.equal(authorization, 'ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,Signature=da772425f29289d3460d5fc961455d40c5e8c6afd0888b78a910c991e6a14846');
  });

  it('canonicalizes the query: sorted, RFC 3986 values, a key alone when its value is empty', () => {
    assert.equal(canonicalQueryString({ b: 'x y', a: "it's*", c: '' }), 'a=it%27s%2A&b=x%20y&c');
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('signs an InvokeFunction request: host, x-acs-* and content-type signed; body hash sent', () => {
    const body = Buffer.from('{"jobId":"1"}');
    const { url, headers } = buildFc3InvokeRequest(
      { endpoint: 'http://127.0.0.1:9000', functionName: 'media worker', qualifier: 'prod', credentials: { accessKeyId: 'ak', accessKeySecret: 'sk', securityToken: 'tok' }, body, timeoutMs: 1000 },
      new Date('2026-11-20T08:00:00.123Z'),
      'nonce-1',
    );
    assert.equal(url.toString(), 'http://127.0.0.1:9000/2023-03-30/functions/media%20worker/invocations?qualifier=prod');
    assert.equal(headers['x-acs-date'], '2026-11-20T08:00:00Z');
    assert.equal(headers['x-fc-invocation-type'], 'Async');
    assert.equal(headers['x-acs-content-sha256'], createHash('sha256').update(body).digest('hex'));
    const auth = parseAcs3Authorization(headers.authorization)!;
    assert.deepEqual(auth.signedHeaders, ['content-type', 'host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-security-token', 'x-acs-signature-nonce', 'x-acs-version']);
    const signed = Object.fromEntries(auth.signedHeaders.map((name) => [name, headers[name]!]));
    const { stringToSign } = acs3StringToSign({ method: 'POST', pathname: url.pathname, query: { qualifier: 'prod' }, headers: signed }, headers['x-acs-content-sha256']!);
    assert.equal(auth.signature, acs3Signature('sk', stringToSign));
    assert.equal(acsDate(new Date('2026-01-02T03:04:05.999Z')), '2026-01-02T03:04:05Z');
  });
});

describe('FC 2.0 API signature (what @alicloud/fc2 sends)', () => {
  const headers = {
    accept: 'application/json',
    date: 'Fri, 20 Nov 2026 08:00:00 GMT',
    host: '127.0.0.1',
    'content-type': 'application/octet-stream',
    'content-md5': fc2ContentMd5('event'),
    'x-fc-account-id': '1234',
    'x-fc-invocation-type': 'Async',
    'X-Fc-Log-Type': 'Tail',
  };

  it('builds the same string to sign and signature as the client library', () => {
    const path = '/2016-08-15/services/svc.LATEST/functions/fn/invocations';
    assert.equal(fc2StringToSign('POST', path, headers), fc2Helper.composeStringToSign('POST', path, headers));
    assert.equal(`FC ak:${fc2Signature('sk', fc2StringToSign('POST', path, headers))}`, FC2.getSignature('ak', 'sk', 'POST', path, headers));
    const proxy = '/2016-08-15/proxy/svc/fn/a';
    const queries = { b: ['2', '1'], a: 'x' };
    assert.equal(fc2StringToSign('GET', proxy, headers, queries), fc2Helper.composeStringToSign('GET', proxy, headers, queries));
  });

  it('computes Content-MD5 the client way: base64 of the HEX md5, not of the digest', () => {
    const hex = createHash('md5').update('event').digest('hex');
    assert.equal(fc2ContentMd5('event'), Buffer.from(hex, 'utf8').toString('base64'));
    assert.notEqual(fc2ContentMd5('event'), createHash('md5').update('event').digest('base64'));
  });

  it('parses the Authorization header', () => {
    assert.deepEqual(parseFc2Authorization('FC ak:c2ln='), { accessKeyId: 'ak', signature: 'c2ln=' });
    assert.equal(parseFc2Authorization('ACS3-HMAC-SHA256 x'), undefined);
    assert.equal(parseFc2Authorization(undefined), undefined);
  });
});
