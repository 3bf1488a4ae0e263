/**
 * Reading a request body from a Node socket, bounded in size and in time: the local server's
 * callback path (node.ts) and its FC invoke API (fc-api.ts) both use it.
 *
 * - Size: a declared Content-Length over the limit is refused before any byte is read; a body
 *   that grows past it (chunked, or lying) is refused at that point, and nothing more is kept.
 * - Time: a client that sends its headers and then trickles (or stalls) the body is refused when
 *   `timeoutMs` has passed since reading began, however many bytes it sent meanwhile.
 *
 * On either refusal the caller answers with a JSON error and closes the connection
 * (`closeAfterReply`): the rest of the body is never kept.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface BodyLimits {
  /** Largest body in bytes. */
  limit: number;
  /** Longest time to receive the whole body, from the call. */
  timeoutMs: number;
  tooLarge(): Error;
  timedOut(): Error;
}

export function readLimitedBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limits.limit) {
      reject(limits.tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.limit) finish(limits.tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (error: Error): void => finish(error);
    const timer = setTimeout(() => finish(limits.timedOut()), limits.timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** How long a refused client may go on sending (discarded) before its connection is cut. */
export const LINGER_MS = 1000;

/**
 * Marks the reply as the connection's last, for refusals that leave an unread (too large, or
 * stalled) body on the connection: once the reply is sent the socket is half-closed, whatever
 * the client still sends is discarded for at most LINGER_MS (so it can read the reply rather than
 * a reset), then the socket is destroyed.
 */
export function closeAfterReply(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('connection', 'close');
  req.resume();
  res.once('finish', () => {
    const socket = req.socket;
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}
