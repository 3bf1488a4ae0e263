/**
 * The baseline of the custom-runtime benchmark: a minimal correct node:http server for
 * record-upload callbacks (bench/lib/minimal.ts: RSA-MD5 verify with a cached key, URLSearchParams,
 * one raw INSERT … ON CONFLICT DO NOTHING RETURNING through a `pg` pool), answering the same JSON
 * reply. DATABASE_URL (postgres://), POOL_MAX (connections), BENCH_PUBLIC_KEY_PEM (the signer's
 * key), PORT (default 0), HOST (default 127.0.0.1). Prints "listening on <url>" to stderr.
 */
import { createServer } from 'node:http';
import pg from 'pg';
import { postgresDialect } from '../../shared/store/sql.js';
import { minimalParams, minimalStatement, useMinimalKey } from '../lib/minimal.js';

useMinimalKey(process.env.BENCH_PUBLIC_KEY_PEM!);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_MAX ?? 2) });
const sql = minimalStatement(postgresDialect);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    let status = 200;
    let body: string;
    try {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
      const params = minimalParams({ method: 'POST', rawPath: req.url ?? '/', rawQuery: null, headers, body: Buffer.concat(chunks), requestId: '', receivedAt: Date.now() }, (date) => date.toISOString());
      const result = await pool.query(sql, params);
      body = JSON.stringify({ id: result.rows[0]?.id ?? params[0], duplicate: result.rows.length === 0 });
    } catch (error) {
      status = 500;
      body = JSON.stringify({ error: String(error) });
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
});
server.keepAliveTimeout = 5000;

const host = process.env.HOST ?? '127.0.0.1';
server.listen(Number(process.env.PORT ?? 0), host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stderr.write(`minimal record-upload server listening on http://${host}:${port}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => void pool.end().finally(() => process.exit(0))));
