/**
 * The errors of the store layer. A backend turns a driver error into one of:
 * - `CallbackError('StoreUnavailable')` when the store cannot be reached or used right now (the
 *   message names the likely cause, never a password);
 * - `UniqueViolation` when a write hits a unique key;
 * - the driver's error unchanged otherwise (a bug: bad SQL, a constraint the job should have checked).
 */
import type { Socket } from 'node:net';
import { CallbackError } from '../protocol/errors.js';

export class UniqueViolation extends Error {
  readonly code = 'UniqueViolation';
  constructor(
    readonly table: string,
    options: { cause?: unknown } = {},
  ) {
    super(`duplicate key in ${table}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UniqueViolation';
  }
}

export function isUnavailable(error: unknown): error is CallbackError {
  return error instanceof CallbackError && error.code === 'StoreUnavailable';
}

/** `StoreUnavailable: <label>: <reason>`; `secret` (the password) is blanked should it appear anywhere. */
export function unavailable(label: string, reason: string, cause?: unknown, secret?: string): CallbackError {
  let message = `${label}: ${reason}`;
  if (secret) message = message.split(secret).join('***');
  return new CallbackError('StoreUnavailable', message, { cause });
}

/** `code` of an error or of the first error of an AggregateError (Node's happy-eyeballs connect). */
export function errorCode(error: unknown): string | number | undefined {
  const e = error as { code?: string | number; errors?: { code?: string }[] } | null;
  return e?.code ?? e?.errors?.[0]?.code;
}

/** Why a TCP connection failed, from Node's error codes; undefined when it is not a network error. */
export function networkReason(error: unknown, host: string, port: number, connectTimeoutMs: number): string | undefined {
  switch (errorCode(error)) {
    case 'ECONNREFUSED':
      return `connection refused by ${host}:${port} (is the server running and listening there?)`;
    case 'ETIMEDOUT':
      return `timed out connecting to ${host}:${port} after ${connectTimeoutMs} ms (host down or firewalled?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host name "${host}"`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${host}:${port}`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `connection to ${host}:${port} was reset`;
    default:
      return undefined;
  }
}

/** Event-loop utilization at or above which a connect timeout is put down to this process being overloaded. */
export const OVERLOADED_UTILIZATION = 0.9;

/**
 * A connect-timeout `reason` told apart: when this process's event loop was busy (utilization since
 * `since`, a `performance.eventLoopUtilization()` taken when the connect began) at least 90% of the
 * time, the timeout says local overload, not "host down or firewalled": the connection's own events
 * were waiting behind other work. Other reasons are returned unchanged.
 */
export function connectTimeoutReason(reason: string, since: EventLoopUtilization | undefined): string {
  if (!since || !/^timed out connecting/.test(reason)) return reason;
  const { utilization } = performance.eventLoopUtilization(since);
  if (utilization < OVERLOADED_UTILIZATION) return reason;
  return reason.replace(
    / \(host down or firewalled\?\)$/,
    ` while this process was busy ${Math.round(utilization * 100)}% of the time: local overload (too much concurrent work for this CPU), not a network fault; lower the load or raise connect_timeout_ms`,
  );
}

type EventLoopUtilization = ReturnType<typeof performance.eventLoopUtilization>;

export { raceAbort } from '../protocol/abort.js';

/** Rejects with a StoreUnavailable (built by `onTimeout`) when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Where a store URL points, for logs: scheme, user, host, port, database; never the password or parameters. */
export function storeLabel(url: string): string {
  const scheme = url.slice(0, Math.max(0, url.indexOf(':')));
  if (scheme === 'sqlite') return `sqlite:${url.slice('sqlite:'.length).split('?')[0]}`;
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.host}${u.pathname}`;
  } catch {
    return `${scheme || '?'}:(unparseable URL)`;
  }
}

/**
 * Closes a driver's socket with a TCP reset (RST) instead of a normal close (FIN): whatever this end
 * has not delivered yet (a COMMIT stuck in the send queue while the network is down) is discarded
 * rather than sent after the close, and the server drops the session (rolling back) as soon as the
 * reset arrives. `socket` is the driver's stream; for TLS, its TCP socket is reset. The driver's own
 * destroy should follow (it cleans up its state; this only makes the close abortive).
 */
export function resetSocket(socket: unknown): void {
  const stream = socket as (Socket & { _parent?: unknown }) | undefined;
  const tcp = (stream?._parent ?? stream) as Partial<Socket> | undefined;
  try {
    if (typeof tcp?.resetAndDestroy === 'function' && !tcp.destroyed) tcp.resetAndDestroy();
  } catch {
    // not a TCP socket (or already closed): the driver's destroy closes it normally
  }
}
