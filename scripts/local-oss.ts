/**
 * `npm start`'s local OSS endpoint (shared/testing/oss-emulator), wired to the local functions: the
 * key pair is the local FC API's, callbacks are signed with the development key the functions trust,
 * and each OSS event goes to the handler of every local callback function whose trigger's key filter
 * matches, as FC invokes it (`handler(eventBuffer, context)`); a thrown error is a failed invocation,
 * retried as FC retries. The filters are s.yaml's: `<JOB>_EVENT_PREFIX` / `_SUFFIX`, default
 * `uploads/<job>/` (shared/core/event-filter.ts), so a local run gets the events a deploy gets.
 */
import { randomBytes } from 'node:crypto';
import { eventKeyFilter, type KeyFilter, triggerConflicts } from '../shared/core/event-filter.js';
import type { LocalFcContext } from '../shared/runtime/fc-api.js';
import { type FilteredEventTarget, parseCorsOrigins, startOssEmulator } from '../shared/testing/oss-emulator/index.js';
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

/** The events local OSS emits (every one is in each job's event list in s.yaml). */
const LOCAL_EVENTS = ['oss:ObjectCreated:PutObject', 'oss:ObjectCreated:PostObject', 'oss:ObjectCreated:CompleteMultipartUpload', 'oss:ObjectRemoved:DeleteObject', 'oss:ObjectRemoved:DeleteObjects'];

/**
 * One event target per local OSS callback function: its handler, invoked as FC invokes it for an OSS
 * trigger, behind its trigger's key filter (from `env`, as s.yaml reads it).
 */
export function functionEventTargets(
  functions: readonly AnyLoadedFunction[],
  platform: { region: string; accountId: string; credentials: LocalOssSettings['credentials'] },
  env: NodeJS.ProcessEnv = process.env,
): (FilteredEventTarget & KeyFilter & { name: string })[] {
  return functions
    .filter((fn) => fn.kind === 'callback')
    .map((fn) => {
      const deliver = async (event: Buffer, attempt: { retryCount: number }) => {
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
      };
      return { name: fn.name, ...eventKeyFilter(fn.name, env), deliver };
    });
}

export async function startLocalOss(functions: readonly AnyLoadedFunction[], settings: LocalOssSettings) {
  const region = process.env.FC_REGION?.trim() || 'cn-hangzhou';
  const accountId = process.env.FC_ACCOUNT_ID?.trim() || '0000000000000000';
  const credentials = { accessKeyId: settings.credentials.accessKeyId, accessKeySecret: settings.credentials.accessKeySecret };
  const targets = functionEventTargets(functions, { region, accountId, credentials });
  // What a deploy to one bucket would refuse (semantic uniqueness), said at start; locally each job still gets its events.
  const conflicts = triggerConflicts(targets.map((t) => ({ name: t.name, sourceArn: 'one bucket', events: LOCAL_EVENTS, prefix: t.prefix, suffix: t.suffix })));
  const emulator = await startOssEmulator({
    port: settings.port,
    host: settings.host,
    dataDir: settings.dataDir,
    buckets: settings.buckets,
    credentials,
    region,
    accountId,
    corsOrigins: parseCorsOrigins(settings.corsOrigins),
    eventTargets: targets,
    log: settings.log,
  });
  const banner = [
    `local OSS (emulator) on ${emulator.url}  region ${region}, buckets ${settings.buckets === '*' ? 'any' : [...settings.buckets].join(', ')}, data in ${settings.dataDir}`,
    `  key pair: ${credentials.accessKeyId} / ${credentials.accessKeySecret}`,
    `  ali-oss:  new OSS({ endpoint: '${emulator.url}', region: 'oss-${region}', bucket: 'examplebucket', accessKeyId: '${credentials.accessKeyId}', accessKeySecret: '${credentials.accessKeySecret}' })`,
    '  events:   each create/delete goes to the jobs whose OSS trigger filter matches its key (<JOB>_EVENT_PREFIX/_SUFFIX, as s.yaml):',
    ...targets.map((t) => `            ${t.prefix}*${t.suffix}  → ${t.name}`),
  ];
  const notices = conflicts.map((conflict) => `local OSS event filters that a deploy would refuse: ${conflict}`);
  return { emulator, banner, notices };
}
