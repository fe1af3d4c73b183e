// Unit checks of the anchored-bundle primitives (FORMATS.md §5.1, §5.2):
// protobuf encodings, CometBFT's published vote sign bytes and header hash
// vectors, RFC 9162 consistency proofs (published vectors and proofs made
// here by RFC 9162 §2.1.4.1's SUBPROOF), CometBFT Merkle proofs, tx_format
// rendering, and a real anchored bundle from testdata/anchored.
//
//   node --test anchor.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  addressOf,
  blockIDProto,
  decodeEvidence,
  headerHash,
  merkleRoot,
  parseGenesis,
  rootFromAunts,
  simpleValidatorBytes,
  sortValidators,
  validatorSetHash,
  voteSignBytes,
} from './cometbft.mjs';
import { fieldSfixed64, parseTime, sfixed64, timestamp, varint } from './proto.mjs';
import { fromHex, hex, leafHash, nodeHash, parseTxFormat, renderTxFormat, verifyBundle, verifyConsistency, VerifyError } from './tally.mjs';

const enc = new TextEncoder();
const bytes = (...a) => Uint8Array.from(a);
const ZERO_TIME = { seconds: -62135596800n, nanos: 0 }; // Go's time.Time{}

// ---------- protobuf ----------

test('protobuf varints: unsigned, and int64 two\'s complement in ten bytes', () => {
  const cases = [
    [0n, '00'],
    [1n, '01'],
    [127n, '7f'],
    [128n, '8001'],
    [150n, '9601'], // the protobuf encoding guide's example
    [300n, 'ac02'],
    [(1n << 63n) - 1n, 'ffffffffffffffff7f'],
    [-1n, 'ffffffffffffffffff01'],
    [-62135596800n, '8092b8c398feffffff01'], // 0001-01-01T00:00:00Z in seconds
  ];
  for (const [v, want] of cases) assert.equal(hex(varint(v)), want, String(v));
  assert.throws(() => varint(1n << 64n), RangeError);
});

test('protobuf sfixed64: eight bytes little-endian, zero left out as a field', () => {
  assert.equal(hex(sfixed64(1n)), '0100000000000000');
  assert.equal(hex(sfixed64(-2n)), 'feffffffffffffff');
  assert.equal(hex(sfixed64(0x0102030405060708n)), '0807060504030201');
  assert.equal(hex(fieldSfixed64(2, 12345n)), '113930000000000000');
  assert.equal(hex(fieldSfixed64(2, 0n)), '');
});

test('RFC 3339 times to google.protobuf.Timestamp', () => {
  assert.deepEqual(parseTime('0001-01-01T00:00:00Z'), ZERO_TIME);
  assert.deepEqual(parseTime('1970-01-01T00:00:00Z'), { seconds: 0n, nanos: 0 });
  assert.deepEqual(parseTime('2017-12-25T03:00:01.234Z'), { seconds: 1514170801n, nanos: 234000000 });
  assert.deepEqual(parseTime('2017-12-25T04:00:01.234+01:00'), { seconds: 1514170801n, nanos: 234000000 });
  assert.deepEqual(parseTime('2026-11-21T08:18:13.6209933090Z'), { seconds: 1795249093n, nanos: 620993309 });
  assert.deepEqual(parseTime('2024-02-29T23:59:59.000000001Z'), { seconds: 1709251199n, nanos: 1 });
  for (const bad of ['2023-02-29T00:00:00Z', '2024-01-01 00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T00:00:60Z', '2024-01-01T00:00:00', 'yesterday', 5]) {
    assert.throws(() => parseTime(bad), VerifyError, String(bad));
  }
  // Timestamp { seconds = 1; nanos = 2 }, zero fields left out.
  assert.equal(hex(timestamp({ seconds: 0n, nanos: 0 })), '');
  assert.equal(hex(timestamp({ seconds: 1n, nanos: 2 })), '08011002');
  assert.equal(hex(timestamp(ZERO_TIME)), '088092b8c398feffffff01');
});

// ---------- CometBFT: published vectors ----------

// CometBFT types/vote_test.go, TestVoteSignBytesTestVectors (cases 0-4).
test('CanonicalVote sign bytes: CometBFT\'s published vectors', () => {
  const ts = '2a0b088092b8c398feffffff01'; // timestamp field 5: Go's zero time
  const cases = [
    [{ type: 0, height: 0n, round: 0n, chainId: '' }, '0d' + ts],
    [{ type: 2, height: 1n, round: 1n, chainId: '' }, '21' + '0802' + '110100000000000000' + '190100000000000000' + ts],
    [{ type: 1, height: 1n, round: 1n, chainId: '' }, '21' + '0801' + '110100000000000000' + '190100000000000000' + ts],
    [{ type: 0, height: 1n, round: 1n, chainId: '' }, '1f' + '110100000000000000' + '190100000000000000' + ts],
    [{ type: 0, height: 1n, round: 1n, chainId: 'test_chain_id' }, '2e' + '110100000000000000' + '190100000000000000' + ts + '320d' + hex(enc.encode('test_chain_id'))],
  ];
  for (const [v, want] of cases) {
    assert.equal(hex(voteSignBytes({ ...v, blockId: null, timestamp: ZERO_TIME })), want, JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? String(x) : x)));
  }
});

test('CanonicalVote sign bytes with a block id: field 4 holds CanonicalBlockID', () => {
  const blockId = { hash: sha256(enc.encode('blockID_hash')), partsTotal: 1000000, partsHash: sha256(enc.encode('blockID_part_set_header_hash')) };
  const ts = parseTime('2017-12-25T03:00:01.234Z');
  const got = voteSignBytes({ type: 2, height: 12345n, round: 2n, blockId, timestamp: ts, chainId: 'test_chain_id' });
  const psh = '08c0843d' + '1220' + hex(blockId.partsHash);
  const bid = '0a20' + hex(blockId.hash) + '12' + (psh.length / 2).toString(16) + psh;
  const body = '0802' + '113930000000000000' + '190200000000000000' + '22' + (bid.length / 2).toString(16) + bid + '2a' + (hex(timestamp(ts)).length / 2).toString(16).padStart(2, '0') + hex(timestamp(ts)) + '320d' + hex(enc.encode('test_chain_id'));
  assert.equal(hex(got), (body.length / 2).toString(16) + body);
});

// CometBFT types/block_test.go, TestHeaderHash "Generates expected hash".
test('header hash: CometBFT\'s published vector', () => {
  const s = (x) => sha256(enc.encode(x));
  const h = {
    version: { block: 1n, app: 2n },
    chainId: 'chainId',
    height: 3n,
    time: parseTime('2019-10-13T16:14:44Z'),
    lastBlockId: { hash: new Uint8Array(32), partsTotal: 6, partsHash: new Uint8Array(32) },
    lastCommitHash: s('last_commit_hash'),
    dataHash: s('data_hash'),
    validatorsHash: s('validators_hash'),
    nextValidatorsHash: s('next_validators_hash'),
    consensusHash: s('consensus_hash'),
    appHash: s('app_hash'),
    lastResultsHash: s('last_results_hash'),
    evidenceHash: s('evidence_hash'),
    proposerAddress: s('proposer_address').slice(0, 20),
  };
  assert.equal(hex(headerHash(h)).toUpperCase(), 'F740121F553B5418C3EFBD343C2DBFE9E007BB67B0D020A0741374BAB65242A4');
  h.height = 4n;
  assert.notEqual(hex(headerHash(h)).toUpperCase(), 'F740121F553B5418C3EFBD343C2DBFE9E007BB67B0D020A0741374BAB65242A4');
});

test('BlockID: the part set header is written even when empty (non-nullable)', () => {
  assert.equal(hex(blockIDProto({ hash: new Uint8Array(0), partsTotal: 0, partsHash: new Uint8Array(0) })), '1200');
  assert.equal(hex(blockIDProto({ hash: bytes(1, 2), partsTotal: 1, partsHash: bytes(3) })), '0a0201021205080112' + '0103');
});

test('SimpleValidator bytes and the validator set hash of a real genesis', () => {
  const pub = Buffer.from('8xYZsu83/Dln5xKaXS9LkCdmtzCopsRIVwKWJvjz5Zg=', 'base64');
  assert.equal(hex(simpleValidatorBytes(pub, 10n)), '0a220a20' + hex(pub) + '100a');
  assert.equal(hex(addressOf(pub)).toUpperCase(), '21E3275664EC777B1B5524EE55D107334DEE69A9');
  const g = parseGenesis(JSON.parse(readFileSync(new URL('./testdata/anchored/genesis.json', import.meta.url))));
  // validators_hash of every header of that chain (testdata/anchored/bundle.json)
  assert.equal(hex(g.validatorsHash).toUpperCase(), 'DBC3F1CA0AD9F58441DF7DE87ECDE658737EF12D1720164CC3E3B39EA0D812F5');
});

test('validator set order: voting power descending, then address ascending', () => {
  const keys = [1, 2, 3, 4].map((i) => ed25519.getPublicKey(new Uint8Array(32).fill(i)));
  const vals = keys.map((k, i) => ({ keyType: 'tendermint/PubKeyEd25519', pubKey: k, address: addressOf(k), power: i < 2 ? 5n : 10n }));
  const { sorted, total } = sortValidators(vals);
  assert.equal(total, 30n);
  assert.deepEqual(sorted.map((v) => v.power), [10n, 10n, 5n, 5n]);
  for (const [a, b] of [[0, 1], [2, 3]]) assert.ok(Buffer.compare(Buffer.from(sorted[a].address), Buffer.from(sorted[b].address)) < 0);
  assert.deepEqual(validatorSetHash(sortValidators(vals.slice().reverse()).sorted), validatorSetHash(sorted));
  assert.throws(() => sortValidators([vals[0], vals[0]]), /duplicate/);
  assert.throws(() => sortValidators([{ ...vals[0], power: 0n }]), /not positive/);
  assert.throws(() => sortValidators([{ ...vals[0], address: new Uint8Array(20) }]), /SHA-256\(pub_key\)/);
});

// ---------- Merkle trees ----------

// RFC 6962 test data (certificate-transparency merkle_tree_test), as used by
// CometBFT's simple Merkle tree too.
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex);
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

test('CometBFT HashFromByteSlices is the RFC 6962 tree (published roots)', () => {
  assert.equal(hex(merkleRoot([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  for (let n = 1; n <= 8; n++) assert.equal(hex(merkleRoot(CT_LEAVES.slice(0, n))), CT_ROOTS[n - 1], `size ${n}`);
});

// Reference tree functions of RFC 9162 §2.1, on leaf hashes.
function mth(h) {
  if (h.length === 1) return h[0];
  let k = 1;
  while (k * 2 < h.length) k *= 2;
  return nodeHash(mth(h.slice(0, k)), mth(h.slice(k)));
}

function auditPath(m, h) {
  if (h.length === 1) return [];
  let k = 1;
  while (k * 2 < h.length) k *= 2;
  if (m < k) return [...auditPath(m, h.slice(0, k)), mth(h.slice(k))];
  return [...auditPath(m - k, h.slice(k)), mth(h.slice(0, k))];
}

// subproof is RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
function subproof(m, h, b) {
  const n = h.length;
  if (m === n) return b ? [] : [mth(h)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  if (m <= k) return [...subproof(m, h.slice(0, k), b), mth(h.slice(k))];
  return [...subproof(m - k, h.slice(k), false), mth(h.slice(0, k))];
}

test('CometBFT aunt proofs: every leaf of every size 1..20, and nothing else', () => {
  const items = Array.from({ length: 20 }, (_, i) => bytes(i, i * 3));
  const all = items.map(leafHash); // leafHash(x) = SHA-256(0x00 ‖ x)
  for (let n = 1; n <= 20; n++) {
    const root = merkleRoot(items.slice(0, n));
    for (let i = 0; i < n; i++) {
      const aunts = auditPath(i, all.slice(0, n));
      assert.deepEqual(rootFromAunts(i, n, all[i], aunts), root, `leaf ${i} of ${n}`);
      const wrong = (a) => {
        const r = rootFromAunts(i, n, all[i], a);
        return r === null || hex(r) !== hex(root);
      };
      assert.ok(wrong([...aunts, root]), `leaf ${i} of ${n}: one aunt too many`);
      if (aunts.length) assert.ok(wrong(aunts.slice(1)), `leaf ${i} of ${n}: one aunt too few`);
      if (n > 1) assert.ok(wrong(aunts.map((x, j) => (j === 0 ? sha256(x) : x))), `leaf ${i} of ${n}: wrong sibling`);
    }
    assert.equal(rootFromAunts(n, n, all[0], []), null);
    assert.equal(rootFromAunts(-1, n, all[0], []), null);
  }
});

// certificate-transparency-go merkle_tree_test.go ("Generated from
// ReferenceSnapshotConsistency in C++ version"), over CT_LEAVES.
const CT_CONSISTENCY = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];

test('RFC 9162 §2.1.4.2 consistency: published vectors', () => {
  for (const [m, n, proof] of CT_CONSISTENCY) {
    const p = proof.map(fromHex);
    const r1 = fromHex(CT_ROOTS[m - 1]);
    const r2 = fromHex(CT_ROOTS[n - 1]);
    verifyConsistency(m, n, r1, r2, p);
    assert.deepEqual(subproof(m, CT_LEAVES.slice(0, n).map(leafHash), true).map(hex), proof, `SUBPROOF(${m}, ${n})`);
    if (m !== n) {
      assert.throws(() => verifyConsistency(m, n, r2, r2, p), VerifyError, 'wrong first root');
      assert.throws(() => verifyConsistency(m, n, r1, r1, p), VerifyError, 'wrong second root');
    }
  }
});

test('RFC 9162 §2.1.4.2 consistency: every pair of sizes 1 <= m <= n <= 33, and tampering', () => {
  const all = Array.from({ length: 33 }, (_, i) => leafHash(bytes(i)));
  for (let n = 1; n <= all.length; n++) {
    const rn = mth(all.slice(0, n));
    for (let m = 1; m <= n; m++) {
      const rm = mth(all.slice(0, m));
      const p = subproof(m, all.slice(0, n), true);
      verifyConsistency(m, n, rm, rn, p);
      if (m === n) {
        assert.equal(p.length, 0);
        assert.throws(() => verifyConsistency(m, n, rm, rn, [rm]), /not empty/);
        continue;
      }
      assert.throws(() => verifyConsistency(m, n, rm, rn, []), /empty/);
      assert.throws(() => verifyConsistency(m, n, rm, rn, p.slice(0, -1)), VerifyError);
      assert.throws(() => verifyConsistency(m, n, rm, rn, [...p, rn]), VerifyError);
      for (let i = 0; i < p.length; i++) {
        const bad = p.map((x) => x.slice());
        bad[i][31] ^= 0x80;
        assert.throws(() => verifyConsistency(m, n, rm, rn, bad), VerifyError, `m ${m} n ${n} hash ${i}`);
      }
      assert.throws(() => verifyConsistency(n, m, rn, rm, p), /larger/);
    }
  }
});

// ---------- §5.1 tx_format ----------

test('tx_format: FORMATS.md §5.1 default template', () => {
  const root = fromHex('e590' + '11'.repeat(28) + '532a');
  const note = 'tally/gw-demo-01\n668\n' + Buffer.from(root).toString('base64') + '\n\n— tally/gw-demo-01 AAAA\n';
  const got = new TextDecoder().decode(renderTxFormat('tally.{origin_b64url}.{size}={root_hex}.{note_sha256_hex}', { origin: 'tally/gw-demo-01', size: 668n, root, note }));
  assert.equal(got, `tally.dGFsbHkvZ3ctZGVtby0wMQ.668=${hex(root)}.${hex(sha256(enc.encode(note)))}`);
  assert.equal(new TextDecoder().decode(renderTxFormat('{origin} {size} {root_b64}', { origin: 'tally/x', size: 1n, root, note })), `tally/x 1 ${Buffer.from(root).toString('base64')}`);
  for (const bad of ['{size}', '{root_hex}', '{size}{root_hex}{x}', '{size}{root_hex}}', '{size}{root_hex}{', 'a{size {root_hex}']) {
    assert.throws(() => parseTxFormat(bad), VerifyError, bad);
  }
});

// ---------- a real anchored bundle ----------

const fixture = (f) => JSON.parse(readFileSync(new URL(`./testdata/anchored/${f}`, import.meta.url)));

function run(bundle, opts = {}) {
  const r = verifyBundle(bundle, { pinned: fixture('id.json'), ...opts });
  const first = r.find((x) => !x.ok);
  return { r, first: first ? first.step : null };
}

test('testdata/anchored: a real CometBFT-anchored bundle verifies, pinned and not', () => {
  const g = parseGenesis(fixture('genesis.json'));
  const { r, first } = run(fixture('bundle.json'), { ledger: { chainId: g.chainId, validatorsHash: g.validatorsHash } });
  assert.equal(first, null, JSON.stringify(r, null, 1));
  assert.deepEqual(r.map((x) => x.step), ['format', 'keys', 'reading signature', 'reading payload', 'leaf hash', 'checkpoint signatures', 'inclusion', 'anchored checkpoint', 'consistency', 'chain id', 'validator set', 'signed header', 'commit', 'tx in block', 'checkpoint in tx']);
  const un = run(fixture('bundle.json'), { pinned: null });
  assert.equal(un.first, null);
  assert.match(un.r.find((x) => x.step === 'chain id').detail, /NOT pinned/);
  assert.match(un.r.find((x) => x.step === 'validator set').detail, /NOT pinned/);
  const ev = decodeEvidence(fixture('bundle.json').anchor.receipt.evidence);
  assert.equal(hex(headerHash(ev.header)), fixture('bundle.json').anchor.receipt.block_hash);
});

test('testdata/anchored: tampering fails at the step FORMATS.md names', () => {
  const other = parseGenesis(fixture('other-genesis.json'));
  const flip = (s, i) => {
    const b = Buffer.from(s, 'base64');
    b[i] ^= 1;
    return b.toString('base64');
  };
  const cases = [
    ['consistency', (b) => (b.anchor.consistency_proof[0] = flip(b.anchor.consistency_proof[0], 3))],
    ['anchored checkpoint', (b) => (b.anchor.checkpoint = b.anchor.checkpoint.replace('\n21\n', '\n22\n'))],
    ['chain id', (b) => (b.anchor.receipt.network = 'other')],
    ['chain id', () => {}, { ledger: { chainId: other.chainId } }],
    ['validator set', () => {}, { ledger: { validatorsHash: other.validatorsHash } }],
    ['signed header', (b) => (b.anchor.receipt.height += 1)],
    ['signed header', (b) => (b.anchor.receipt.height = -1)], // a JSON integer: not at format
    ['signed header', (b) => (b.anchor.receipt.height = 0)],
    ['format', (b) => (b.anchor.receipt.height = 35.5)],
    ['signed header', (b) => (b.anchor.receipt.block_time = '2020-01-01T00:00:00Z')],
    ['commit', (b) => {
      const s = b.anchor.receipt.evidence.signed_header.commit.signatures[0];
      s.signature = flip(s.signature, 10);
    }],
    ['tx in block', (b) => (b.anchor.receipt.evidence.tx_proof.data = flip(b.anchor.receipt.evidence.tx_proof.data, 5))],
    ['checkpoint in tx', (b) => (b.anchor.receipt.tx_format = 'tally.{origin_b64url}.{size}={root_b64}.{note_sha256_hex}')],
    ['ledger', (b) => (b.anchor.receipt.ledger = 'example')],
    ['evm transaction', (b) => (b.anchor.receipt.ledger = 'evm')], // CometBFT evidence is not EVM evidence
    ['format', (b) => (b.anchor.receipt.extra = 1)],
    ['format', (b) => (b.format = 'tally-proof-bundle/1')],
  ];
  for (const [step, edit, opts] of cases) {
    const b = fixture('bundle.json');
    edit(b);
    assert.equal(run(b, opts).first, step, `${step}: ${edit}`);
  }
});
