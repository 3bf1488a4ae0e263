/**
 * The one request/response shape between the runtime adapters (FC 3.0, FC 2.0, AWS Lambda, the local
 * Node server) and the callback core. Adapters only translate; everything the OSS protocol says
 * lives in `shared/protocol`, and the pipeline in `shared/core/pipeline.ts`.
 */
import type { HttpReply, SignedRequest } from '../protocol/http.js';
import type { PlatformContext } from './platform.js';

export interface CallbackRequest extends SignedRequest {
  /** HTTP method, upper case. */
  method: string;
  /** Client address as the platform reports it (informational; never used for trust decisions). */
  sourceIp?: string;
  /** The platform's request id (FC context.requestId, Lambda awsRequestId, or a generated one). */
  requestId: string;
  /** When the platform received the request (epoch ms), if it says so. Used for the deadline. */
  receivedAt?: number;
  /** Region, account and role credentials the platform passed (FC `context`), for jobs that call cloud APIs. */
  platform?: PlatformContext;
}

export type CallbackResponse = HttpReply;
