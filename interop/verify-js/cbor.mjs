// A small strict CBOR (RFC 8949) decoder: only what tally's formats use
// (docs/FORMATS.md §2): unsigned and negative integers, byte and text strings,
// arrays, maps, tag 18, half/single/double floats and simple values.
//
// decode(bytes) returns { value, canonical, problems }:
//   - value: the decoded item (see below);
//   - canonical: true when the whole input is in RFC 8949 §4.2.1 deterministic
//     encoding (shortest heads, shortest exact floats, map keys sorted
//     bytewise by their encodings, no duplicates);
//   - problems: the reasons it is not.
// It throws CBORError when the input is not well-formed, uses something this
// decoder does not support (indefinite lengths, tags other than 18, bignums), or
// has bytes after the item.
//
// Decoded values:
//   uint / nint  -> BigInt
//   bstr         -> Uint8Array (a copy)
//   tstr         -> string (UTF-8 checked)
//   array        -> Array
//   map          -> CBORMap (ordered entries with the raw encoding of each key)
//   tag 18       -> Tagged { tag: 18n, value }
//   float        -> CBORFloat { value: number, width: 2|4|8 }
//   false/true   -> boolean, null -> null, undefined -> undefined,
//   other simple -> Simple { value }

export class CBORError extends Error {}

export class CBORMap {
  constructor() {
    this.entries = []; // [{ key, value, keyBytes }]
  }
  get size() {
    return this.entries.length;
  }
  // get looks up a text or integer key.
  get(k) {
    for (const e of this.entries) {
      if (e.key === k) return e.value;
      if (typeof e.key === 'bigint' && typeof k === 'number' && e.key === BigInt(k)) return e.value;
    }
    return undefined;
  }
  has(k) {
    return this.entries.some((e) => e.key === k || (typeof e.key === 'bigint' && typeof k === 'number' && e.key === BigInt(k)));
  }
  keys() {
    return this.entries.map((e) => e.key);
  }
}

export class Tagged {
  constructor(tag, value) {
    this.tag = tag;
    this.value = value;
  }
}

export class CBORFloat {
  constructor(value, width) {
    this.value = value;
    this.width = width;
  }
}

export class Simple {
  constructor(value) {
    this.value = value;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

// halfToNumber decodes an IEEE 754 binary16 value.
function halfToNumber(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// fitsHalf reports whether the (non-NaN) number v is exactly representable
// as binary16.
function fitsHalf(v) {
  if (!Number.isFinite(v)) return true; // ±Infinity
  if (v === 0) return true; // ±0
  const a = Math.abs(v);
  if (a > 65504) return false;
  if (a < 2 ** -24) return false;
  // Subnormal range: multiples of 2^-24. Normal: 11 significant bits.
  if (a < 2 ** -14) return Number.isInteger(a * 2 ** 24);
  const e = Math.floor(Math.log2(a));
  // guard log2 rounding
  let exp = e;
  if (2 ** exp > a) exp--;
  if (2 ** (exp + 1) <= a) exp++;
  return Number.isInteger(a * 2 ** (10 - exp));
}

// fitsSingle reports whether v is exactly representable as binary32.
function fitsSingle(v) {
  if (!Number.isFinite(v)) return true;
  return Math.fround(v) === v || (v === 0);
}

class Decoder {
  constructor(bytes) {
    this.b = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.problems = [];
    this.depth = 0;
  }

  need(n) {
    if (this.pos + n > this.b.length) throw new CBORError(`truncated at offset ${this.pos}`);
  }

  noncanon(msg) {
    this.problems.push(`${msg} at offset ${this.pos}`);
  }

  // head reads an initial byte and its argument. Returns { major, ai, arg }
  // with arg a BigInt (or undefined for ai 31).
  head() {
    const start = this.pos;
    this.need(1);
    const ib = this.b[this.pos++];
    const major = ib >> 5;
    const ai = ib & 0x1f;
    let arg;
    if (ai < 24) {
      arg = BigInt(ai);
    } else if (ai === 24) {
      this.need(1);
      arg = BigInt(this.b[this.pos]);
      this.pos += 1;
    } else if (ai === 25) {
      this.need(2);
      arg = BigInt(this.dv.getUint16(this.pos));
      this.pos += 2;
    } else if (ai === 26) {
      this.need(4);
      arg = BigInt(this.dv.getUint32(this.pos));
      this.pos += 4;
    } else if (ai === 27) {
      this.need(8);
      arg = this.dv.getBigUint64(this.pos);
      this.pos += 8;
    } else if (ai === 31) {
      throw new CBORError(`indefinite-length item (major type ${major}) at offset ${start}: not supported (and not deterministic)`);
    } else {
      throw new CBORError(`reserved additional information ${ai} at offset ${start}`);
    }
    // Shortest-form check for integer/length arguments (not floats/simple: major 7 handled separately).
    if (major !== 7 && ai >= 24) {
      const min = ai === 24 ? 24n : ai === 25 ? 0x100n : ai === 26 ? 0x10000n : 0x100000000n;
      if (arg < min) {
        this.problems.push(`non-shortest argument encoding at offset ${start}`);
      }
    }
    return { major, ai, arg, start };
  }

  length(arg) {
    if (arg > BigInt(this.b.length - this.pos)) throw new CBORError(`length ${arg} exceeds the remaining input at offset ${this.pos}`);
    return Number(arg);
  }

  item() {
    if (++this.depth > 32) throw new CBORError('nesting too deep');
    try {
      return this.item0();
    } finally {
      this.depth--;
    }
  }

  item0() {
    const h = this.head();
    switch (h.major) {
      case 0:
        return h.arg;
      case 1:
        return -1n - h.arg;
      case 2: {
        const n = this.length(h.arg);
        const v = this.b.slice(this.pos, this.pos + n);
        this.pos += n;
        return v;
      }
      case 3: {
        const n = this.length(h.arg);
        let s;
        try {
          s = utf8.decode(this.b.subarray(this.pos, this.pos + n));
        } catch {
          throw new CBORError(`text string at offset ${h.start} is not valid UTF-8`);
        }
        this.pos += n;
        return s;
      }
      case 4: {
        // each member takes at least one byte
        const n = this.length(h.arg);
        const out = [];
        for (let i = 0; i < n; i++) out.push(this.item());
        return out;
      }
      case 5: {
        if (h.arg * 2n > BigInt(this.b.length - this.pos)) throw new CBORError(`map length ${h.arg} exceeds the remaining input`);
        const n = Number(h.arg);
        const m = new CBORMap();
        let prev = null;
        for (let i = 0; i < n; i++) {
          const ks = this.pos;
          const key = this.item();
          const keyBytes = this.b.subarray(ks, this.pos);
          if (prev !== null) {
            const c = compareBytes(prev, keyBytes);
            if (c === 0) throw new CBORError(`duplicate map key at offset ${ks}`);
            if (c > 0) this.problems.push(`map keys not in bytewise order at offset ${ks}`);
          }
          for (const e of m.entries) {
            if (compareBytes(e.keyBytes, keyBytes) === 0) throw new CBORError(`duplicate map key at offset ${ks}`);
          }
          prev = keyBytes;
          const value = this.item();
          m.entries.push({ key, value, keyBytes });
        }
        return m;
      }
      case 6: {
        if (h.arg !== 18n) throw new CBORError(`tag ${h.arg} at offset ${h.start}: only tag 18 (COSE_Sign1) is supported`);
        return new Tagged(h.arg, this.item());
      }
      case 7:
        return this.simpleOrFloat(h);
    }
    throw new CBORError('unreachable');
  }

  simpleOrFloat(h) {
    const { ai, arg, start } = h;
    if (ai < 24) {
      const v = Number(arg);
      if (v === 20) return false;
      if (v === 21) return true;
      if (v === 22) return null;
      if (v === 23) return undefined;
      return new Simple(v);
    }
    if (ai === 24) {
      const v = Number(arg);
      if (v < 32) throw new CBORError(`simple value ${v} in two bytes at offset ${start} is not well-formed`);
      return new Simple(v);
    }
    // floats: re-read the raw bits
    if (ai === 25) {
      const bits = Number(arg);
      const v = halfToNumber(bits);
      if (Number.isNaN(v) && bits !== 0x7e00) this.problems.push(`NaN not encoded as f97e00 at offset ${start}`);
      return new CBORFloat(v, 2);
    }
    if (ai === 26) {
      const v = this.dv.getFloat32(start + 1);
      if (Number.isNaN(v)) this.problems.push(`NaN not encoded as f97e00 at offset ${start}`);
      else if (fitsHalf(v)) this.problems.push(`float ${v} at offset ${start} fits half precision`);
      return new CBORFloat(v, 4);
    }
    if (ai === 27) {
      const v = this.dv.getFloat64(start + 1);
      if (Number.isNaN(v)) this.problems.push(`NaN not encoded as f97e00 at offset ${start}`);
      else if (fitsHalf(v)) this.problems.push(`float ${v} at offset ${start} fits half precision`);
      else if (fitsSingle(v)) this.problems.push(`float ${v} at offset ${start} fits single precision`);
      return new CBORFloat(v, 8);
    }
    throw new CBORError('unreachable');
  }
}

// decode decodes exactly one CBOR item that must span all of bytes.
export function decode(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decode wants a Uint8Array');
  const d = new Decoder(bytes);
  const value = d.item();
  if (d.pos !== bytes.length) throw new CBORError(`${bytes.length - d.pos} bytes after the CBOR item`);
  return { value, canonical: d.problems.length === 0, problems: d.problems };
}

// Minimal encoder for the ToBeSigned structure: heads and byte/text strings.
export function encodeHead(major, n) {
  const N = BigInt(n);
  if (N < 24n) return Uint8Array.of((major << 5) | Number(N));
  if (N < 0x100n) return Uint8Array.of((major << 5) | 24, Number(N));
  if (N < 0x10000n) return Uint8Array.of((major << 5) | 25, Number(N >> 8n), Number(N & 0xffn));
  if (N < 0x100000000n) {
    const b = new Uint8Array(5);
    b[0] = (major << 5) | 26;
    new DataView(b.buffer).setUint32(1, Number(N));
    return b;
  }
  const b = new Uint8Array(9);
  b[0] = (major << 5) | 27;
  new DataView(b.buffer).setBigUint64(1, N);
  return b;
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

export function encodeBstr(b) {
  return concat(encodeHead(2, b.length), b);
}

export function encodeTstr(s) {
  const b = new TextEncoder().encode(s);
  return concat(encodeHead(3, b.length), b);
}
