// The few Protocol Buffers (proto3) encodings CometBFT hashes and signs
// (https://protobuf.dev/programming-guides/encoding/), written by hand for
// the messages of FORMATS.md §5.2: varints, sfixed64, length-delimited
// fields, google.protobuf.Timestamp, and RFC 3339 times to Timestamps.
//
// proto3 leaves out scalar fields holding their zero value (0, "", empty
// bytes); the field helpers below do the same. Embedded messages that
// CometBFT declares non-nullable (gogoproto.nullable = false) are always
// written, even when empty: fieldMessage(n, bytes, { always: true }).

import { concat, fail } from './encoding.mjs';

const U64 = 1n << 64n;
export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

// varint encodes an unsigned LEB128 varint. Negative values are int64s in
// two's complement, as protobuf writes int64 and int32 fields (ten bytes).
export function varint(v) {
  let n = BigInt(v);
  if (n < 0n) n += U64;
  if (n < 0n || n >= U64) throw new RangeError(`varint ${v} out of 64-bit range`);
  const out = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n !== 0n) b |= 0x80;
    out.push(b);
  } while (n !== 0n);
  return Uint8Array.from(out);
}

// key is a field's tag: (field_number << 3) | wire_type.
export function key(field, wire) {
  return varint((field << 3) | wire);
}

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;

// fieldVarint writes an int32/int64/uint32/uint64/enum field; 0 is left out.
export function fieldVarint(field, v) {
  if (BigInt(v) === 0n) return new Uint8Array(0);
  return concat(key(field, VARINT), varint(v));
}

// sfixed64 is eight bytes, little-endian two's complement.
export function sfixed64(v) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(v), true);
  return out;
}

// fieldSfixed64 writes an sfixed64 field; 0 is left out.
export function fieldSfixed64(field, v) {
  if (BigInt(v) === 0n) return new Uint8Array(0);
  return concat(key(field, I64), sfixed64(v));
}

// fieldBytes writes a bytes or string field; empty is left out.
export function fieldBytes(field, b) {
  if (typeof b === 'string') b = new TextEncoder().encode(b);
  if (b.length === 0) return new Uint8Array(0);
  return concat(key(field, LEN), varint(b.length), b);
}

// fieldMessage writes an embedded message. An empty message is left out
// unless always is set (non-nullable fields, and present nullable ones).
export function fieldMessage(field, msg, { always = false } = {}) {
  if (msg.length === 0 && !always) return new Uint8Array(0);
  return concat(key(field, LEN), varint(msg.length), msg);
}

// lengthDelimited prefixes a message with its length as a varint, as
// CometBFT's protoio.MarshalDelimited does.
export function lengthDelimited(msg) {
  return concat(varint(msg.length), msg);
}

// timestamp encodes google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }.
export function timestamp({ seconds, nanos }) {
  return concat(fieldVarint(1, seconds), fieldVarint(2, nanos));
}

// daysFromCivil counts days from 1970-01-01 to a proleptic Gregorian date
// (H. Hinnant's algorithm; exact for years 1 to 9999, unlike Date.UTC,
// which maps years below 100 to 19xx).
function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y, m) {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

const RFC3339 = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})$/;

// parseTime parses an RFC 3339 time, as CometBFT's JSON (Go's time.Time)
// writes it, to a Timestamp { seconds: BigInt, nanos: Number } in UTC.
export function parseTime(s, what = 'time') {
  if (typeof s !== 'string') fail(`${what}: not an RFC 3339 string`);
  const m = RFC3339.exec(s);
  if (!m) fail(`${what} ${JSON.stringify(s).slice(0, 60)} is not an RFC 3339 time`);
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || se > 59) {
    fail(`${what} ${JSON.stringify(s)} is not a valid date and time`);
  }
  // Go keeps the first nine digits of a longer fraction.
  const nanos = m[7] ? Number(m[7].slice(0, 9).padEnd(9, '0')) : 0;
  let offset = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) fail(`${what} ${JSON.stringify(s)} has an invalid zone offset`);
    offset = (m[8][0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const seconds = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + se - offset);
  return { seconds, nanos };
}

// formatTime writes a Timestamp as RFC 3339 in UTC, trailing zeros of the
// fraction dropped (Go's time.RFC3339Nano).
export function formatTime({ seconds, nanos }) {
  const ms = seconds * 1000n;
  if (ms < -62135596800000n || ms > 253402300799000n) return `${seconds}s+${nanos}ns`;
  const iso = new Date(Number(ms)).toISOString().slice(0, 19);
  const frac = nanos ? '.' + String(nanos).padStart(9, '0').replace(/0+$/, '') : '';
  return `${iso}${frac}Z`;
}
