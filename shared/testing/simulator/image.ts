/**
 * `imageInfo.width`, `imageInfo.height`, `imageInfo.format` the way OSS fills them in for an image
 * object: read from the file header, never by decoding the image. PNG, JPEG, GIF and WebP (lossy
 * VP8, lossless VP8L, extended VP8X). Anything else is "not an image": OSS leaves the three empty.
 * Formats are OSS's image-info names: png, jpg, gif, webp.
 */
export interface ImageInfo {
  width: number;
  height: number;
  format: 'png' | 'jpg' | 'gif' | 'webp';
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ascii(bytes: Buffer, start: number, length: number): string {
  return bytes.toString('latin1', start, start + length);
}

function png(bytes: Buffer): ImageInfo | undefined {
  // Signature, then the IHDR chunk first: length(4) "IHDR" width(4) height(4), big-endian.
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE) || ascii(bytes, 12, 4) !== 'IHDR') return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), format: 'png' };
}

function gif(bytes: Buffer): ImageInfo | undefined {
  // "GIF87a"/"GIF89a", then the logical screen width and height, little-endian.
  if (bytes.length < 10 || !/^GIF8[79]a$/.test(ascii(bytes, 0, 6))) return undefined;
  return { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8), format: 'gif' };
}

/** Start-of-frame markers (baseline, extended, progressive, lossless...): not DHT, JPG, DAC. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpeg(bytes: Buffer): ImageInfo | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image / scan before any frame
    const length = bytes.readUInt16BE(offset + 2);
    if (isStartOfFrame(marker)) {
      if (offset + 9 > bytes.length) return undefined;
      // length(2) precision(1) height(2) width(2)
      return { width: bytes.readUInt16BE(offset + 7), height: bytes.readUInt16BE(offset + 5), format: 'jpg' };
    }
    offset += 2 + length;
  }
  return undefined;
}

function webp(bytes: Buffer): ImageInfo | undefined {
  if (bytes.length < 30 || ascii(bytes, 0, 4) !== 'RIFF' || ascii(bytes, 8, 4) !== 'WEBP') return undefined;
  const chunk = ascii(bytes, 12, 4);
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (2 bits of scale each).
    if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) return undefined;
    return { width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff, format: 'webp' };
  }
  if (chunk === 'VP8L') {
    // Signature 0x2f, then width-1 (14 bits) and height-1 (14 bits), little-endian bit order.
    if (bytes[20] !== 0x2f) return undefined;
    const bits = bytes.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, format: 'webp' };
  }
  if (chunk === 'VP8X') {
    // Flags(1) reserved(3), then canvas width-1 and height-1, 24 bits each, little-endian.
    return { width: bytes.readUIntLE(24, 3) + 1, height: bytes.readUIntLE(27, 3) + 1, format: 'webp' };
  }
  return undefined;
}

/** The image facts of a file's first bytes (a few KB are plenty), or undefined when it is not an image we read. */
export function imageInfo(header: Buffer): ImageInfo | undefined {
  return png(header) ?? gif(header) ?? jpeg(header) ?? webp(header);
}
