/**
 * The event a Function Compute OSS trigger delivers, read into validated `OssObjectEvent`s.
 *
 * FC 3.0 and FC 2.0 event functions get the same payload: the handler's first argument is a Buffer
 * holding `{"events":[{ eventName, eventSource: "acs:oss", eventTime, region, oss: { bucket: { name },
 * object: { key, eTag, size, … } }, requestParameters: { sourceIPAddress }, responseElements:
 * { requestId } }]}` (a string or an already parsed object in tests and some tools). Every published
 * sample has one record; we handle any number.
 *
 *  - The top level is recognised by its `events` property (`isOssTriggerEvent`); an FC HTTP trigger
 *    event never has one, and an OSS event never has `requestContext.http`.
 *  - Not JSON, or `events` not an array → `InvalidEvent` thrown by `parseOssEvent`.
 *  - One record that cannot be read (no bucket or key, not `acs:oss`, an unknown event family, a
 *    `created` event without ETag or size) → an `InvalidEvent` issue for that record; the others go on.
 *  - `ObjectCreated:*` / `ObjectRemoved:*` names the jobs have no use for (UploadPart,
 *    InitiateMultipartUpload, PutSymlink, AbortMultipartUpload, …) → a `Skipped` issue.
 *  - Keys are used as sent: FC OSS events carry the raw key (FC's own samples pass it to OSS
 *    unchanged; no sample shows percent-encoding), so a `%` or `+` in a key is kept.
 */
import { type OssEventIssue, type OssEventKind, type OssObjectEvent, normalizeEtag } from '../core/events.js';
import { CallbackError } from '../protocol/errors.js';

/** Event names handed to jobs. AppendObject counts as created: the event carries the new size and ETag. */
export const OSS_EVENT_KINDS: Readonly<Record<string, OssEventKind>> = {
  'ObjectCreated:PutObject': 'created',
  'ObjectCreated:PostObject': 'created',
  'ObjectCreated:CompleteMultipartUpload': 'created',
  'ObjectCreated:CopyObject': 'created',
  'ObjectCreated:AppendObject': 'created',
  'ObjectRemoved:DeleteObject': 'removed',
  'ObjectRemoved:DeleteObjects': 'removed',
};

export interface ParsedOssEvent {
  events: OssObjectEvent[];
  issues: OssEventIssue[];
}

/** The JSON value of an FC event argument (Buffer, Uint8Array or string); other values as they are; undefined when not JSON. */
export function eventJson(event: unknown): unknown {
  if (!(Buffer.isBuffer(event) || event instanceof Uint8Array || typeof event === 'string')) return event;
  const text = typeof event === 'string' ? event : Buffer.from(event).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** True for an (already parsed) OSS trigger event: a plain object with an `events` property. */
export function isOssTriggerEvent(value: unknown): value is { events: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.prototype.hasOwnProperty.call(value, 'events');
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const object = (value: unknown): Record<string, unknown> => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {});

function size(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}

/** One record → an event, or the reason it is not one. */
function readRecord(record: unknown, index: number): OssObjectEvent | OssEventIssue {
  const r = object(record);
  const oss = object(r.oss);
  const o = object(oss.object);
  const name = text(r.eventName);
  const bucket = text(object(oss.bucket).name);
  const key = text(o.key);
  const issue = (code: OssEventIssue['code'], message: string): OssEventIssue => ({
    index,
    code,
    message,
    ...(name ? { name } : {}),
    ...(bucket ? { bucket } : {}),
    ...(key ? { key } : {}),
  });
  const where = `events[${index}]`;
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return issue('InvalidEvent', `${where} is not an object`);
  if (r.eventSource !== 'acs:oss') return issue('InvalidEvent', `${where}.eventSource is ${JSON.stringify(r.eventSource)}, not "acs:oss": not an OSS event`);
  if (!name) return issue('InvalidEvent', `${where} has no eventName`);
  const family = name.slice(0, name.indexOf(':'));
  const kind = OSS_EVENT_KINDS[name];
  if (!kind) {
    if (family === 'ObjectCreated' || family === 'ObjectRemoved') {
      return issue('Skipped', `${name} is not an object upload or deletion the jobs handle; list only the handled events (oss:ObjectCreated:PutObject, PostObject, CompleteMultipartUpload, …) in the trigger`);
    }
    return issue('InvalidEvent', `${where}.eventName ${JSON.stringify(name)} is not an ObjectCreated or ObjectRemoved event: the OSS trigger should list only oss:ObjectCreated:* and oss:ObjectRemoved:* events`);
  }
  if (!bucket) return issue('InvalidEvent', `${where}.oss.bucket.name is missing`);
  if (!key) return issue('InvalidEvent', `${where}.oss.object.key is missing`);
  const eventTime = new Date(typeof r.eventTime === 'string' ? r.eventTime : Number.NaN);
  if (Number.isNaN(eventTime.getTime())) return issue('InvalidEvent', `${where}.eventTime ${JSON.stringify(r.eventTime)} is not an ISO 8601 time`);
  const etag = text(o.eTag);
  const bytes = size(o.size);
  if (kind === 'created' && !etag) return issue('InvalidEvent', `${where}.oss.object.eTag is missing from an ${name} event`);
  if (kind === 'created' && bytes === undefined) return issue('InvalidEvent', `${where}.oss.object.size ${JSON.stringify(o.size)} is not a byte count`);
  const event: OssObjectEvent = { kind, name, bucket, key, eventTime };
  if (etag) event.etag = normalizeEtag(etag);
  if (bytes !== undefined) event.size = bytes;
  const requestId = text(object(r.responseElements).requestId);
  if (requestId) event.requestId = requestId;
  const sequencer = text(o.sequencer);
  if (sequencer) event.sequencer = sequencer;
  const region = text(r.region);
  if (region) event.region = region;
  const mimeType = text(object(o.objectMeta).mimeType);
  if (mimeType) event.mimeType = mimeType;
  const sourceIp = text(object(r.requestParameters).sourceIPAddress);
  if (sourceIp) event.sourceIp = sourceIp;
  return event;
}

/**
 * An FC OSS trigger event (Buffer, string or parsed object) → its events and the records that are
 * not events. Throws `InvalidEvent` when the whole thing is unreadable.
 */
export function parseOssEvent(input: unknown): ParsedOssEvent {
  const parsed = eventJson(input);
  if (parsed === undefined) throw new CallbackError('InvalidEvent', 'the OSS event is not JSON: an FC OSS trigger delivers {"events":[…]}');
  if (!isOssTriggerEvent(parsed) || !Array.isArray(parsed.events)) {
    throw new CallbackError('InvalidEvent', 'the event has no "events" array: not an FC OSS trigger event ({"events":[…]})');
  }
  const result: ParsedOssEvent = { events: [], issues: [] };
  parsed.events.forEach((record, index) => {
    const read = readRecord(record, index);
    if ('code' in read) result.issues.push(read);
    else result.events.push(read);
  });
  return result;
}
