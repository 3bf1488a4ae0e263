/**
 * The baseline of the server benchmark: a bare node:http server that reads the request body and
 * answers a fixed JSON body (the size of a record-upload reply). Prints "listening on <url>" to
 * stderr, like `npm start`. PORT (default 0: any free port), HOST (default 127.0.0.1).
 */
import { createServer } from 'node:http';

const reply = Buffer.from(JSON.stringify({ id: '0193a8f2-6c1e-7b2a-9d4f-2f0c5e8b1a77', duplicate: false }));
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(reply.length) };

const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(reply);
  });
});
server.keepAliveTimeout = 5000;
server.headersTimeout = 10000;

const host = process.env.HOST ?? '127.0.0.1';
server.listen(Number(process.env.PORT ?? 0), host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stderr.write(`bare node:http server listening on http://${host}:${port}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
