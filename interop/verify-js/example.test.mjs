// Checks docs/FORMATS.md §6 (worked example) with this verifier's CBOR/COSE
// code, plus unit checks of the CBOR decoder and RFC 9162 inclusion proofs.
//
//   node --test example.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { decode, CBORFloat, CBORMap } from './cbor.mjs';
import {
  b64,
  decodePayload,
  fromHex,
  hex,
  kidOf,
  leafHash,
  nodeHash,
  parseEnvelope,
  rootFromInclusionProof,
  toB64,
  toBeSigned,
  verifyCheckpoint,
  verifyEnvelope,
  verifyInclusion,
  ed25519KeyHash,
  mldsa65KeyHash,
  VerifyError,
} from './tally.mjs';

// ---- §6 worked example, copied from FORMATS.md ----
const SEED = new Uint8Array(32);
const PUB = '3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29';
const KID = '139e3940e64b5491';
const PAYLOAD =
  'aa6176016267776467772d3163736571076464617461a26570726f626566737570706c796763656c73697573f9cca0646b696e646b74656d70657261747572656473616c74500000000000000000000000000000000065636c6f636b666465766963656673656e736f72687265656665722d3167726563765f75731b00060a24182022406973656e736f725f75731b00060a24181e4000';
const ENVELOPE =
  'd2844da201270448139e3940e64b5491a05897aa6176016267776467772d3163736571076464617461a26570726f626566737570706c796763656c73697573f9cca0646b696e646b74656d70657261747572656473616c74500000000000000000000000000000000065636c6f636b666465766963656673656e736f72687265656665722d3167726563765f75731b00060a24182022406973656e736f725f75731b00060a24181e4000584014a09a247702097cf8ffd953da4e5fb325563c4bdaeff57a26cda7c8647bd54f9b68bb541f47cc139da0cbdf8ab14bc38f1a1d4e31de0c6c1166b36058dc4a00';
const LEAF = 'bfb0d76469aa4318827435da7ccaff2b712a018c075345e2c1289bffa94211be';

test('§6 public key and kid from the zero seed', () => {
  assert.equal(hex(ed25519.getPublicKey(SEED)), PUB);
  assert.equal(hex(kidOf(fromHex(PUB))), KID);
});

test('§6 payload decodes to the stated reading, deterministically', () => {
  const p = decodePayload(fromHex(PAYLOAD));
  assert.equal(p.v, 1n);
  assert.equal(p.gw, 'gw-1');
  assert.equal(p.seq, 7n);
  assert.equal(p.sensor, 'reefer-1');
  assert.equal(p.kind, 'temperature');
  assert.equal(p.recv_us, 1700000000123456n);
  assert.equal(p.sensor_us, 1700000000000000n);
  assert.equal(p.clock, 'device');
  assert.deepEqual(p.salt, new Uint8Array(16));
  assert.ok(p.data instanceof CBORMap);
  assert.equal(p.data.get('probe'), 'supply');
  const c = p.data.get('celsius');
  assert.ok(c instanceof CBORFloat);
  assert.equal(c.value, -18.5);
  assert.equal(c.width, 2, '-18.5 is a half-precision float');
  const d = decode(fromHex(PAYLOAD));
  assert.ok(d.canonical, d.problems.join('; '));
  // keys in the documented order: shorter first, then bytewise
  assert.deepEqual(d.value.keys(), ['v', 'gw', 'seq', 'data', 'kind', 'salt', 'clock', 'sensor', 'recv_us', 'sensor_us']);
});

test('§6 envelope: 236 bytes, protected header bytes, payload, signature', () => {
  const env = fromHex(ENVELOPE);
  assert.equal(env.length, 236);
  assert.equal(hex(env.subarray(0, 16)), 'd2844da201270448' + KID, 'tag 18, array(4), protected 4d a2 01 27 04 48 <kid>');
  const e = parseEnvelope(env);
  assert.equal(hex(e.protected), 'a201270448' + KID);
  assert.equal(e.protected.length, 13);
  assert.equal(hex(e.payload), PAYLOAD);
  assert.ok(e.protectedCanonical);
  assert.ok(e.envelopeCanonical, e.envelopeProblems.join('; '));
});

test('§6 envelope signature verifies and equals a fresh deterministic Ed25519 signature', () => {
  const env = fromHex(ENVELOPE);
  const e = verifyEnvelope(env, fromHex(PUB));
  const tbs = toBeSigned(e.protected, e.payload);
  // 84 6a "Signature1" <protected bstr> 40 <payload bstr>
  assert.equal(hex(tbs.subarray(0, 12)), '846a' + Buffer.from('Signature1').toString('hex'));
  assert.equal(hex(tbs.subarray(12, 26)), '4d' + hex(e.protected));
  assert.equal(tbs[26], 0x40);
  assert.equal(hex(ed25519.sign(tbs, SEED)), hex(e.signature));
});

test('§6 leaf hash', () => {
  assert.equal(hex(leafHash(fromHex(ENVELOPE))), LEAF);
});

test('§6 tampering is detected', () => {
  const env = fromHex(ENVELOPE);
  env[100] ^= 1;
  assert.throws(() => verifyEnvelope(env, fromHex(PUB)), VerifyError);
  const other = ed25519.getPublicKey(new Uint8Array(32).fill(1));
  assert.throws(() => verifyEnvelope(fromHex(ENVELOPE), other), /kid/);
});

// ---- CBOR decoder strictness ----

test('CBOR: non-deterministic encodings are reported', () => {
  const cases = {
    '1817': 'non-shortest', // 23 in two bytes
    'fa3fc00000': 'half', // 1.5 as single
    'fb3ff8000000000000': 'half', // 1.5 as double
    'fb3ff199999999999a': null, // 1.1 needs double
    'fa47c35000': null, // 100000.0 needs single
    'fb40f86a0000000000': 'single', // 100000.0 as double
    'a2616201616101': 'order', // {"b":1,"a":2}
    a178016101: 'non-shortest', // {"a":1} with a two-byte key length
  };
  for (const [h, want] of Object.entries(cases)) {
    const d = decode(fromHex(h));
    if (want === null) assert.ok(d.canonical, `${h}: ${d.problems}`);
    else assert.ok(!d.canonical && d.problems.join(' ').includes(want), `${h}: ${d.problems}`);
  }
});

test('CBOR: malformed or unsupported input throws', () => {
  for (const h of ['', '18', '5f', '9f', 'c100', 'a2616101616102', '62ffff', 'f818', '0000', '5a00000010']) {
    assert.throws(() => decode(fromHex(h)), `${h} should not decode`);
  }
});

test('CBOR: half floats', () => {
  const v = (h) => decode(fromHex(h)).value.value;
  assert.equal(v('f93c00'), 1);
  assert.equal(v('f97bff'), 65504);
  assert.equal(v('f90001'), 5.960464477539063e-8);
  assert.equal(v('f9c400'), -4);
  assert.equal(v('f97c00'), Infinity);
  assert.ok(Object.is(v('f98000'), -0));
  assert.ok(decode(fromHex('f98000')).canonical);
  assert.ok(!decode(fromHex('fa80000000')).canonical, '-0.0 as single is not shortest');
});

// ---- RFC 9162 inclusion proofs against a reference tree ----

function mth(leaves) {
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

function path(m, leaves) {
  if (leaves.length === 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  if (m < k) return [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))];
  return [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

test('RFC 9162 §2.1.3.2 inclusion verification, all sizes 1..33', () => {
  const all = Array.from({ length: 33 }, (_, i) => leafHash(Uint8Array.of(i)));
  for (let n = 1; n <= all.length; n++) {
    const leaves = all.slice(0, n);
    const root = mth(leaves);
    for (let m = 0; m < n; m++) {
      const p = path(m, leaves);
      verifyInclusion(m, n, leaves[m], p, root);
      if (p.length > 0) {
        assert.throws(() => verifyInclusion(m, n, leaves[m], p.slice(0, -1), root), VerifyError);
        assert.throws(() => verifyInclusion(m, n, leaves[m], [...p, p[0]], root), VerifyError);
        const bad = p.map((x) => x.slice());
        bad[0][0] ^= 1;
        assert.throws(() => verifyInclusion(m, n, leaves[m], bad, root), VerifyError);
      }
      if (n > 1) assert.throws(() => verifyInclusion((m + 1) % n, n, leaves[m], p, root), VerifyError);
    }
    assert.throws(() => rootFromInclusionProof(n, n, all[0], []), VerifyError);
  }
});

// ---- checkpoint round trip with locally made keys (format of §4) ----

test('§4 signed note: both signatures required, other keys ignored', () => {
  const origin = 'tally/gw-1';
  const edSeed = new Uint8Array(32).fill(7);
  const edPub = ed25519.getPublicKey(edSeed);
  const ml = ml_dsa65.keygen(new Uint8Array(32).fill(9));
  const root = nodeHash(new Uint8Array(32), new Uint8Array(32));
  const text = `${origin}\n5\n${toB64(root)}\n`;
  const msg = new TextEncoder().encode(text);
  const line = (name, kh, sig) => `\u2014 ${name} ${toB64(new Uint8Array([...kh, ...sig]))}\n`;
  const edLine = line(origin, ed25519KeyHash(origin, edPub), ed25519.sign(msg, edSeed));
  const mlSig = ml_dsa65.sign(msg, ml.secretKey);
  assert.equal(mlSig.length, 3309);
  const mlLine = line(origin, mldsa65KeyHash(origin, ml.publicKey), mlSig);
  const witness = line('witness.example/w1', Uint8Array.of(1, 2, 3, 4), new Uint8Array(64));
  const keys = { ed25519: edPub, mldsa65: ml.publicKey };
  const cp = verifyCheckpoint(`${text}\n${edLine}${witness}${mlLine}`, origin, keys);
  assert.equal(cp.size, 5n);
  assert.equal(cp.otherSigs, 1);
  assert.deepEqual(cp.root, root);
  assert.throws(() => verifyCheckpoint(`${text}\n${edLine}`, origin, keys), /ML-DSA-65/);
  assert.throws(() => verifyCheckpoint(`${text}\n${mlLine}`, origin, keys), /Ed25519/);
  const badML = mlSig.slice();
  badML[100] ^= 4;
  assert.throws(() => verifyCheckpoint(`${text}\n${edLine}${line(origin, mldsa65KeyHash(origin, ml.publicKey), badML)}`, origin, keys), /does not verify/);
  // a context string would change the signed message: must not verify as pure/empty context
  const ctxSig = ml_dsa65.sign(msg, ml.secretKey, { context: Uint8Array.of(1) });
  assert.throws(() => verifyCheckpoint(`${text}\n${edLine}${line(origin, mldsa65KeyHash(origin, ml.publicKey), ctxSig)}`, origin, keys), /does not verify/);
  assert.throws(() => verifyCheckpoint(`${origin}\n05\n${toB64(root)}\n\n${edLine}${mlLine}`, origin, keys), /leading zeros/);
  assert.throws(() => b64('AAA', 'x'), VerifyError);
  assert.throws(() => b64('AAB=', 'x'), /non-canonical/);
});
