/**
 * `GET /healthz` of the local server (shared/runtime/health.ts): a real round trip to the datastore,
 * 503 naming the failed check when it is down, and checks that can be added (e.g. OSS).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { createNodeListener, type LocalServerOptions } from '../../shared/runtime/node.js';
import { type HealthCheck, runHealthChecks, storeCheck } from '../../shared/runtime/health.js';
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
