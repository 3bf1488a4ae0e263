/**
 * OSS Signature V4: the PostObject vector (ali-oss 6.23 signPostObjectPolicyV4 and an independent
 * reimplementation agree on it) and presigned URLs checked against ali-oss's own canonical-request code.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { encodeKeyPath, encodeRfc3986, presignV4, signPostPolicyV4, signRequestV4, v4Credential, v4Dates, v4SigningKey } from '../../../shared/protocol/oss-v4.js';

const require = createRequire(import.meta.url);
const signUtils = require('ali-oss/lib/common/signUtils') as {
  getCanonicalRequest(method: string, request: { headers: object; queries: object }, bucket: string, object: string, additional?: string[]): string;
  getStringToSign(region: string, date: string, canonicalRequest: string): string;
  getSignatureV4(secret: string, day: string, region: string, stringToSign: string): string;
  authorizationV4(
    accessKeyId: string,
    accessKeySecret: string,
    region: string,
    method: string,
    request: { headers: object; queries?: object },
    bucket: string,
    object: string,
    additionalHeaders?: string[],
  ): string;
};

const POLICY_JSON =
  '{"expiration":"2023-12-16T17:20:57.000Z","conditions":[{"bucket":"examplebucket"},{"x-oss-signature-version":"OSS4-HMAC-SHA256"},{"x-oss-credential":"ak/20231216/cn-hangzhou/oss/aliyun_v4_request"},{"x-oss-date":"20231216T162057Z"},["content-length-range",1,10485760],["starts-with","$key","uploads/u1/"]]}';
const POLICY_BASE64 =
  'eyJleHBpcmF0aW9uIjoiMjAyMy0xMi0xNlQxNzoyMDo1Ny4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0IjoiZXhhbXBsZWJ1Y2tldCJ9LHsieC1vc3Mtc2lnbmF0dXJlLXZlcnNpb24iOiJPU1M0LUhNQUMtU0hBMjU2In0seyJ4LW9zcy1jcmVkZW50aWFsIjoiYWsvMjAyMzEyMTYvY24taGFuZ3pob3Uvb3NzL2FsaXl1bl92NF9yZXF1ZXN0In0seyJ4LW9zcy1kYXRlIjoiMjAyMzEyMTZUMTYyMDU3WiJ9LFsiY29udGVudC1sZW5ndGgtcmFuZ2UiLDEsMTA0ODU3NjBdLFsic3RhcnRzLXdpdGgiLCIka2V5IiwidXBsb2Fkcy91MS8iXV19';

test('V4 dates and credential scope', () => {
  assert.deepEqual(v4Dates(new Date(1702743657000)), { day: '20231216', stamp: '20231216T162057Z' });
  assert.equal(v4Credential('ak', '20231216', 'oss-cn-hangzhou'), 'ak/20231216/cn-hangzhou/oss/aliyun_v4_request');
});

test('PostObject V4 vector: signing key and x-oss-signature', () => {
  assert.equal(Buffer.from(POLICY_JSON).toString('base64'), POLICY_BASE64);
  assert.equal(v4SigningKey('sk', '20231216', 'cn-hangzhou').toString('hex'), 'b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f');
  assert.equal(signPostPolicyV4(POLICY_BASE64, 'sk', '20231216', 'cn-hangzhou'), '4f17f0e8127bcb0f685be61b681eba3748f07b01c01e85c3c9297ac05a2de423');
  // The signature covers the exact base64 string: one byte more in the JSON is another signature.
  assert.notEqual(signPostPolicyV4(Buffer.from(`${POLICY_JSON} `).toString('base64'), 'sk', '20231216', 'cn-hangzhou'), '4f17f0e8127bcb0f685be61b681eba3748f07b01c01e85c3c9297ac05a2de423');
});

test('a presigned PUT with a callback query and a pinned content-length matches ali-oss signUtils', () => {
  const at = new Date(1702743657000);
  const callback = Buffer.from('{"callbackUrl":"https://cb.example.com/record-upload?upload_token=ut1.x.y","callbackBody":"bucket=${bucket}"}').toString('base64');
  const signed = presignV4({
    method: 'PUT',
    bucket: 'examplebucket',
    key: 'uploads/alice/猫 1.png',
    region: 'cn-hangzhou',
    credentials: { accessKeyId: 'ak', accessKeySecret: 'sk', securityToken: 'sts-token/+=' },
    at,
    expiresSeconds: 900,
    queries: { callback },
    headers: { 'Content-Type': 'image/png', 'Content-Length': '2048' },
  });
  const queries = {
    callback,
    'x-oss-additional-headers': 'content-length',
    'x-oss-credential': 'ak/20231216/cn-hangzhou/oss/aliyun_v4_request',
    'x-oss-date': '20231216T162057Z',
    'x-oss-expires': 900,
    'x-oss-signature-version': 'OSS4-HMAC-SHA256',
    'x-oss-security-token': 'sts-token/+=',
  };
  const canonical = signUtils.getCanonicalRequest('PUT', { headers: { 'content-type': 'image/png', 'content-length': '2048' }, queries }, 'examplebucket', 'uploads/alice/猫 1.png', ['content-length']);
  const expected = signUtils.getSignatureV4('sk', '20231216', 'cn-hangzhou', signUtils.getStringToSign('cn-hangzhou', '20231216T162057Z', canonical));
  const url = new URL(`https://oss.example.com${signed.pathAndQuery}`);
  assert.equal(url.pathname, '/examplebucket/uploads/alice/%E7%8C%AB%201.png');
  assert.equal(url.searchParams.get('x-oss-signature'), expected);
  assert.equal(url.searchParams.get('callback'), callback);
  assert.equal(url.searchParams.get('x-oss-security-token'), 'sts-token/+=');
  assert.deepEqual(signed.headers, { 'content-type': 'image/png', 'content-length': '2048' });
  assert.ok(signed.objectPathAndQuery.startsWith('/uploads/alice/%E7%8C%AB%201.png?'));
});

test('RFC 3986 encoding', () => {
  assert.equal(encodeRfc3986("a b!'()*/+="), 'a%20b%21%27%28%29%2A%2F%2B%3D');
});

test('header authentication (HeadObject) equals ali-oss authorizationV4 for the same request, STS and odd keys included', () => {
  const at = new Date(1702743657000);
  const keys = ['photos/a.jpg', 'uploads/alice/猫 1.png', 'a+b/c%20d/e?f#g', 'sp ace/plus+/percent%/q?/h#', "x/!'()*~._-"];
  for (const key of keys) {
    for (const credentials of [
      { accessKeyId: 'ak', accessKeySecret: 'sk' },
      { accessKeyId: 'STS.ak', accessKeySecret: 'sk', securityToken: 'CAIS+token/=' },
    ]) {
      const headers = signRequestV4({ method: 'HEAD', bucket: 'examplebucket', key, region: 'oss-cn-hangzhou', credentials, at });
      const { authorization, ...rest } = headers;
      assert.deepEqual(rest, {
        'x-oss-date': '20231216T162057Z',
        'x-oss-content-sha256': 'UNSIGNED-PAYLOAD',
        ...('securityToken' in credentials ? { 'x-oss-security-token': credentials.securityToken } : {}),
      });
      const expected = signUtils.authorizationV4(credentials.accessKeyId, 'sk', 'cn-hangzhou', 'HEAD', { headers: rest }, 'examplebucket', key);
      assert.equal(authorization, expected, key);
      assert.match(authorization!, /^OSS4-HMAC-SHA256 Credential=(STS\.)?ak\/20231216\/cn-hangzhou\/oss\/aliyun_v4_request,Signature=[0-9a-f]{64}$/);
    }
  }
});

test('header authentication signs content-type and x-oss-* headers given to it, like ali-oss', () => {
  const at = new Date(1702743657000);
  const headers = signRequestV4({ method: 'HEAD', bucket: 'b1', key: 'k', region: 'cn-shanghai', credentials: { accessKeyId: 'ak', accessKeySecret: 'sk' }, at, headers: { 'Content-Type': 'text/plain', 'X-Oss-Meta-A': ' 1 ' } });
  const { authorization, ...rest } = headers;
  assert.equal(rest['x-oss-meta-a'], '1');
  assert.equal(authorization, signUtils.authorizationV4('ak', 'sk', 'cn-shanghai', 'HEAD', { headers: rest }, 'b1', 'k'));
  // Another key is another signature.
  assert.notEqual(signRequestV4({ method: 'HEAD', bucket: 'b1', key: 'k2', region: 'cn-shanghai', credentials: { accessKeyId: 'ak', accessKeySecret: 'sk' }, at }).authorization, authorization);
});

test('a key as a URL path: segments encoded, slashes kept', () => {
  assert.equal(encodeKeyPath('a b/c+d/e%f/g?h#i/猫'), 'a%20b/c%2Bd/e%25f/g%3Fh%23i/%E7%8C%AB');
  assert.equal(decodeURIComponent(encodeKeyPath('a b/c+d/e%f/g?h#i/猫')), 'a b/c+d/e%f/g?h#i/猫');
});
