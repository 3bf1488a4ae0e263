/**
 * `GET /healthz` of the local server (shared/runtime/health.ts): a real round trip to the datastore,
 * 503 naming the failed check when it is down, and checks that can be added (e.g. OSS).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { configFromEnv } from '../../shared/core/config.js';
import { DEFAULT_CREDENTIALS, startOssEmulator } from '../../shared/testing/oss-emulator/index.js';
import { createNodeListener, type LocalServerOptions } from '../../shared/runtime/node.js';
import { type HealthCheck, ossCheck, runHealthChecks, storeCheck } from '../../shared/runtime/health.js';
import { closeStores } from '../../shared/store/index.js';
import { tempDatabaseUrl, testRuntime } from '../helpers/callbacks.js';

const servers: Server[] = [];
after(async () => {
  for (const server of servers) server.close();
  await closeStores();
});

async function listen(listener: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function healthz(options: Partial<LocalServerOptions> & { databaseUrl: string }) {
  const base = await listen(createNodeListener({ jobs: [], runtime: testRuntime({ databaseUrl: options.databaseUrl }), ...options }));
  const response = await fetch(`${base}/healthz`);
  return { status: response.status, body: (await response.json()) as any };
}

describe('GET /healthz', () => {
  it('is ok after a round trip to the datastore', async () => {
    const url = tempDatabaseUrl();
    const { status, body } = await healthz({ databaseUrl: url });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ok');
    assert.equal(body.checks.store.status, 'ok');
    assert.equal(body.checks.store.store, url);
  });

  it('answers 503 naming the store and why when the datastore is down, never its password', async () => {
    const port = await closedPort();
    const { status, body } = await healthz({ databaseUrl: `postgres://app:hunter2@127.0.0.1:${port}/test` });
    assert.equal(status, 503, JSON.stringify(body));
    assert.equal(body.status, 'down');
    assert.equal(body.checks.store.status, 'down');
    assert.equal(body.checks.store.code, 'StoreUnavailable');
    assert.match(body.checks.store.message, new RegExp(`connection refused by 127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(JSON.stringify(body), /hunter2/);
  });

  it('answers 503 ConfigurationError for a DATABASE_URL it cannot use', async () => {
    const { status, body } = await healthz({ databaseUrl: 'mongodb://app:hunter2@127.0.0.1/x' });
    assert.equal(status, 503);
    assert.equal(body.checks.store.code, 'ConfigurationError');
    assert.doesNotMatch(JSON.stringify(body), /hunter2/);
  });

  it('runs added checks too: one down makes the whole 503, each named', async () => {
    const oss: HealthCheck = {
      name: 'oss',
      run: async () => {
        throw Object.assign(new Error('secret detail'), { code: 'ECONNREFUSED' });
      },
    };
    const url = tempDatabaseUrl();
    const { status, body } = await healthz({ databaseUrl: url, checks: [storeCheck(url), oss] });
    assert.equal(status, 503);
    assert.equal(body.checks.store.status, 'ok');
    assert.deepEqual({ ...body.checks.oss, ms: 0 }, { status: 'down', ms: 0, code: 'Internal', message: 'oss check failed: Error' });
  });

  it('counts a check that does not answer as down, and aborts it', async () => {
    let aborted: unknown;
    const silent: HealthCheck = {
      name: 'silent',
      run: (signal) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
            reject(signal.reason);
          });
        }),
    };
    const report = await runHealthChecks([silent], 50);
    assert.equal(report.status, 'down');
    assert.equal(report.checks.silent?.code, 'DeadlineExceeded');
    assert.match(String(report.checks.silent?.message), /silent did not answer within 50 ms/);
    assert.ok(aborted, 'the check was aborted');
  });
});

describe('GET /healthz: the OSS check (OSS_VERIFY_OBJECTS=head)', () => {
  const platform = { region: 'cn-hangzhou', credentials: DEFAULT_CREDENTIALS };
  const objects = (endpoint: string, allowed = 'examplebucket') => configFromEnv({ OSS_ENDPOINT: endpoint, OSS_ALLOWED_BUCKETS: allowed, OSS_VERIFY_OBJECTS: 'head' });

  it('is there only when object verification is on', () => {
    assert.equal(ossCheck(configFromEnv({ OSS_VERIFY_OBJECTS: 'off', OSS_ALLOWED_BUCKETS: 'b1' })), undefined);
    assert.equal(ossCheck(configFromEnv({ OSS_ALLOWED_BUCKETS: 'b1' }))?.name, 'oss');
  });

  it('200 while the local OSS answers (404 NoSuchKey for the probe key); 503 naming oss once it is stopped', async () => {
    const emulator = await startOssEmulator({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'oss-cb-health-')), buckets: new Set(['examplebucket']) });
    const url = tempDatabaseUrl();
    const check = ossCheck(objects(emulator.url), { platform })!;
    let closed = false;
    try {
      const up = await healthz({ databaseUrl: url, checks: [storeCheck(url), check] });
      assert.equal(up.status, 200, JSON.stringify(up.body));
      assert.equal(up.body.checks.oss.status, 'ok');
      assert.equal(up.body.checks.oss.endpoint, emulator.url);
      assert.equal(up.body.checks.oss.bucket, 'examplebucket');
      await emulator.close();
      closed = true;
      const down = await healthz({ databaseUrl: url, checks: [storeCheck(url), check] });
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal(down.body.status, 'down');
      assert.equal(down.body.checks.store.status, 'ok');
      assert.equal(down.body.checks.oss.status, 'down');
      assert.equal(down.body.checks.oss.code, 'OssUnavailable');
      assert.match(down.body.checks.oss.message, /ECONNREFUSED/);
    } finally {
      if (!closed) await emulator.close();
    }
  });

  it('503 OssAccessDenied naming the credentials when OSS refuses them; 503 naming NoSuchBucket for a bucket OSS does not have', async () => {
    const emulator = await startOssEmulator({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'oss-cb-health-')), buckets: new Set(['examplebucket']) });
    try {
      const wrongKey = ossCheck(objects(emulator.url), { platform: { ...platform, credentials: { accessKeyId: DEFAULT_CREDENTIALS.accessKeyId, accessKeySecret: 'not-the-secret' } } })!;
      const refused = await runHealthChecks([wrongKey]);
      assert.equal(refused.status, 'down');
      assert.equal(refused.checks.oss?.code, 'OssAccessDenied');
      assert.match(String(refused.checks.oss?.message), /SignatureDoesNotMatch 403/);
      assert.match(String(refused.checks.oss?.message), /credentials/);
      assert.doesNotMatch(JSON.stringify(refused), /not-the-secret/);
      const noBucket = await runHealthChecks([ossCheck(objects(emulator.url, 'otherbucket'), { platform })!]);
      assert.equal(noBucket.checks.oss?.code, 'OssUnavailable');
      assert.match(String(noBucket.checks.oss?.message), /NoSuchBucket/);
    } finally {
      await emulator.close();
    }
  });
});
