/**
 * The one request/response shape between the runtime adapters (FC 3.0, FC 2.0, AWS Lambda, the local
 * Node server) and the callback core. Adapters only translate; everything the OSS protocol says
 * lives in `shared/protocol`, and the pipeline in `shared/core/pipeline.ts`.
 */
import type { PlatformContext } from './platform.js';

export interface CallbackRequest {
  /** HTTP method, upper case. */
  method: string;
  /** The path exactly as it arrived on the wire: percent-encoded, without the query. */
  rawPath: string;
  /**
   * The raw query string after `?`, exactly as sent; `''` when the target ended in a bare `?`, and
   * `null` when there was no `?` at all. The distinction matters: OSS signs the `?` only if present.
   */
  rawQuery: string | null;
  /**
   * Other spellings of the query to try when the platform hid the raw one (FC 3.0 only passes a
   * decoded `queryParameters` map). The verifier tries `rawQuery` first, then these, in order.
   */
  altQueries?: readonly (string | null)[];
  /** Header names lower-cased; repeated headers joined by `, `. */
  headers: Readonly<Record<string, string>>;
  /** The body bytes exactly as received (after undoing a platform's base64 transport encoding). */
  body: Buffer;
  /** Client address as the platform reports it (informational; never used for trust decisions). */
  sourceIp?: string;
  /** The platform's request id (FC context.requestId, Lambda awsRequestId, or a generated one). */
  requestId: string;
  /** When the platform received the request (epoch ms), if it says so. Used for the deadline. */
  receivedAt?: number;
  /** Region, account and role credentials the platform passed (FC `context`), for jobs that call cloud APIs. */
  platform?: PlatformContext;
}

export interface CallbackResponse {
  status: number;
  /** Lower-case header names. Always includes content-type and content-length. */
  headers: Record<string, string>;
  /** Always a non-empty JSON document. */
  body: Buffer;
}
