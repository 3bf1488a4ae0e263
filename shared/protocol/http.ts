/**
 * The two HTTP shapes the protocol works on: the signed parts of a request (what OSS's signature
 * covers) and a reply. The core's `CallbackRequest`/`CallbackResponse` (shared/core/http.ts) extend
 * them with what the platforms add.
 */

export interface SignedRequest {
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
}

export interface HttpReply {
  status: number;
  /** Lower-case header names. Always includes content-type and content-length. */
  headers: Record<string, string>;
  /** Always a non-empty JSON document. */
  body: Buffer;
}
