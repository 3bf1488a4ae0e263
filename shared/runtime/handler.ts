/**
 * `createHandler(job)` is what every function exports as `handler`: the FC 3.0 event handler
 * (`index.handler` in s.yaml). The runtime (configuration, keys, store) is built from environment
 * variables on the first invocation and reused while the instance lives.
 */
import type { Job } from '../core/job.js';
import { handleCallback, type Runtime, runtimeFromEnv } from '../core/pipeline.js';
import { CallbackError, errorReply, isCallbackError } from '../protocol/index.js';
import { type Fc3Context, type Fc3HttpResult, fc3ToRequest, parseFc3Event, responseToFc3 } from './fc3.js';

export type Fc3Handler = (event: unknown, context?: Fc3Context) => Promise<Fc3HttpResult>;

export function createHandler(job: Job, runtime?: () => Runtime): Fc3Handler {
  const getRuntime = runtime ?? runtimeFromEnv;
  return async (event, context) => {
    let request;
    try {
      request = fc3ToRequest(parseFc3Event(event), context);
    } catch (caught) {
      const error = isCallbackError(caught) ? caught : new CallbackError('InvalidEvent', String(caught));
      return responseToFc3(errorReply(error, context?.requestId ?? 'unknown'));
    }
    let current: Runtime;
    try {
      current = getRuntime();
    } catch (caught) {
      // A configuration mistake (e.g. a malformed OSS_CALLBACK_PATH_MAP) is reported, not thrown.
      const message = caught instanceof Error ? caught.message : String(caught);
      return responseToFc3(errorReply(new CallbackError('Internal', `configuration error: ${message}`), request.requestId));
    }
    return responseToFc3(await handleCallback(job, request, current));
  };
}
