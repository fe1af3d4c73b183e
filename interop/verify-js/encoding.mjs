// Byte-string helpers and the error type every verification step throws.
// Shared by tally.mjs (FORMATS.md §1-§5.1) and cometbft.mjs (§5.2).

export class VerifyError extends Error {}

export function fail(msg) {
  throw new VerifyError(msg);
}

export function hex(b) {
  return Buffer.from(b).toString('hex');
}

// fromHex decodes lower-case hex (FORMATS.md's notation).
export function fromHex(s) {
  if (typeof s !== 'string' || !/^([0-9a-f]{2})*$/.test(s)) throw new VerifyError(`not lower-case hex: ${JSON.stringify(s).slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

// fromAnyHex decodes hex in either case, as Go's encoding/hex and CometBFT's
// HexBytes do.
export function fromAnyHex(s, what = 'value') {
  if (typeof s !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(s)) fail(`${what}: not hex: ${JSON.stringify(s).slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

// b64 decodes strict standard base64 with padding (RFC 4648 §4): the
// alphabet, padding to a multiple of 4 and canonical (zero) pad bits.
export function b64(s, what = 'value') {
  if (typeof s !== 'string') fail(`${what}: not a string`);
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) fail(`${what}: not standard padded base64`);
  const out = new Uint8Array(Buffer.from(s, 'base64'));
  if (Buffer.from(out).toString('base64') !== s) fail(`${what}: non-canonical base64`);
  return out;
}

export function toB64(b) {
  return Buffer.from(b).toString('base64');
}

// toB64URL is base64url without padding (RFC 4648 §5).
export function toB64URL(b) {
  return Buffer.from(b).toString('base64url');
}

export function eq(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function concat(...parts) {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// compareBytes orders byte strings lexicographically (Go's bytes.Compare).
export function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}
