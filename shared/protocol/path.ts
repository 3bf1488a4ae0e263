/**
 * Percent-decoding of the request path, the way OSS decodes it for the string to sign.
 *
 * OSS signs `url_decode(path)`. The decoding is byte-level: `%XX` becomes the byte 0xXX, `+` stays
 * `+` (it is not form encoding), and anything that is not a valid escape is kept as it is. Working on
 * bytes means a path whose escapes do not form valid UTF-8 still round-trips exactly, where
 * `decodeURIComponent` would throw.
 */

const PERCENT = 0x25;

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30; // 0-9
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10; // A-F
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10; // a-f
  return -1;
}

/**
 * Decodes `%XX` escapes into raw bytes. Never throws: an invalid escape (`%zz`, a trailing `%`) is
 * copied literally, `+` stays `+`, and non-ASCII characters in the input are UTF-8 encoded.
 */
export function percentDecodeBytes(rawPath: string): Buffer {
  const input = Buffer.from(rawPath, 'utf8');
  if (!input.includes(PERCENT)) return input;
  const out = Buffer.allocUnsafe(input.length);
  let length = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === PERCENT) {
      const high = hexValue(input[i + 1]);
      const low = hexValue(input[i + 2]);
      if (high >= 0 && low >= 0) {
        out[length++] = high * 16 + low;
        i += 2;
        continue;
      }
    }
    out[length++] = byte;
  }
  return out.subarray(0, length);
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Form-style decoding of one `application/x-www-form-urlencoded` component: `+` is a space, `%XX`
 * is a byte, invalid escapes stay as they are, and the bytes are read as UTF-8 (invalid sequences
 * become U+FFFD, like `URLSearchParams`). Never throws.
 */
export function formDecode(component: string): string {
  const withSpaces = component.includes('+') ? component.replaceAll('+', ' ') : component;
  if (!withSpaces.includes('%')) return withSpaces;
  // Fast path: when every escape is valid and they spell valid UTF-8, decodeURIComponent gives the
  // same string (it throws otherwise). Not for input with surrogates: it would keep a lone one,
  // where the byte-level decoder writes U+FFFD.
  if (!SURROGATE.test(withSpaces)) {
    try {
      return decodeURIComponent(withSpaces);
    } catch {
      // an invalid escape or invalid UTF-8: decoded byte by byte below
    }
  }
  return percentDecodeBytes(withSpaces).toString('utf8');
}

