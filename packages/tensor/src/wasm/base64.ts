/**
 * Decode standard base64 (RFC 4648, with or without `=` padding) to bytes.
 *
 * Written out rather than calling `atob` or `Buffer` so the wasm loader runs
 * unchanged in browsers, Node, Deno and workers, with no DOM or Node typings.
 *
 * @param text - base64 text; whitespace is not allowed.
 * @returns the decoded bytes.
 */
export function decodeBase64(text: string): Uint8Array {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* '=' */) end--;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const v = sextet(text.charCodeAt(i));
    if (v < 0) throw new RangeError(`decodeBase64: invalid character at position ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return o === out.length ? out : out.subarray(0, o);
}

function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65; // A-Z
  if (c >= 97 && c <= 122) return c - 71; // a-z
  if (c >= 48 && c <= 57) return c + 4; // 0-9
  if (c === 43) return 62; // +
  if (c === 47) return 63; // /
  return -1;
}
