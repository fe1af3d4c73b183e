// A strict RLP codec (Ethereum's Recursive Length Prefix, the Yellow Paper's
// Appendix B and ethereum.org's "RLP serialization"). An item is a
// Uint8Array (a string) or an Array of items (a list). The decoder accepts
// only the one canonical encoding of each item, because a transaction's hash
// is over its bytes: two encodings of one transaction would be two hashes.

import { concat, VerifyError } from './encoding.mjs';

export class RLPError extends VerifyError {}

function fail(msg) {
  throw new RLPError(`RLP: ${msg}`);
}

// Deeper nesting than this is refused rather than risking the JS stack on
// hostile input; Ethereum's structures nest a few levels at most.
const MAX_DEPTH = 64;

// decode decodes one item that must span all of b.
export function decode(b) {
  if (!(b instanceof Uint8Array)) fail('input is not bytes');
  if (b.length === 0) fail('empty input');
  const { item, end } = decodeAt(b, 0, b.length, 0);
  if (end !== b.length) fail(`${b.length - end} byte(s) after the item`);
  return item;
}

// decodeAt decodes the item at b[pos] that must end by limit.
function decodeAt(b, pos, limit, depth) {
  const p = b[pos];
  if (p < 0x80) return { item: b.slice(pos, pos + 1), end: pos + 1 };
  const isList = p >= 0xc0;
  const base = isList ? 0xc0 : 0x80;
  let start;
  let len;
  if (p - base <= 55) {
    start = pos + 1;
    len = p - base;
  } else {
    const ll = p - base - 55;
    if (pos + 1 + ll > limit) fail(`truncated: the length at offset ${pos} needs ${ll} byte(s)`);
    if (b[pos + 1] === 0) fail(`the length at offset ${pos} has a leading zero`);
    len = 0;
    for (let i = 0; i < ll; i++) len = len * 256 + b[pos + 1 + i];
    if (len <= 55) fail(`the length ${len} at offset ${pos} needs the short form`);
    start = pos + 1 + ll;
  }
  // len may exceed 2^53 here, but then it exceeds limit too.
  if (len > limit - start) fail(`truncated: the ${isList ? 'list' : 'string'} at offset ${pos} is ${len} bytes, ${limit - start} remain`);
  const end = start + len;
  if (!isList) {
    if (len === 1 && b[start] < 0x80) fail(`the single byte 0x${b[start].toString(16).padStart(2, '0')} at offset ${pos} must encode as itself`);
    return { item: b.slice(start, end), end };
  }
  if (depth >= MAX_DEPTH) fail(`lists nest deeper than ${MAX_DEPTH}`);
  const items = [];
  let at = start;
  while (at < end) {
    const r = decodeAt(b, at, end, depth + 1);
    items.push(r.item);
    at = r.end;
  }
  return { item: items, end };
}

// toUint reads an RLP string as a non-negative integer: big-endian, no
// leading zero bytes (zero is the empty string).
export function toUint(s, what = 'integer') {
  if (!(s instanceof Uint8Array)) fail(`${what} is a list, not an integer`);
  if (s.length > 0 && s[0] === 0) fail(`${what} has a leading zero byte`);
  let v = 0n;
  for (const x of s) v = (v << 8n) | BigInt(x);
  return v;
}

// fromUint is the minimal big-endian bytes of a non-negative integer.
export function fromUint(v) {
  v = BigInt(v);
  if (v < 0n) throw new RangeError('RLP integers are non-negative');
  const out = [];
  for (; v > 0n; v >>= 8n) out.unshift(Number(v & 0xffn));
  return Uint8Array.from(out);
}

function lengthPrefix(len, base) {
  if (len <= 55) return Uint8Array.of(base + len);
  const l = fromUint(len);
  return Uint8Array.of(base + 55 + l.length, ...l);
}

// encode encodes an item; bigints encode as integers.
export function encode(item) {
  if (typeof item === 'bigint') item = fromUint(item);
  if (item instanceof Uint8Array) {
    if (item.length === 1 && item[0] < 0x80) return item.slice();
    return concat(lengthPrefix(item.length, 0x80), item);
  }
  if (Array.isArray(item)) {
    const body = concat(...item.map(encode));
    return concat(lengthPrefix(body.length, 0xc0), body);
  }
  throw new TypeError('RLP items are Uint8Array, bigint or Array');
}
