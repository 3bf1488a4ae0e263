/**
 * The HTTP server of an FC 3.0 custom-runtime deployment (`npm run build:server`, s.custom-runtime.yaml):
 * one job, at any path, on 0.0.0.0:FC_SERVER_PORT (default 9000, customRuntimeConfig.port; HOST
 * overrides the address for local runs). Unlike the
 * built-in nodejs20 runtime, which sends an instance one request at a time, a custom runtime with
 * `instanceConcurrency` N sends up to N callbacks at once to this one process: they share its key
 * cache, its compiled schemas and its database pool (DATABASE_POOL_MAX connections, not one per
 * request).
 *
 * FC's request id (`x-fc-request-id`) becomes the callback's requestId. SIGTERM closes the listener
 * and the store.
 */
import { createServer, type Server } from 'node:http';
import type { Job } from '../core/job.js';
import { runtimeFromEnv } from '../core/pipeline.js';
import { closeStores } from '../store/index.js';
import { createJobListener } from './node.js';

export interface JobServerOptions {
  port?: number;
  host?: string;
}

export function startJobServer(job: Job, options: JobServerOptions = {}): Server {
  const port = options.port ?? Number(process.env.FC_SERVER_PORT || 9000);
  // FC reaches the server from outside the instance: not 127.0.0.1 (HOST for local runs).
  const host = options.host ?? (process.env.HOST || '0.0.0.0');
  const listener = createJobListener(job, runtimeFromEnv, (req) => {
    const id = req.headers['x-fc-request-id'];
    return typeof id === 'string' && id !== '' ? { requestId: id } : {};
  });
  const server = createServer(listener);
  server.keepAliveTimeout = 65_000; // FC's front end keeps connections to the instance open
  server.listen(port, host, () => {
    const address = server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    process.stderr.write(`${job.name} listening on http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${bound}\n`);
  });
  process.once('SIGTERM', () => {
    server.close();
    server.closeIdleConnections();
    void closeStores().finally(() => process.exit(0));
  });
  return server;
}
