/**
 * `npm run smoke` (scripts/smoke.ts): its command line, and what it prints and exits with for each
 * way an upload with a callback can go. (Its run through real ali-oss against the local OSS
 * emulator is test/e2e/smoke.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { endpointOptions, EXIT, functionFromUrl, outcomeOfError, parseSmokeArgs, regionFromUrl, report, smokeKey, UsageError } from '../../../scripts/smoke.js';

const KNOWN = ['image-upload', 'media-dispatch', 'media-job', 'media-worker-example', 'record-upload', 'usage-quota'];
const CREDENTIALS = { ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI-example', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'example-secret' };
const FC_URL = 'https://record-upload-abcdefghij.cn-hangzhou.fcapp.run';

function usage(argv: string[], env: NodeJS.ProcessEnv = CREDENTIALS): string {
  try {
    parseSmokeArgs(argv, env, KNOWN);
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    return error.message;
  }
  assert.fail('expected a usage error');
}

describe('npm run smoke: the command line', () => {
  it('takes the function and the region from an FC trigger URL', () => {
    const options = parseSmokeArgs(['--url', FC_URL, '--bucket', 'examplebucket'], CREDENTIALS, KNOWN);
    assert.equal(options.functionName, 'record-upload');
    assert.equal(options.region, 'oss-cn-hangzhou');
    assert.equal(options.endpoint, undefined);
    assert.equal(options.bucket, 'examplebucket');
    assert.equal(options.url, `${FC_URL}/`);
    assert.match(options.key, /^oss-callback-smoke\/\d{8}T\d{9}Z-[0-9a-f]{8}\.txt$/);
    assert.deepEqual(options.credentials, { accessKeyId: 'LTAI-example', accessKeySecret: 'example-secret', securityToken: undefined });
    assert.equal(options.timeoutMs, 30_000);
  });

  it('takes the function from a local path, OSS from --endpoint, STS from the environment', () => {
    const options = parseSmokeArgs(
      ['--url', 'http://127.0.0.1:9000/usage-quota', '--bucket', 'b', '--endpoint', 'http://127.0.0.1:9001', '--key', 'k.txt', '--timeout', '5000'],
      { ...CREDENTIALS, ALIBABA_CLOUD_SECURITY_TOKEN: 'sts-token' },
      KNOWN,
    );
    assert.equal(options.functionName, 'usage-quota');
    assert.equal(options.endpoint, 'http://127.0.0.1:9001');
    assert.equal(options.region, undefined);
    assert.equal(options.key, 'k.txt');
    assert.equal(options.credentials.securityToken, 'sts-token');
    assert.equal(options.timeoutMs, 5000);
  });

  it('prefers the longest function name, and --function and --region over the URL', () => {
    assert.equal(functionFromUrl(new URL('https://media-job-x1.cn-shanghai.fcapp.run'), KNOWN), 'media-job');
    assert.equal(functionFromUrl(new URL('https://media-worker-example-x1.cn-shanghai.fcapp.run'), KNOWN), 'media-worker-example');
    assert.equal(functionFromUrl(new URL('https://cb.example.com/upload'), KNOWN), undefined);
    assert.equal(regionFromUrl(new URL('https://media-job-x1.cn-shanghai.fcapp.run')), 'cn-shanghai');
    assert.equal(regionFromUrl(new URL('http://127.0.0.1:9000/record-upload')), undefined);
    const options = parseSmokeArgs(['--url', 'https://cb.example.com/upload', '--bucket', 'b', '--function', 'image-upload', '--region', 'oss-ap-southeast-1'], CREDENTIALS, KNOWN);
    assert.equal(options.functionName, 'image-upload');
    assert.equal(options.region, 'oss-ap-southeast-1');
  });

  it('says what is missing or wrong', () => {
    assert.match(usage(['--bucket', 'b']), /--url is required/);
    assert.match(usage(['--url', FC_URL]), /--bucket is required/);
    assert.match(usage(['--url', 'not a url', '--bucket', 'b']), /is not a URL/);
    assert.match(usage(['--url', 'ftp://x/record-upload', '--bucket', 'b']), /http:\/\/ or https:\/\//);
    assert.match(usage(['--url', 'https://cb.example.com/upload', '--bucket', 'b', '--region', 'cn-hangzhou']), /cannot tell the function from --url .* give --function \(one of image-upload/);
    assert.match(usage(['--url', FC_URL, '--bucket', 'b', '--function', 'nope']), /"nope" is not a function under functions\//);
    assert.match(usage(['--url', 'http://127.0.0.1:9000/record-upload', '--bucket', 'b']), /give --region \(e\.g\. cn-hangzhou\) or --endpoint/);
    assert.match(usage(['--url', FC_URL, '--bucket', 'b'], {}), /no OSS credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/);
    assert.match(usage(['--url', FC_URL, '--bucket', 'b'], { ALIBABA_CLOUD_ACCESS_KEY_ID: 'x' }), /set ALIBABA_CLOUD_ACCESS_KEY_SECRET \(/);
    assert.match(usage(['--url', FC_URL, '--bucket', 'b', '--timeout', '10']), /--timeout must be an integer of at least 1000/);
    assert.match(usage(['--url', FC_URL, '--bucket', 'b', '--file', '/nonexistent/smoke.png']), /--file \/nonexistent\/smoke\.png: ENOENT/);
    assert.match(usage(['--url', FC_URL, '--bucket', 'b', '--nope']), /Unknown option '--nope'/);
    assert.equal(parseSmokeArgs(['--url', 'http://127.0.0.1:9000/record-upload', '--bucket', 'b'], { ...CREDENTIALS, FC_REGION: 'cn-beijing' }, KNOWN).region, 'oss-cn-beijing');
  });

  it('--endpoint: virtual-host for OSS and IP addresses, path-style (sldEnable) for localhost', () => {
    assert.deepEqual(endpointOptions('https://oss-cn-hangzhou.aliyuncs.com'), { endpoint: 'https://oss-cn-hangzhou.aliyuncs.com', secure: true });
    assert.deepEqual(endpointOptions('http://127.0.0.1:9001'), { endpoint: 'http://127.0.0.1:9001', secure: false });
    assert.deepEqual(endpointOptions('http://localhost:9001'), { endpoint: 'http://localhost:9001', secure: false, sldEnable: true });
  });

  it('never uses the same key twice', () => {
    assert.notEqual(smokeKey(), smokeKey());
  });
});

describe('npm run smoke: what it reports', () => {
  const options = { bucket: 'examplebucket', key: 'oss-callback-smoke/k.txt', url: `${FC_URL}/`, functionName: 'record-upload' };

  it('a 200: the reply and the record id, exit 0', () => {
    const { lines, exit } = report(options, { kind: 'ok', status: 200, reply: { id: '01a2-rec', duplicate: false }, ossRequestId: 'OSSREQ1' });
    assert.equal(exit, EXIT.ok);
    assert.deepEqual(lines, [
      'OSS stored oss://examplebucket/oss-callback-smoke/k.txt and the callback to record-upload succeeded (OSS request id OSSREQ1)',
      'reply: {"id":"01a2-rec","duplicate":false}',
      'record id: 01a2-rec',
    ]);
    assert.equal(report(options, { kind: 'ok', status: 200, reply: { id: null, skipped: 'no preset' }, ossRequestId: undefined }).lines[2], 'record id: (none: the reply has no "id")');
  });

  it('203 CallbackFailed from ali-oss: the function refused (a status) or could not be reached, exit 1', () => {
    const refused = outcomeOfError(Object.assign(new Error('Error status : 403.'), { name: 'CallbackFailedError', code: 'CallbackFailed', status: 203, requestId: 'OSSREQ2' }));
    assert.deepEqual(refused, { kind: 'callbackFailed', status: 203, message: 'Error status : 403.', ossRequestId: 'OSSREQ2' });
    const shown = report(options, refused);
    assert.equal(shown.exit, EXIT.callbackFailed);
    assert.match(shown.lines[0]!, /but the callback failed: 203 CallbackFailed "Error status : 403\."/);
    assert.match(shown.lines[1]!, /the function answered with that status/);
    const unreachable = report(options, outcomeOfError(Object.assign(new Error('Error status : -1.OSS can not connect to your callbackUrl, please check it.'), { code: 'CallbackFailed', status: 203 })));
    assert.match(unreachable.lines[1]!, new RegExp(`OSS could not get a valid reply from ${FC_URL.replace(/\./g, '\\.')}`));
  });

  it('an upload that fails (credentials, bucket, network): the code and a hint, exit 3', () => {
    const outcome = outcomeOfError(Object.assign(new Error('The OSS Access Key Id you provided does not exist in our records.'), { name: 'InvalidAccessKeyIdError', code: 'InvalidAccessKeyId', status: 403, requestId: 'OSSREQ3' }));
    const { lines, exit } = report(options, outcome);
    assert.equal(exit, EXIT.uploadFailed);
    assert.match(lines[0]!, /^the upload to oss:\/\/examplebucket\/oss-callback-smoke\/k\.txt failed: InvalidAccessKeyId \(403\): The OSS Access Key Id/);
    assert.match(lines[1]!, /check the credentials/);
    assert.equal(outcomeOfError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9001'), { name: 'RequestError', status: -1 })).kind, 'uploadFailed');
  });

  it('exits 2 with the usage when a required option is missing', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/smoke.ts', '--bucket', 'b'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    assert.equal(run.status, EXIT.usage, run.stderr);
    assert.match(run.stderr, /^smoke: --url is required/);
    assert.match(run.stderr, /npm run smoke -- --url <trigger URL> --bucket <bucket>/);
  });
});
