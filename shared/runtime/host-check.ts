/**
 * The Host check of the local server (`npm start`: callbacks and the FC invoke API). People run it on
 * laptops and shared hosts, where any web page the browser opens can send it requests: a page on
 * another site whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) reaches it with that
 * site's name in Host. So only requests addressed to an expected name are answered: loopback
 * names, the configured HOST, and LOCAL_ALLOWED_HOSTS.
 */
import type { IncomingMessage } from 'node:http';
import { CallbackError } from '../protocol/index.js';

/** The names every local server answers to. */
export const LOOPBACK_HOST_NAMES = ['localhost', '127.0.0.1', '[::1]'] as const;

/**
 * The local server answers only requests addressed to it by a name it expects: a web page on
 * another site whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) sends its own Host and is
 * refused. `allowed` are host names without port (lower case; IPv6 in brackets); the port is not checked.
 */
export function hostCheck(allowed: readonly string[]): (req: IncomingMessage) => CallbackError | undefined {
  const names = new Set(allowed.map((name) => name.trim().toLowerCase()).filter(Boolean));
  return (req) => {
    const host = (req.headers.host ?? '').trim().toLowerCase();
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
    const rest = host.slice(name.length);
    if (name !== '' && names.has(name) && (rest === '' || /^:\d{1,5}$/.test(rest))) return undefined;
    return new CallbackError(
      'HostNotAllowed',
      `this local server answers only Host ${[...names].join(', ')}, not ${JSON.stringify(req.headers.host ?? '(none)')} ` +
        '(a DNS-rebinding page, or a name you use for this machine: add it to LOCAL_ALLOWED_HOSTS, comma-separated)',
    );
  };
}

/** The names a server listening on `host` answers to, besides loopback. */
export function allowedHostsFor(host: string, extra: string | undefined): string[] {
  const own = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const wildcard = own === '0.0.0.0' || own === '[::]' || own === '';
  return [...LOOPBACK_HOST_NAMES, ...(wildcard ? [] : [own]), ...(extra ?? '').split(',')];
}

/** Whether `host` (HOST of the local server) only listens on loopback. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}
