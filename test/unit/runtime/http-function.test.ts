/**
 * Plain HTTP functions (defineHttpFunction) behind the same adapters as the callback jobs: FC 3.0
 * events, the node listener (local server routing), and the error contract (stable codes, Internal
 * without details, reply headers on refusals too, one log line).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { defineHttpFunction } from '../../../shared/core/http-function.js';
import { CallbackError } from '../../../shared/protocol/errors.js';
import { jsonReply } from '../../../shared/protocol/reply.js';
import { createHttpHandler } from '../../../shared/runtime/handler.js';
import { createNodeListener } from '../../../shared/runtime/node.js';
import { testRuntime } from '../../helpers/callbacks.js';

const lines: Record<string, unknown>[] = [];
const echo = defineHttpFunction({
  name: 'echo-http',
  maxBodyBytes: 32,
  replyHeaders: () => ({ 'x-test': 'yes' }),
  async handle(request, context) {
    context.log({ seen: request.method });
    if (request.rawQuery === 'refuse') throw new CallbackError('Nope', 'refused on purpose', { status: 409 });
    if (request.rawQuery === 'crash') throw new Error('secret detail');
    return jsonReply(200, { method: request.method, path: request.rawPath, body: request.body.toString(), region: context.platform.region ?? null });
  },
});
const serve = (r: Parameters<typeof echo.serve>[0]) => echo.serve(r, { log: (line) => lines.push(line) });

const fc3Event = (method: string, body: string, query?: string) => ({
  version: 'v1',
  rawPath: `/x${query ? `?${query}` : ''}`,
  body,
  isBase64Encoded: false,
  headers: {},
  queryParameters: {},
  requestContext: { requestId: 'r1', http: { method, path: '/x' } },
});

describe('plain HTTP functions', () => {
  it('answer through the FC 3.0 adapter, with the platform context', async () => {
    const handler = createHttpHandler(echo);
    const result = await handler(Buffer.from(JSON.stringify(fc3Event('PUT', 'hi'))), { requestId: 'r1', region: 'cn-shanghai' });
    assert.equal(result.statusCode, 200);
    assert.deepEqual(JSON.parse(result.body), { method: 'PUT', path: '/x', body: 'hi', region: 'cn-shanghai' });
    assert.equal(result.headers['x-test'], 'yes');
    const bad = await handler('not json');
    assert.equal(JSON.parse(bad.body).error.code, 'InvalidEvent');
  });

  it('refusals keep their code and the reply headers; crashes are Internal without details; bodies are capped', async () => {
    const base = { method: 'POST', rawPath: '/x', headers: {}, body: Buffer.from(''), requestId: 'r2' };
    lines.length = 0;
    const refused = await serve({ ...base, rawQuery: 'refuse' });
    assert.equal(refused.status, 409);
    assert.equal(refused.headers['x-test'], 'yes');
    assert.deepEqual(JSON.parse(refused.body.toString()), { error: { code: 'Nope', message: 'refused on purpose', requestId: 'r2' } });
    const crashed = await serve({ ...base, rawQuery: 'crash' });
    assert.equal(crashed.status, 500);
    assert.doesNotMatch(crashed.body.toString(), /secret detail/);
    const big = await serve({ ...base, rawQuery: null, body: Buffer.alloc(33) });
    assert.equal(JSON.parse(big.body.toString()).error.code, 'BodyTooLarge');
    assert.deepEqual(lines.map((l) => [l.function, l.outcome, l.status]), [['echo-http', 'Nope', 409], ['echo-http', 'Internal', 500], ['echo-http', 'BodyTooLarge', 413]]);
    assert.match(String(lines[1]!.error), /secret detail/); // in the log, not the reply
  });

  it('the local server routes /<name> to a plain HTTP function next to the jobs', async () => {
    const server = createServer(createNodeListener({ jobs: [], http: [echo], runtime: testRuntime() }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ok = await fetch(`${base}/echo-http/below`, { method: 'POST', body: 'abc' });
      assert.deepEqual((await ok.json()) as object, { method: 'POST', path: '/echo-http/below', body: 'abc', region: null });
      const missing = await fetch(`${base}/nothing`, { method: 'POST' });
      assert.equal(missing.status, 404);
      assert.match(((await missing.json()) as { error: { message: string } }).error.message, /POST \/echo-http/);
    } finally {
      server.close();
    }
  });
});
