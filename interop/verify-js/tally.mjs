// Verification of tally readings, checkpoints and proof bundles, written from
// docs/FORMATS.md alone. Section numbers below refer to it; the CometBFT
// evidence of §5.2 is in cometbft.mjs, the EVM evidence of §5.3 in evm.mjs.

import { ed25519 } from '@noble/curves/ed25519.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { decode, CBORMap, Tagged, CBORFloat, CBORError, encodeBstr, encodeHead, encodeTstr } from './cbor.mjs';
import { b64, concat, eq, fail, fromAnyHex, fromHex, hex, toB64, toB64URL, VerifyError } from './encoding.mjs';
import * as comet from './cometbft.mjs';
import * as evm from './evm.mjs';
import { numberToken, writtenAsInteger } from './json.mjs';
import { formatTime, parseTime } from './proto.mjs';

export { b64, fromHex, hex, toB64, VerifyError };

export const BUNDLE_FORMAT = 'tally-proof-bundle/1';
export const ANCHORED_FORMAT = 'tally-proof-bundle/2';
export const ED25519_PUB_LEN = 32;
export const MLDSA65_PUB_LEN = 1952;
export const ED25519_SIG_LEN = 64;
export const MLDSA65_SIG_LEN = 3309;
const EMPTY = new Uint8Array(0);
const enc = new TextEncoder();

// ---------- §1 identity ----------

const GATEWAY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkGatewayID(id) {
  return typeof id === 'string' && GATEWAY_ID.test(id);
}

// originOf returns the gateway id of an origin "tally/<id>", or fails.
export function gatewayOfOrigin(origin) {
  if (typeof origin !== 'string' || !origin.startsWith('tally/')) fail(`origin ${JSON.stringify(origin)} does not start with "tally/"`);
  const id = origin.slice('tally/'.length);
  if (!checkGatewayID(id)) fail(`origin ${JSON.stringify(origin)}: gateway id is not 1-64 of [A-Za-z0-9._-] starting with a letter or digit`);
  return id;
}

// kid: the first 8 bytes of SHA-256(Ed25519 public key).
export function kidOf(edPub) {
  return sha256(edPub).slice(0, 8);
}

// Ed25519 note key hash: SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ pub)[:4].
export function ed25519KeyHash(origin, edPub) {
  return sha256(concat(enc.encode(origin), Uint8Array.of(0x0a, 0x01), edPub)).slice(0, 4);
}

// ML-DSA-65 note key hash: SHA-256(origin ‖ 0x0A ‖ 0xff ‖ "ML-DSA-65" ‖ pub)[:4].
export function mldsa65KeyHash(origin, mlPub) {
  return sha256(concat(enc.encode(origin), Uint8Array.of(0x0a, 0xff), enc.encode('ML-DSA-65'), mlPub)).slice(0, 4);
}

// noteKey builds "<origin>+<8 hex>+<base64(0x01 ‖ ed25519 pub)>".
export function noteKey(origin, edPub) {
  return `${origin}+${hex(ed25519KeyHash(origin, edPub))}+${toB64(concat(Uint8Array.of(0x01), edPub))}`;
}

// parseNoteKey checks a note verifier key against origin and returns its
// Ed25519 public key.
export function parseNoteKey(s, origin) {
  if (typeof s !== 'string') fail('note_key is not a string');
  // The name holds no '+', but the base64 key may: split at the first two.
  const i = s.indexOf('+');
  const j = i < 0 ? -1 : s.indexOf('+', i + 1);
  if (i < 0 || j < 0) fail(`note_key ${JSON.stringify(s).slice(0, 60)} is not name+hash+key`);
  const [name, h, k] = [s.slice(0, i), s.slice(i + 1, j), s.slice(j + 1)];
  if (name !== origin) fail(`note_key name ${JSON.stringify(name)} is not the origin ${JSON.stringify(origin)}`);
  if (!/^[0-9a-f]{8}$/.test(h)) fail(`note_key hash ${JSON.stringify(h)} is not 8 lower-case hex digits`);
  const kb = b64(k, 'note_key key');
  if (kb.length !== 1 + ED25519_PUB_LEN || kb[0] !== 0x01) fail('note_key key is not 0x01 ‖ 32-byte Ed25519 key');
  const pub = kb.slice(1);
  if (h !== hex(ed25519KeyHash(origin, pub))) fail(`note_key hash ${h} does not match its key (want ${hex(ed25519KeyHash(origin, pub))})`);
  return pub;
}

// keysFromJSON decodes and cross-checks a keys object: bundle.keys
// ({ed25519, mldsa65, note_key}) or a `tally id --json` document.
export function decodeKeys(obj, origin, what) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) fail(`${what} is not an object`);
  const ed = b64(obj.ed25519, `${what}.ed25519`);
  if (ed.length !== ED25519_PUB_LEN) fail(`${what}.ed25519 is ${ed.length} bytes, want ${ED25519_PUB_LEN}`);
  const ml = b64(obj.mldsa65, `${what}.mldsa65`);
  if (ml.length !== MLDSA65_PUB_LEN) fail(`${what}.mldsa65 is ${ml.length} bytes, want ${MLDSA65_PUB_LEN}`);
  const nk = parseNoteKey(obj.note_key, origin);
  if (!eq(nk, ed)) fail(`${what}.note_key holds a different Ed25519 key than ${what}.ed25519`);
  return { ed25519: ed, mldsa65: ml };
}

// checkIdentity checks a `tally id --json` document (§1) and returns its keys.
export function checkIdentity(id, origin) {
  if (id === null || typeof id !== 'object' || Array.isArray(id)) fail('identity is not a JSON object');
  if (id.origin !== origin) fail(`pinned origin ${JSON.stringify(id.origin)} is not the bundle's ${JSON.stringify(origin)}`);
  const k = decodeKeys(id, origin, 'pinned identity');
  if (id.kid !== hex(kidOf(k.ed25519))) fail(`pinned kid ${JSON.stringify(id.kid)} does not match its Ed25519 key (want ${hex(kidOf(k.ed25519))})`);
  if (id.ed25519_key_hash !== hex(ed25519KeyHash(origin, k.ed25519))) fail('pinned ed25519_key_hash does not match its key');
  if (id.mldsa65_key_hash !== hex(mldsa65KeyHash(origin, k.mldsa65))) fail('pinned mldsa65_key_hash does not match its key');
  return k;
}

// ---------- §2 envelope ----------

// toBeSigned = [ "Signature1", protected, h'', payload ] with the protected and
// payload byte strings as they appear in the envelope.
export function toBeSigned(protectedBytes, payloadBytes) {
  return concat(encodeHead(4, 4), encodeTstr('Signature1'), encodeBstr(protectedBytes), encodeBstr(EMPTY), encodeBstr(payloadBytes));
}

// parseEnvelope decodes a tagged COSE_Sign1 and checks its structure (§2).
export function parseEnvelope(env) {
  let d;
  try {
    d = decode(env);
  } catch (e) {
    if (e instanceof CBORError) fail(`envelope is not valid CBOR: ${e.message}`);
    throw e;
  }
  const t = d.value;
  if (!(t instanceof Tagged) || t.tag !== 18n) fail('envelope is not CBOR tag 18 (tagged COSE_Sign1)');
  const a = t.value;
  if (!Array.isArray(a)) fail('COSE_Sign1 content is not an array');
  if (a.length !== 4) fail(`COSE_Sign1 array has ${a.length} members, want 4`);
  const [prot, unprot, payload, sig] = a;
  if (!(prot instanceof Uint8Array)) fail('protected is not a byte string');
  if (!(unprot instanceof CBORMap)) fail('unprotected is not a map');
  if (unprot.size !== 0) fail(`unprotected is not the empty map (${unprot.size} entries)`);
  if (!(payload instanceof Uint8Array)) fail('payload is not a byte string (detached or nil payloads are not tally envelopes)');
  if (!(sig instanceof Uint8Array)) fail('signature is not a byte string');
  if (sig.length !== ED25519_SIG_LEN) fail(`signature is ${sig.length} bytes, want ${ED25519_SIG_LEN}`);
  let ph;
  try {
    ph = decode(prot);
  } catch (e) {
    if (e instanceof CBORError) fail(`protected header is not valid CBOR: ${e.message}`);
    throw e;
  }
  const m = ph.value;
  if (!(m instanceof CBORMap)) fail('protected header is not a map');
  const keys = m.keys();
  if (m.size !== 2 || !m.has(1) || !m.has(4)) fail(`protected header labels are [${keys.map(String).join(', ')}], want exactly 1 (alg) and 4 (kid)`);
  if (m.get(1) !== -8n) fail(`protected alg is ${String(m.get(1))}, want -8 (EdDSA)`);
  const kid = m.get(4);
  if (!(kid instanceof Uint8Array) || kid.length !== 8) fail('protected kid is not an 8-byte byte string');
  return { protected: prot, protectedCanonical: ph.canonical, payload, signature: sig, kid, envelopeCanonical: d.canonical, envelopeProblems: d.problems };
}

// verifyEnvelope runs §2's checks against the gateway's Ed25519 key.
export function verifyEnvelope(env, edPub) {
  const e = parseEnvelope(env);
  const want = kidOf(edPub);
  if (!eq(e.kid, want)) fail(`kid ${hex(e.kid)} is not the gateway's kid ${hex(want)}`);
  const tbs = toBeSigned(e.protected, e.payload);
  let ok = false;
  try {
    ok = ed25519.verify(e.signature, tbs, edPub, { zip215: false });
  } catch (err) {
    fail(`Ed25519 verification error: ${err.message}`);
  }
  if (!ok) fail('Ed25519 signature does not verify');
  return e;
}

// ---------- §2.1 payload ----------

function isInt(v) {
  return typeof v === 'bigint';
}
function isUint(v) {
  return typeof v === 'bigint' && v >= 0n;
}

const PAYLOAD_KEYS = {
  v: { type: 'uint', always: true },
  gw: { type: 'text', always: true },
  seq: { type: 'uint', always: true },
  sensor: { type: 'text', always: true },
  kind: { type: 'text', always: true },
  recv_us: { type: 'int', always: true },
  sensor_us: { type: 'int' },
  clock: { type: 'text' },
  container: { type: 'text' },
  msg_id: { type: 'text' },
  data: { type: 'map' },
  raw: { type: 'bstr' },
  salt: { type: 'bstr', always: true },
};

function typeOK(type, v) {
  switch (type) {
    case 'uint':
      return isUint(v);
    case 'int':
      return isInt(v);
    case 'text':
      return typeof v === 'string';
    case 'bstr':
      return v instanceof Uint8Array;
    case 'map':
      return v instanceof CBORMap;
  }
  return false;
}

// decodePayload decodes and checks the payload map (§2.1). It returns a plain
// object of the members. When requireDeterministic is set (FORMATS.md: "a
// verifier may" refuse non-deterministic payloads), non-deterministic
// encodings fail.
export function decodePayload(bytes, { requireDeterministic = true } = {}) {
  let d;
  try {
    d = decode(bytes);
  } catch (e) {
    if (e instanceof CBORError) fail(`payload is not valid CBOR: ${e.message}`);
    throw e;
  }
  if (requireDeterministic && !d.canonical) fail(`payload is not in deterministic encoding: ${d.problems.join('; ')}`);
  const m = d.value;
  if (!(m instanceof CBORMap)) fail('payload is not a map');
  const out = {};
  for (const { key, value } of m.entries) {
    if (typeof key !== 'string') fail(`payload key ${String(key)} is not a text string`);
    const spec = PAYLOAD_KEYS[key];
    if (!spec) fail(`payload has unknown key ${JSON.stringify(key)}`);
    if (!typeOK(spec.type, value)) fail(`payload ${key} is not a ${spec.type}`);
    out[key] = value;
  }
  for (const [k, spec] of Object.entries(PAYLOAD_KEYS)) {
    if (spec.always && !(k in out)) fail(`payload lacks ${k}`);
  }
  if (out.v !== 1n) fail(`payload format version v=${out.v}, this verifier knows 1`);
  if (!checkGatewayID(out.gw)) fail(`payload gw ${JSON.stringify(out.gw)} is not a valid gateway id`);
  if (out.salt.length !== 16) fail(`payload salt is ${out.salt.length} bytes, want 16`);
  if ('sensor_us' in out && !('clock' in out)) fail('payload has sensor_us without clock');
  if ('data' in out) {
    for (const { key, value } of out.data.entries) {
      if (typeof key !== 'string') fail(`payload data key ${String(key)} is not a text string`);
      checkDataValue(key, value);
    }
  }
  return out;
}

function checkDataValue(key, v) {
  // "numbers are CBOR floats or integers"; text and booleans appear too.
  if (typeof v === 'bigint' || typeof v === 'string' || typeof v === 'boolean' || v instanceof CBORFloat) return;
  if (v instanceof Uint8Array || v === null) return;
  if (Array.isArray(v)) {
    v.forEach((x) => checkDataValue(key, x));
    return;
  }
  if (v instanceof CBORMap) {
    for (const e of v.entries) checkDataValue(key, e.value);
    return;
  }
  fail(`payload data ${key} has an unsupported value type`);
}

// plain converts decoded CBOR to JSON-friendly values for display.
export function plain(v) {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return { hex: hex(v) };
  if (v instanceof CBORFloat) return v.value;
  if (v instanceof CBORMap) {
    const o = {};
    for (const e of v.entries) o[String(e.key)] = plain(e.value);
    return o;
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Tagged) return { tag: Number(v.tag), value: plain(v.value) };
  return v;
}

// ---------- §3 Merkle tree ----------

export function leafHash(envelope) {
  return sha256(concat(Uint8Array.of(0x00), envelope));
}

export function nodeHash(l, r) {
  return sha256(concat(Uint8Array.of(0x01), l, r));
}

// rootFromInclusionProof implements RFC 9162 §2.1.3.2 and returns the
// computed root, or fails.
export function rootFromInclusionProof(leafIndex, treeSize, leaf, proof) {
  let fn = BigInt(leafIndex);
  let sn = BigInt(treeSize) - 1n;
  if (BigInt(leafIndex) >= BigInt(treeSize)) fail(`leaf index ${leafIndex} is not below tree size ${treeSize}`);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) fail('inclusion proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('inclusion proof is too short');
  return r;
}

export function verifyInclusion(leafIndex, treeSize, leaf, proof, root) {
  const r = rootFromInclusionProof(leafIndex, treeSize, leaf, proof);
  if (!eq(r, root)) fail(`inclusion proof leads to ${hex(r)}, not the checkpoint root ${hex(root)}`);
}

// verifyConsistency implements RFC 9162 §2.1.4.2: proof shows that the tree
// of size first with root firstRoot is a prefix of the tree of size second
// with root secondRoot. Equal sizes need equal roots and an empty proof
// (FORMATS.md §5.1 step 9).
export function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  first = BigInt(first);
  second = BigInt(second);
  if (first > second) fail(`the first size ${first} is larger than the second ${second}`);
  if (first === second) {
    if (proof.length !== 0) fail(`the sizes are equal (${first}), but the consistency proof is not empty (${proof.length} hashes)`);
    if (!eq(firstRoot, secondRoot)) fail(`the sizes are equal (${first}), but the roots differ: ${hex(firstRoot)} and ${hex(secondRoot)}`);
    return;
  }
  if (first === 0n) fail('a consistency proof from the empty tree is not defined here');
  // 1. An empty path fails.
  if (proof.length === 0) fail(`the consistency proof from ${first} to ${second} is empty`);
  // 2. When first is an exact power of 2, prepend first_hash.
  const path = (first & (first - 1n)) === 0n ? [firstRoot, ...proof] : proof.slice();
  // 3.-4.
  let fn = first - 1n;
  let sn = second - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5.
  let fr = path[0];
  let sr = path[0];
  // 6.
  for (const c of path.slice(1)) {
    if (sn === 0n) fail(`the consistency proof from ${first} to ${second} is too long`);
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  // 7.
  if (sn !== 0n) fail(`the consistency proof from ${first} to ${second} is too short`);
  if (!eq(fr, firstRoot)) fail(`the consistency proof leads to ${hex(fr)} for size ${first}, not its root ${hex(firstRoot)}`);
  if (!eq(sr, secondRoot)) fail(`the consistency proof leads to ${hex(sr)} for size ${second}, not its root ${hex(secondRoot)}`);
}

// ---------- §4 checkpoint ----------

const EM_DASH_PREFIX = '\u2014 ';

// parseSignedNote splits a C2SP signed note into its text and signature lines.
export function parseSignedNote(note) {
  if (typeof note !== 'string') fail('checkpoint is not a string');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) fail('checkpoint contains control characters other than newline');
  const sep = note.lastIndexOf('\n\n');
  if (sep < 0) fail('checkpoint has no blank line before the signatures');
  const text = note.slice(0, sep + 1);
  const sigPart = note.slice(sep + 2);
  if (!sigPart.endsWith('\n')) fail('checkpoint does not end in a newline');
  const lines = sigPart.slice(0, -1).split('\n');
  if (lines.length > 100) fail('checkpoint has more than 100 signature lines');
  const sigs = lines.map((line, i) => {
    if (!line.startsWith(EM_DASH_PREFIX)) fail(`signature line ${i + 1} does not start with "— "`);
    const rest = line.slice(EM_DASH_PREFIX.length);
    const parts = rest.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[0].includes('+')) fail(`signature line ${i + 1} is not "— <name> <base64>"`);
    const raw = b64(parts[1], `signature line ${i + 1}`);
    if (raw.length < 5) fail(`signature line ${i + 1} is too short`);
    return { name: parts[0], keyHash: raw.slice(0, 4), sig: raw.slice(4), line: i + 1 };
  });
  return { text, sigs };
}

// parseCheckpointText parses the three-line tlog-checkpoint body.
export function parseCheckpointText(text) {
  if (!text.endsWith('\n')) fail('checkpoint text does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 3) fail(`checkpoint text has ${lines.length} lines, want exactly 3 (origin, size, root)`);
  const [origin, sizeStr, rootStr] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeStr)) fail(`checkpoint size ${JSON.stringify(sizeStr)} is not a decimal without leading zeros`);
  const size = BigInt(sizeStr);
  if (size >= 1n << 64n) fail('checkpoint size does not fit in 64 bits');
  const root = b64(rootStr, 'checkpoint root');
  if (root.length !== 32) fail(`checkpoint root is ${root.length} bytes, want 32`);
  return { origin, size, root };
}

// verifyCheckpoint checks both signatures (§4) and returns the parsed text.
export function verifyCheckpoint(note, origin, keys) {
  const { text, sigs } = parseSignedNote(note);
  const cp = parseCheckpointText(text);
  const msg = enc.encode(text);
  const edHash = ed25519KeyHash(origin, keys.ed25519);
  const mlHash = mldsa65KeyHash(origin, keys.mldsa65);
  let edOK = 0;
  let mlOK = 0;
  let others = 0;
  for (const s of sigs) {
    if (s.name !== origin) {
      others++;
      continue;
    }
    if (eq(s.keyHash, edHash)) {
      if (s.sig.length !== ED25519_SIG_LEN) fail(`Ed25519 signature (line ${s.line}) is ${s.sig.length} bytes, want ${ED25519_SIG_LEN}`);
      let ok = false;
      try {
        ok = ed25519.verify(s.sig, msg, keys.ed25519, { zip215: false });
      } catch (e) {
        fail(`Ed25519 checkpoint signature error: ${e.message}`);
      }
      if (!ok) fail(`Ed25519 checkpoint signature (line ${s.line}) does not verify`);
      edOK++;
    } else if (eq(s.keyHash, mlHash)) {
      if (s.sig.length !== MLDSA65_SIG_LEN) fail(`ML-DSA-65 signature (line ${s.line}) is ${s.sig.length} bytes, want ${MLDSA65_SIG_LEN}`);
      let ok = false;
      try {
        // Pure ML-DSA (FIPS 204 Algorithm 3) with the empty context string.
        ok = ml_dsa65.verify(s.sig, msg, keys.mldsa65, { context: EMPTY });
      } catch (e) {
        fail(`ML-DSA-65 checkpoint signature error: ${e.message}`);
      }
      if (!ok) fail(`ML-DSA-65 checkpoint signature (line ${s.line}) does not verify`);
      mlOK++;
    } else {
      others++;
    }
  }
  if (edOK === 0) fail('no Ed25519 signature by the gateway key');
  if (mlOK === 0) fail('no ML-DSA-65 signature by the gateway key');
  if (cp.origin !== origin) fail(`checkpoint origin ${JSON.stringify(cp.origin)} is not ${JSON.stringify(origin)}`);
  return { ...cp, text, edSigs: edOK, mlSigs: mlOK, otherSigs: others };
}

// ---------- §5.1 anchor payload ----------

export const PLACEHOLDERS = ['origin', 'origin_b64url', 'size', 'root_hex', 'root_b64', 'note_sha256_hex'];

// parseTxFormat splits a tx_format template into literal text and
// placeholder names, checking §5.1's rules.
export function parseTxFormat(tpl) {
  if (typeof tpl !== 'string') fail('tx_format is not a string');
  const parts = [];
  let lit = '';
  for (let i = 0; i < tpl.length; i++) {
    const c = tpl[i];
    if (c === '}') fail(`tx format ${JSON.stringify(tpl)}: "}" outside a placeholder`);
    if (c !== '{') {
      lit += c;
      continue;
    }
    const j = tpl.indexOf('}', i);
    if (j < 0) fail(`tx format ${JSON.stringify(tpl)}: "{" without "}"`);
    const name = tpl.slice(i + 1, j);
    if (!PLACEHOLDERS.includes(name)) fail(`tx format ${JSON.stringify(tpl)}: unknown placeholder {${name}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`);
    if (lit) parts.push({ text: lit });
    lit = '';
    parts.push({ name });
    i = j;
  }
  if (lit) parts.push({ text: lit });
  const names = parts.filter((p) => p.name).map((p) => p.name);
  if (!names.includes('size') || !(names.includes('root_hex') || names.includes('root_b64'))) {
    fail(`tx format ${JSON.stringify(tpl)} must contain {size} and {root_hex} or {root_b64}, so that the transaction binds the checkpoint`);
  }
  return parts;
}

// renderTxFormat renders a template for a checkpoint (origin, size, root)
// whose signed note is note (the string), returning UTF-8 bytes.
export function renderTxFormat(tpl, { origin, size, root, note }) {
  const values = {
    origin,
    origin_b64url: toB64URL(enc.encode(origin)),
    size: String(size),
    root_hex: hex(root),
    root_b64: toB64(root),
    note_sha256_hex: hex(sha256(enc.encode(note))),
  };
  return enc.encode(parseTxFormat(tpl).map((p) => (p.name ? values[p.name] : p.text)).join(''));
}

function printable(b) {
  const s = Buffer.from(b).toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\ufffd]/.test(s)) return `0x${hex(b)}`;
  return JSON.stringify(s);
}

// ---------- §5 proof bundle ----------

export const STEPS_V1 = ['format', 'keys', 'reading signature', 'reading payload', 'leaf hash', 'checkpoint signatures', 'inclusion', 'anchor'];
export const STEPS_COMETBFT = [
  ...STEPS_V1.slice(0, -1),
  'anchored checkpoint',
  'consistency',
  'chain id',
  'validator set',
  'signed header',
  'commit',
  'tx in block',
  'checkpoint in tx',
];
export const STEPS_EVM = [...STEPS_COMETBFT.slice(0, 9), 'evm transaction', 'chain id', 'sender', 'checkpoint in tx'];
// STEPS is every step name this verifier prints.
export const STEPS = [...new Set([...STEPS_COMETBFT, ...STEPS_EVM, 'anchor', 'ledger'])];

const BUNDLE_MEMBERS = ['format', 'origin', 'seq', 'envelope', 'tree_size', 'inclusion_proof', 'checkpoint', 'keys', 'anchor'];
const ANCHOR_MEMBERS = ['checkpoint', 'consistency_proof', 'receipt'];
const RECEIPT_MEMBERS = ['ledger', 'network', 'tx_id', 'height', 'block_hash', 'block_time', 'tx_format', 'payload', 'evidence'];

// isIndex is §5's seq and tree_size: a JSON integer (no fraction, no
// exponent; see json.mjs) from 0 to 2^53 − 1.
function isIndex(numbers, path, v) {
  return writtenAsInteger(numbers, path, v) && Number.isSafeInteger(v) && v >= 0;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

// receiptHeight is the receipt's height, exactly (from its token when the
// bundle's text is at hand), or undefined when it is not a JSON integer
// of 64 bits. Its value is the ledger's to check (§5.2 step 3, §5.3): a
// height of the right JSON type fails there, not at format.
function receiptHeight(numbers, v) {
  const path = ['anchor', 'receipt', 'height'];
  if (!writtenAsInteger(numbers, path, v)) return undefined;
  const h = BigInt(numbers === undefined ? v : numberToken(numbers, ...path));
  return h >= INT64_MIN && h <= INT64_MAX ? h : undefined;
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function exactMembers(o, members, what) {
  for (const m of members) {
    if (!(m in o)) fail(`${what} lacks member ${m}`);
  }
  for (const m of Object.keys(o)) {
    if (!members.includes(m)) fail(`${what} has an unknown member ${m}`);
  }
}

// checkAnchorShape checks the members and types of a /2 anchor (§5.1) and
// returns the receipt's height.
function checkAnchorShape(a, numbers) {
  if (!isObject(a)) fail('format tally-proof-bundle/2 needs an anchor object (FORMATS.md §5.1)');
  exactMembers(a, ANCHOR_MEMBERS, 'anchor');
  if (typeof a.checkpoint !== 'string') fail('anchor.checkpoint is not a string');
  if (!Array.isArray(a.consistency_proof) || !a.consistency_proof.every((h) => typeof h === 'string')) fail('anchor.consistency_proof is not an array of base64 strings');
  const r = a.receipt;
  if (!isObject(r)) fail('anchor.receipt is not an object');
  exactMembers(r, RECEIPT_MEMBERS, 'anchor.receipt');
  for (const m of ['ledger', 'network', 'tx_id', 'block_hash', 'block_time', 'tx_format', 'payload']) {
    if (typeof r[m] !== 'string') fail(`anchor.receipt.${m} is not a string`);
  }
  const height = receiptHeight(numbers, r.height);
  if (height === undefined) fail(`anchor.receipt.height ${numberToken(numbers, 'anchor', 'receipt', 'height') ?? JSON.stringify(r.height)} is not a JSON integer (no fraction, no exponent) of 64 bits`);
  parseTime(r.block_time, 'anchor.receipt.block_time');
  b64(r.payload, 'anchor.receipt.payload');
  if (!isObject(r.evidence)) fail('anchor.receipt.evidence is not an object');
  return height;
}

// verifyBundle runs §5's steps in order (§5.1 and §5.2 for format /2). It
// returns a list of { step, ok, detail } and never throws for a bad bundle.
// A step whose inputs come from an earlier failed step fails with
// "not checked: needs <step>".
//
// numbers is the tree json.parseJSON gives for the bundle's text: with it,
// the numbers §5 and §5.3 want as JSON integers must be written without
// fraction and exponent (JSON.parse alone reads 5.0 and 5e0 as 5). Without
// it (a bundle built in JavaScript) only their values are checked.
//
// pinned is a `tally id --json` document or null. ledger pins the ledger's
// trust root: { chainId, validatorsHash (bytes), sender (bytes), genesis
// (the genesis file that gave chainId and validatorsHash), chainIdSource,
// validatorsHashSource, senderSource } (each optional; the sources only
// label the output). A pin for the other kind of ledger than the receipt's
// fails at step ledger (§5.1 step 10); a pin that is not well formed for
// the receipt's ledger throws a PinError (a usage error, not a step).
export function verifyBundle(bundle, { pinned = null, ledger = {}, numbers = undefined } = {}) {
  checkPins(ledger, ledgerOf(bundle));
  const results = [];
  const st = {};
  const ok = (n) => results.find((r) => r.step === n && r.ok);
  const run = (step, needs, fn) => {
    const missing = needs.filter((n) => !ok(n));
    if (missing.length) {
      results.push({ step, ok: false, detail: `not checked: needs ${missing.join(', ')}`, skipped: true });
      return;
    }
    try {
      const detail = fn();
      results.push({ step, ok: true, detail: detail || '' });
    } catch (e) {
      if (!(e instanceof VerifyError)) throw e;
      results.push({ step, ok: false, detail: e.message });
    }
  };

  run('format', [], () => {
    if (!isObject(bundle)) fail('bundle is not a JSON object');
    if (bundle.format !== BUNDLE_FORMAT && bundle.format !== ANCHORED_FORMAT) {
      fail(`format is ${JSON.stringify(bundle.format)}; this verifier knows ${BUNDLE_FORMAT} and ${ANCHORED_FORMAT}`);
    }
    // FORMATS.md §5: every member is required and unknown members are rejected.
    exactMembers(bundle, BUNDLE_MEMBERS, 'bundle');
    if (isObject(bundle.keys)) {
      for (const m of Object.keys(bundle.keys)) {
        if (!['ed25519', 'mldsa65', 'note_key'].includes(m)) fail(`keys has an unknown member ${m}`);
      }
    }
    if (typeof bundle.origin !== 'string') fail('origin is not a string');
    st.gw = gatewayOfOrigin(bundle.origin);
    if (!isIndex(numbers, ['seq'], bundle.seq)) fail(`seq ${numberToken(numbers, 'seq') ?? JSON.stringify(bundle.seq)} is not a JSON integer (no fraction, no exponent) from 0 to 2^53-1`);
    if (!isIndex(numbers, ['tree_size'], bundle.tree_size)) fail(`tree_size ${numberToken(numbers, 'tree_size') ?? JSON.stringify(bundle.tree_size)} is not a JSON integer (no fraction, no exponent) from 0 to 2^53-1`);
    if (typeof bundle.envelope !== 'string') fail('envelope is not a base64 string');
    if (!Array.isArray(bundle.inclusion_proof)) fail('inclusion_proof is not an array');
    if (typeof bundle.checkpoint !== 'string') fail('checkpoint is not a string');
    if (!isObject(bundle.keys)) fail('keys is not an object');
    if (bundle.format === BUNDLE_FORMAT) {
      if (bundle.anchor !== null) fail(`a ${BUNDLE_FORMAT} bundle has no anchor (anchored bundles are ${ANCHORED_FORMAT})`);
      return `${BUNDLE_FORMAT}, origin ${bundle.origin}`;
    }
    st.height = checkAnchorShape(bundle.anchor, numbers);
    return `${ANCHORED_FORMAT}, origin ${bundle.origin}, ledger ${bundle.anchor.receipt.ledger}`;
  });

  run('keys', ['format'], () => {
    const k = decodeKeys(bundle.keys, bundle.origin, 'keys');
    if (pinned) {
      const p = checkIdentity(pinned, bundle.origin);
      if (!eq(p.ed25519, k.ed25519)) fail('the bundle\'s Ed25519 key is not the pinned key');
      if (!eq(p.mldsa65, k.mldsa65)) fail('the bundle\'s ML-DSA-65 key is not the pinned key');
      st.keys = p;
      return `pinned: kid ${hex(kidOf(p.ed25519))}, ed25519 key hash ${hex(ed25519KeyHash(bundle.origin, p.ed25519))}, ML-DSA-65 key hash ${hex(mldsa65KeyHash(bundle.origin, p.mldsa65))}`;
    }
    st.keys = k;
    return `NOT PINNED (taken from the bundle; pass --keys ID.json): kid ${hex(kidOf(k.ed25519))}`;
  });

  run('reading signature', ['format', 'keys'], () => {
    st.envelope = b64(bundle.envelope, 'envelope');
    const e = verifyEnvelope(st.envelope, st.keys.ed25519);
    st.payloadBytes = e.payload;
    return `COSE_Sign1, EdDSA, kid ${hex(e.kid)}, ${st.envelope.length} bytes`;
  });

  run('reading payload', ['reading signature'], () => {
    const p = decodePayload(st.payloadBytes);
    if ('tally/' + p.gw !== bundle.origin) fail(`payload gw ${JSON.stringify(p.gw)} does not match origin ${JSON.stringify(bundle.origin)}`);
    if (p.seq !== BigInt(bundle.seq)) fail(`payload seq ${p.seq} is not the bundle's seq ${bundle.seq}`);
    st.payload = p;
    return `v1, gw ${p.gw}, seq ${p.seq}, sensor ${p.sensor}, kind ${p.kind}, deterministic CBOR`;
  });

  run('leaf hash', ['format'], () => {
    const env = st.envelope || b64(bundle.envelope, 'envelope');
    st.leaf = leafHash(env);
    return hex(st.leaf);
  });

  run('checkpoint signatures', ['format', 'keys'], () => {
    const cp = verifyCheckpoint(bundle.checkpoint, bundle.origin, st.keys);
    if (cp.size !== BigInt(bundle.tree_size)) fail(`checkpoint size ${cp.size} is not the bundle's tree_size ${bundle.tree_size}`);
    st.cp = cp;
    return `size ${cp.size}, Ed25519 + ML-DSA-65 verify${cp.otherSigs ? `, ${cp.otherSigs} other signature(s) ignored` : ''}`;
  });

  run('inclusion', ['leaf hash', 'checkpoint signatures'], () => {
    if (!(bundle.seq < bundle.tree_size)) fail(`seq ${bundle.seq} is not below tree_size ${bundle.tree_size}`);
    const proof = hashList(bundle.inclusion_proof, 'inclusion_proof');
    verifyInclusion(bundle.seq, bundle.tree_size, st.leaf, proof, st.cp.root);
    return `leaf ${bundle.seq} of ${bundle.tree_size}, ${proof.length} hashes, root ${hex(st.cp.root)}`;
  });

  if (!ok('format') || bundle.format === BUNDLE_FORMAT) {
    run('anchor', ['format'], () => 'none: signed and logged by the gateway, not anchored on a ledger');
    return results;
  }

  // ---- §5.1 ----
  const anchor = bundle.anchor;
  const receipt = anchor.receipt;
  st.txPayload = b64(receipt.payload, 'payload');

  run('anchored checkpoint', ['format', 'keys'], () => {
    const cp = verifyCheckpoint(anchor.checkpoint, bundle.origin, st.keys);
    if (cp.size < BigInt(bundle.tree_size)) fail(`the anchored checkpoint's size ${cp.size} is below the bundle's tree_size ${bundle.tree_size}`);
    st.acp = cp;
    return `size ${cp.size}, root ${hex(cp.root)}, Ed25519 + ML-DSA-65 verify${cp.otherSigs ? `, ${cp.otherSigs} other signature(s) ignored` : ''}`;
  });

  run('consistency', ['checkpoint signatures', 'anchored checkpoint'], () => {
    const proof = hashList(anchor.consistency_proof, 'consistency_proof');
    verifyConsistency(st.cp.size, st.acp.size, st.cp.root, st.acp.root, proof);
    if (st.cp.size === st.acp.size) return `the anchored checkpoint is the bundle's tree (size ${st.acp.size}, same root)`;
    return `the anchored tree of size ${st.acp.size} extends the tree of size ${st.cp.size} (RFC 9162 §2.1.4.2, ${proof.length} hashes)`;
  });

  let last;
  const foreign = foreignPins(receipt.ledger, ledger);
  if (foreign.length) {
    run('ledger', ['format'], () => {
      fail(`the bundle is anchored on ${receipt.ledger}, but ${foreign.join(' and ')} pin${foreign.length === 1 ? 's' : ''} another kind of ledger: the auditor pinned another ledger than the bundle names`);
    });
    last = 'ledger';
  } else if (receipt.ledger === 'cometbft') {
    cometbftSteps(run, st, receipt, ledger);
    last = 'tx in block';
  } else if (receipt.ledger === 'evm') {
    evmSteps(run, st, receipt, ledger, numbers === undefined ? undefined : numbers.get('anchor').get('receipt').get('evidence'));
    last = 'evm transaction';
  } else {
    run('ledger', ['format'], () => {
      fail(`ledger ${JSON.stringify(receipt.ledger)} is not one FORMATS.md defines (cometbft, evm)`);
    });
    last = 'ledger';
  }

  run('checkpoint in tx', ['anchored checkpoint', last], () => {
    const want = renderTxFormat(receipt.tx_format, { origin: st.acp.origin, size: st.acp.size, root: st.acp.root, note: anchor.checkpoint });
    if (!eq(want, st.txPayload)) fail(`the ledger transaction carries ${printable(st.txPayload)}, not this checkpoint (${printable(want)})`);
    return `the transaction carries origin ${st.acp.origin}, size ${st.acp.size} and root ${hex(st.acp.root)} (format ${receipt.tx_format})`;
  });

  return results;
}

// ---------- §5.1 ledger pins ----------

// PinError is a ledger pin that is not well formed (FORMATS.md §5.1): a
// usage error of whoever pinned it (exit 2), not a failed step.
export class PinError extends Error {}

// ledgerOf is the receipt's ledger of an anchored bundle, or undefined
// when the bundle does not have one.
export function ledgerOf(bundle) {
  const r = isObject(bundle) && isObject(bundle.anchor) && isObject(bundle.anchor.receipt) ? bundle.anchor.receipt : null;
  return r && typeof r.ledger === 'string' ? r.ledger : undefined;
}

// checkPins throws a PinError for a pin that is not well formed (§5.1): a
// chain id that is not a string, or for an EVM receipt not decimal digits
// without leading zeros (a CometBFT chain id is any string, and a genesis
// file's pins fail at step ledger on an EVM receipt); a sender that is not
// 20 bytes; a validators hash that is not 32 bytes.
export function checkPins(ledger, kind) {
  const { chainId, sender, validatorsHash, genesis } = ledger;
  if (chainId != null) {
    if (typeof chainId !== 'string' || chainId === '') throw new PinError(`the pinned chain id ${JSON.stringify(chainId)} is not a non-empty string`);
    if (kind === 'evm' && genesis == null && !evm.DECIMAL.test(chainId)) {
      throw new PinError(`the pinned chain id ${JSON.stringify(chainId)}${ledger.chainIdSource ? ` (${ledger.chainIdSource})` : ''} is not an EVM chain id: decimal digits without leading zeros`);
    }
  }
  if (sender != null && !(sender instanceof Uint8Array && sender.length === 20)) throw new PinError('the pinned sender is not a 20-byte address');
  if (validatorsHash != null && !(validatorsHash instanceof Uint8Array && validatorsHash.length === 32)) throw new PinError('the pinned validators hash is not 32 bytes');
}

// foreignPins names the pins for another kind of ledger than kind (§5.1
// step 10): a sender on a CometBFT receipt, a validator set or genesis on
// an EVM receipt. The chain id is a pin of both kinds.
function foreignPins(kind, ledger) {
  const out = [];
  if (kind === 'cometbft' && ledger.sender != null) out.push(`the sender pin (${ledger.senderSource || 'sender'}, EVM)`);
  if (kind === 'evm' && ledger.genesis != null) out.push(`the genesis pin (${ledger.genesis}, CometBFT)`);
  else if (kind === 'evm' && ledger.validatorsHash != null) out.push(`the validator set pin (${ledger.validatorsHashSource || 'validators hash'}, CometBFT)`);
  return out;
}

// hashList decodes a JSON array of base64 32-byte hashes.
function hashList(list, what) {
  return list.map((h, i) => {
    const b = b64(h, `${what}[${i}]`);
    if (b.length !== 32) fail(`${what}[${i}] is ${b.length} bytes, want 32`);
    return b;
  });
}

const UP = (b) => hex(b).toUpperCase();

// cometbftSteps runs §5.2's steps.
function cometbftSteps(run, st, receipt, ledger) {
  run('chain id', ['format'], () => {
    st.ev = comet.decodeEvidence(receipt.evidence);
    const id = st.ev.header.chainId;
    if (id !== receipt.network) fail(`the header is from chain ${JSON.stringify(id)}, the receipt says ${JSON.stringify(receipt.network)}`);
    if (ledger.chainId != null) {
      if (id !== ledger.chainId) fail(`the block is from chain ${JSON.stringify(id)}, not the pinned chain ${JSON.stringify(ledger.chainId)}`);
      return `${id} (pinned${ledger.chainIdSource ? ` by ${ledger.chainIdSource}` : ''})`;
    }
    return `${id} (NOT pinned: taken from the evidence; pass --genesis GENESIS.json or --chain-id)`;
  });

  run('validator set', ['chain id'], () => {
    const { sorted, total } = comet.sortValidators(st.ev.validators);
    const h = comet.validatorSetHash(sorted);
    if (!eq(h, st.ev.header.validatorsHash)) fail(`the evidence's validators hash to ${UP(h)}, the header names ${UP(st.ev.header.validatorsHash)}`);
    st.vals = sorted;
    st.total = total;
    const what = `${sorted.length} validator(s), total voting power ${total}, hash ${UP(h)}`;
    if (ledger.validatorsHash != null) {
      if (!eq(h, ledger.validatorsHash)) fail(`the block was signed by validator set ${UP(h)}, not the pinned set ${UP(ledger.validatorsHash)}`);
      return `${what} (pinned${ledger.validatorsHashSource ? ` by ${ledger.validatorsHashSource}` : ''})`;
    }
    return `${what} (NOT pinned: taken from the evidence; pass --genesis GENESIS.json or --validators-hash)`;
  });

  run('signed header', ['chain id'], () => {
    const { header: h, commit: c } = st.ev;
    if (!st.ev.hasHeader) fail('the evidence has no signed_header.header');
    if (!st.ev.hasCommit) fail('the evidence has no signed_header.commit');
    checkHeaderBasic(h);
    checkCommitBasic(c);
    if (c.height !== h.height) fail(`header and commit height mismatch: ${h.height} vs ${c.height}`);
    const hh = comet.headerHash(h);
    if (!eq(hh, c.blockId.hash)) fail(`the commit signs block ${UP(c.blockId.hash)}, the header is block ${UP(hh)}`);
    if (st.height !== h.height) fail(`the receipt names block ${st.height}, the evidence is block ${h.height}`);
    const bh = fromAnyHex(receipt.block_hash, 'block_hash');
    if (!eq(bh, hh)) fail(`the receipt's block_hash ${receipt.block_hash} is not the header's hash ${UP(hh)}`);
    const bt = parseTime(receipt.block_time, 'block_time');
    if (bt.seconds !== h.time.seconds || bt.nanos !== h.time.nanos) fail(`the receipt's block_time ${receipt.block_time} is not the header's time ${formatTime(h.time)}`);
    st.blockHash = hh;
    return `block ${h.height}, hash ${UP(hh)}, time ${formatTime(h.time)}; the commit is for this header`;
  });

  run('commit', ['validator set', 'signed header'], () => {
    const { header: h, commit: c } = st.ev;
    if (c.signatures.length !== st.vals.length) fail(`the commit has ${c.signatures.length} signature(s) for ${st.vals.length} validator(s)`);
    let power = 0n;
    let checked = 0;
    c.signatures.forEach((s, i) => {
      if (s.flag !== comet.FLAG_COMMIT) return;
      const v = st.vals[i];
      const msg = comet.voteSignBytes({ type: comet.PRECOMMIT, height: c.height, round: c.round, blockId: c.blockId, timestamp: s.timestamp, chainId: h.chainId });
      if (!comet.verifyVoteSignature(s.signature, msg, v.pubKey)) fail(`signature ${i} (validator ${UP(v.address)}) does not verify over its canonical precommit`);
      checked++;
      power += v.power;
    });
    if (power * 3n <= st.total * 2n) fail(`signed by ${power} of ${st.total} voting power, not more than 2/3`);
    return `signed by ${power} of ${st.total} voting power (more than 2/3); ${checked} precommit signature(s) checked, ${c.signatures.length - checked} not for the block`;
  });

  run('tx in block', ['signed header'], () => {
    const tp = st.ev.txProof;
    if (!eq(tp.data, st.txPayload)) fail('tx_proof.data is not the receipt\'s payload');
    const txHash = sha256(tp.data);
    if (!/^[0-9a-fA-F]{64}$/.test(receipt.tx_id) || receipt.tx_id.toLowerCase() !== hex(txHash)) fail(`tx_id ${receipt.tx_id} is not the tx's SHA-256 ${hex(txHash)}`);
    if (!eq(tp.rootHash, st.ev.header.dataHash)) fail(`the tx proof's root ${UP(tp.rootHash)} is not the header's data hash ${UP(st.ev.header.dataHash)}`);
    if (tp.total <= 0n || tp.index < 0n || tp.index >= tp.total || tp.total > BigInt(Number.MAX_SAFE_INTEGER)) fail(`tx proof index ${tp.index} of ${tp.total} is out of range`);
    const leaf = comet.leafHashOf(txHash);
    if (!eq(tp.leafHash, leaf)) fail(`the tx proof's leaf hash ${hex(tp.leafHash)} is not SHA-256(0x00 ‖ SHA-256(tx)) = ${hex(leaf)}`);
    const root = comet.rootFromAunts(Number(tp.index), Number(tp.total), leaf, tp.aunts);
    if (root === null) fail(`the tx proof has ${tp.aunts.length} aunt(s), which do not fit leaf ${tp.index} of ${tp.total}`);
    if (!eq(root, tp.rootHash)) fail(`the tx proof leads to ${UP(root)}, not the block's data hash ${UP(tp.rootHash)}`);
    return `tx ${hex(txHash)} is tx ${tp.index} of ${tp.total} in block ${st.ev.header.height} (Merkle proof to the data hash ${UP(tp.rootHash)})`;
  });
}

// evmSteps runs §5.3's steps; evNumbers is the evidence's tree from
// json.parseJSON, or undefined.
function evmSteps(run, st, receipt, ledger, evNumbers) {
  run('evm transaction', ['format'], () => {
    evm.checkReceipt(receipt, st.height);
    const ev = evm.decodeEvidence(receipt.evidence, evNumbers);
    const tx = evm.decodeLegacyTx(ev.raw);
    const h = evm.txHash(ev.raw);
    if (receipt.tx_id !== h) fail(`tx_id ${JSON.stringify(receipt.tx_id)} is not the raw transaction's Keccak-256 ${h}`);
    if (!eq(tx.data, st.txPayload)) fail(`the transaction's calldata ${printable(tx.data)} is not the receipt's payload ${printable(st.txPayload)}`);
    if (tx.nonce !== ev.nonce) fail(`the transaction's nonce is ${tx.nonce}, the evidence says ${ev.nonce}`);
    if (tx.gas !== ev.gasLimit) fail(`the transaction's gas limit is ${tx.gas}, the evidence says ${ev.gasLimit}`);
    if (tx.gasPrice !== ev.gasPrice) fail(`the transaction's gas price is ${tx.gasPrice} wei, the evidence says ${ev.gasPrice}`);
    if (!eq(tx.to, ev.to)) fail(`the transaction goes to ${evm.checksumAddress(tx.to)}, the evidence says ${evm.checksumAddress(ev.to)}`);
    st.tx = tx;
    return `${h}: legacy EIP-155 transaction, nonce ${tx.nonce}, to ${evm.checksumAddress(tx.to)}, ${tx.data.length} bytes of calldata = the payload`;
  });

  run('chain id', ['evm transaction'], () => {
    // checkReceipt (evm transaction) checked network's form, checkPins the pin's.
    const id = st.tx.chainId;
    if (BigInt(receipt.network) !== id) fail(`the transaction is signed for chain id ${id}, the receipt says ${receipt.network}`);
    if (ledger.chainId != null) {
      if (BigInt(ledger.chainId) !== id) fail(`the transaction is signed for chain id ${id}, not the pinned chain id ${ledger.chainId}`);
      return `${id} (pinned${ledger.chainIdSource ? ` by ${ledger.chainIdSource}` : ''})`;
    }
    return `${id} (NOT pinned: taken from the transaction; pass --chain-id)`;
  });

  run('sender', ['evm transaction'], () => {
    const from = evm.parseAddress(receipt.evidence.from, 'evidence.from');
    const signer = evm.recoverSender(st.tx);
    const name = evm.checksumAddress(signer);
    if (!eq(signer, from)) fail(`the signature recovers ${name}, the evidence says from ${receipt.evidence.from}`);
    if (ledger.sender != null) {
      if (!eq(signer, ledger.sender)) fail(`the transaction is signed by ${name}, not the pinned sender ${evm.checksumAddress(ledger.sender)}`);
      return `${name} (pinned${ledger.senderSource ? ` by ${ledger.senderSource}` : ''})`;
    }
    return `${name} (NOT pinned: taken from the evidence; pass --sender)`;
  });
}

function hashLen(b, what, { optional = true } = {}) {
  if ((optional && b.length === 0) || b.length === 32) return;
  fail(`header ${what} is ${b.length} bytes, want ${optional ? '0 or ' : ''}32`);
}

// checkHeaderBasic is CometBFT's stateless header validation.
function checkHeaderBasic(h) {
  if (h.version.block !== comet.BLOCK_PROTOCOL) fail(`header block protocol is ${h.version.block}, CometBFT v0.38's is ${comet.BLOCK_PROTOCOL}`);
  if (h.chainId.length > 50) fail('header chain_id is longer than 50 characters');
  if (h.height <= 0n) fail(`header height ${h.height} is not positive`);
  hashLen(h.lastBlockId.hash, 'last_block_id.hash');
  hashLen(h.lastBlockId.partsHash, 'last_block_id.parts.hash');
  for (const k of ['lastCommitHash', 'dataHash', 'evidenceHash', 'nextValidatorsHash', 'consensusHash', 'lastResultsHash']) hashLen(h[k], k);
  hashLen(h.validatorsHash, 'validators_hash', { optional: false });
  if (h.proposerAddress.length !== 20) fail(`header proposer_address is ${h.proposerAddress.length} bytes, want 20`);
}

// checkCommitBasic is CometBFT's stateless commit validation.
function checkCommitBasic(c) {
  if (c.height < 0n || c.round < 0) fail('commit height or round is negative');
  if (c.height === 0n) return;
  if (c.blockId.hash.length === 0 && c.blockId.partsTotal === 0 && c.blockId.partsHash.length === 0) fail('the commit is for a nil block');
  if (c.signatures.length === 0) fail('the commit has no signatures');
  c.signatures.forEach((s, i) => {
    switch (s.flag) {
      case comet.FLAG_ABSENT:
        if (s.address.length || s.signature.length || s.timestamp.seconds !== -62135596800n || s.timestamp.nanos) fail(`commit signature ${i} is marked absent but has an address, time or signature`);
        break;
      case comet.FLAG_COMMIT:
      case comet.FLAG_NIL:
        if (s.address.length !== 20) fail(`commit signature ${i}: validator address is ${s.address.length} bytes, want 20`);
        if (s.signature.length === 0 || s.signature.length > 64) fail(`commit signature ${i} is ${s.signature.length} bytes, want 1 to 64`);
        break;
      default:
        fail(`commit signature ${i} has an unknown block_id_flag ${s.flag}`);
    }
  });
}
