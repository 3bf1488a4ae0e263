/**
 * OSS_ALLOWED_BUCKETS, read by `parseAllowedBuckets` and checked by `bucketAllowed` (config.ts): the one
 * rule callbacks (pipeline.ts), OSS events (events.ts `bucketRefusal`) and upload-policy's settings use.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketAllowed, parseAllowedBuckets } from '../../../shared/core/config.js';
import { bucketRefusal } from '../../../shared/core/events.js';

const cases: [raw: string | undefined, bucket: string, allowed: boolean][] = [
  [undefined, 'photos', false],
  ['', 'photos', false],
  [' , ', 'photos', false],
  ['*', 'photos', true],
  ['*', '', true],
  ['photos', 'photos', true],
  ['photos', 'Photos', false],
  ['photos', 'photos ', false],
  [' photos , other ', 'other', true],
  ['photos,other', 'third', false],
  ['photos,*', 'third', true],
];

describe('bucketAllowed: OSS_ALLOWED_BUCKETS', () => {
  for (const [raw, bucket, allowed] of cases) {
    it(`${JSON.stringify(raw)} ${allowed ? 'allows' : 'refuses'} ${JSON.stringify(bucket)}`, () => {
      const parsed = parseAllowedBuckets(raw);
      assert.equal(bucketAllowed(bucket, parsed), allowed);
      // The OSS event path says why in its own words, by the same rule.
      const refusal = bucketRefusal(bucket, parsed);
      assert.equal(refusal === undefined, allowed, refusal);
      if (!allowed) assert.match(refusal!, parsed === undefined ? /OSS_ALLOWED_BUCKETS is not set/ : /is not in OSS_ALLOWED_BUCKETS/);
    });
  }
});
