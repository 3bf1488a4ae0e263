/**
 * `newId()`: a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter seeded at
 * random each millisecond, then 62 random bits. Ids sort by creation time (within one process, strictly),
 * so new rows land at the end of primary-key indexes instead of scattering across them.
 */
import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let counter = 0;

export function newId(): string {
  const bytes = randomFillSync(new Uint8Array(16));
  let ms = Date.now();
  if (ms > lastMs) {
    counter = ((bytes[6]! & 0x07) << 8) | bytes[7]!; // start in the lower half: room to count up
  } else {
    ms = lastMs; // same millisecond, or the clock went back: keep counting from the last id
    counter += 1;
    if (counter > 0xfff) {
      ms += 1; // counter exhausted: borrow the next millisecond
      counter = 0;
    }
  }
  lastMs = ms;
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | (counter >>> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
