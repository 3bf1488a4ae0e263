/**
 * `npm start`'s local OSS endpoint (shared/testing/oss-emulator), wired to the local functions: the
 * key pair is the local FC API's, callbacks are signed with the development key the functions trust,
 * and each OSS event goes to every local callback function's handler as FC invokes it
 * (`handler(eventBuffer, context)`); a thrown error is a failed invocation, retried as FC retries.
 */
import { randomBytes } from 'node:crypto';
import type { LocalFcContext } from '../shared/runtime/fc-api.js';
import { type EventTarget, parseCorsOrigins, startOssEmulator } from '../shared/testing/oss-emulator/index.js';
import type { AnyLoadedFunction } from './functions.js';

export interface LocalOssSettings {
  port: number;
  host: string;
  dataDir: string;
  buckets: '*' | ReadonlySet<string>;
  corsOrigins: string | undefined;
  credentials: { accessKeyId: string; accessKeySecret: string };
  log?: (line: Record<string, unknown>) => void;
}

/** One event target per local OSS callback function: its handler, invoked as FC invokes it for an OSS trigger. */
export function functionEventTargets(functions: readonly AnyLoadedFunction[], platform: { region: string; accountId: string; credentials: LocalOssSettings['credentials'] }): EventTarget[] {
  return functions
    .filter((fn) => fn.kind === 'callback')
    .map((fn) => async (event: Buffer, attempt: { retryCount: number }) => {
      const context: LocalFcContext = {
        requestId: `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
        credentials: { ...platform.credentials },
        function: { name: fn.name, handler: 'index.handler', memory: 512, timeout: 60 },
        service: { qualifier: 'LATEST' },
        region: platform.region,
        accountId: platform.accountId,
        retryCount: attempt.retryCount,
      };
      return (fn.handler as (event: Buffer, context: LocalFcContext) => unknown)(event, context);
    });
}

export async function startLocalOss(functions: readonly AnyLoadedFunction[], settings: LocalOssSettings) {
  const region = process.env.FC_REGION?.trim() || 'cn-hangzhou';
  const accountId = process.env.FC_ACCOUNT_ID?.trim() || '0000000000000000';
  const credentials = { accessKeyId: settings.credentials.accessKeyId, accessKeySecret: settings.credentials.accessKeySecret };
  const emulator = await startOssEmulator({
    port: settings.port,
    host: settings.host,
    dataDir: settings.dataDir,
    buckets: settings.buckets,
    credentials,
    region,
    accountId,
    corsOrigins: parseCorsOrigins(settings.corsOrigins),
    eventTargets: functionEventTargets(functions, { region, accountId, credentials }),
    log: settings.log,
  });
  const banner = [
    `local OSS (emulator) on ${emulator.url}  region ${region}, buckets ${settings.buckets === '*' ? 'any' : [...settings.buckets].join(', ')}, data in ${settings.dataDir}`,
    `  key pair: ${credentials.accessKeyId} / ${credentials.accessKeySecret}`,
    `  ali-oss:  new OSS({ endpoint: '${emulator.url}', region: 'oss-${region}', bucket: 'examplebucket', accessKeyId: '${credentials.accessKeyId}', accessKeySecret: '${credentials.accessKeySecret}' })`,
    `  events:   each create/delete goes to ${functions.filter((f) => f.kind === 'callback').map((f) => f.name).join(', ')}`,
  ];
  return { emulator, banner };
}
