// CometBFT v0.38 evidence (docs/FORMATS.md §5.2), from the CometBFT spec
// ("Block", "Encoding"; https://docs.cometbft.com/v0.38/spec/core/data_structures)
// rather than from tally's or CometBFT's Go code:
//
//   - decodeEvidence: CometBFT's JSON (RPC) encoding of signed_header,
//     validators and tx_proof, strictly typed (64-bit integers as decimal
//     strings, 32-bit ones as numbers, hashes as hex, keys and signatures as
//     base64);
//   - merkleRoot / rootFromAunts: CometBFT's simple Merkle tree, which is
//     RFC 6962's (0x00 leaf and 0x01 node prefixes, split at the largest
//     power of two below n);
//   - headerHash: the Merkle root of the header's 14 protobuf-encoded fields;
//   - validatorSetHash: the Merkle root of SimpleValidator{pub_key, voting_power};
//   - voteSignBytes: the length-delimited CanonicalVote a precommit signs;
//   - parseGenesis: chain id and validator set hash of a genesis.json.

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { b64, compareBytes, concat, eq, fail, fromAnyHex, hex, VerifyError } from './encoding.mjs';
import { fieldBytes, fieldMessage, fieldSfixed64, fieldVarint, INT64_MAX, INT64_MIN, lengthDelimited, parseTime, timestamp } from './proto.mjs';

export const ED25519_TYPE = 'tendermint/PubKeyEd25519';
export const BLOCK_PROTOCOL = 11n; // CometBFT v0.38's block protocol version
export const PRECOMMIT = 2; // SignedMsgType
export const FLAG_ABSENT = 1;
export const FLAG_COMMIT = 2;
export const FLAG_NIL = 3;
export const MAX_TOTAL_VOTING_POWER = INT64_MAX / 8n;
const MAX_CHAIN_ID_LEN = 50;
const EMPTY = new Uint8Array(0);

// ---------- Merkle trees (CometBFT crypto/merkle = RFC 6962) ----------

export function leafHashOf(item) {
  return sha256(concat(Uint8Array.of(0x00), item));
}

export function innerHash(l, r) {
  return sha256(concat(Uint8Array.of(0x01), l, r));
}

// splitPoint is the largest power of two strictly below n (n >= 2).
function splitPoint(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// merkleRoot is HashFromByteSlices: the root over items (not yet hashed);
// SHA-256 of nothing for no items.
export function merkleRoot(items) {
  if (items.length === 0) return sha256(EMPTY);
  if (items.length === 1) return leafHashOf(items[0]);
  const k = splitPoint(items.length);
  return innerHash(merkleRoot(items.slice(0, k)), merkleRoot(items.slice(k)));
}

// rootFromAunts computes a root from a leaf hash and its aunts (leaf side
// first), for leaf index of total, or returns null when the proof does not
// have the shape of that position.
export function rootFromAunts(index, total, leaf, aunts) {
  if (index < 0 || total <= 0 || index >= total) return null;
  if (total === 1) return aunts.length === 0 ? leaf : null;
  if (aunts.length === 0) return null;
  const k = splitPoint(total);
  const rest = aunts.slice(0, -1);
  const last = aunts[aunts.length - 1];
  if (index < k) {
    const l = rootFromAunts(index, k, leaf, rest);
    return l === null ? null : innerHash(l, last);
  }
  const r = rootFromAunts(index - k, total - k, leaf, rest);
  return r === null ? null : innerHash(last, r);
}

// ---------- JSON decoding (CometBFT's encoding, Go zero values for absent members) ----------

class DecodeError extends VerifyError {}

function bad(path, msg) {
  throw new DecodeError(`${path}: ${msg}`);
}

function object(v, path) {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) bad(path, 'not an object');
  return v;
}

function array(v, path) {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(path, 'not an array');
  return v;
}

function str(v, path) {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') bad(path, 'not a string');
  return v;
}

// int64 and uint64 are decimal strings in CometBFT's JSON.
function int64(v, path, { unsigned = false } = {}) {
  if (v === undefined || v === null) return 0n;
  if (typeof v !== 'string') bad(path, `64-bit integer ${JSON.stringify(v)} is not a decimal string`);
  if (!/^[+-]?[0-9]+$/.test(v)) bad(path, `invalid 64-bit integer ${JSON.stringify(v).slice(0, 30)}`);
  const n = BigInt(v);
  if (unsigned ? n < 0n || n >= 1n << 64n : n < INT64_MIN || n > INT64_MAX) bad(path, `${v} is out of range`);
  return n;
}

// int32, uint32 and byte fields are JSON numbers.
function int32(v, path, { min = -(2 ** 31), max = 2 ** 31 - 1 } = {}) {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v)) bad(path, `${JSON.stringify(v).slice(0, 30)} is not an integer number`);
  if (v < min || v > max) bad(path, `${v} is out of range`);
  return v;
}

function hexBytes(v, path) {
  if (v === undefined || v === null) return EMPTY;
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v)) bad(path, `not hex: ${JSON.stringify(v).slice(0, 40)}`);
  return fromAnyHex(v, path);
}

function base64(v, path) {
  if (v === undefined || v === null) return EMPTY;
  try {
    return b64(v, path);
  } catch (e) {
    if (e instanceof VerifyError) bad(path, e.message.replace(`${path}: `, ''));
    throw e;
  }
}

function time(v, path) {
  if (v === undefined || v === null) return { seconds: -62135596800n, nanos: 0 }; // Go's zero time
  try {
    return parseTime(v, path);
  } catch (e) {
    if (e instanceof VerifyError) bad(path, e.message);
    throw e;
  }
}

function blockID(v, path) {
  const o = object(v, path);
  const parts = object(o.parts, `${path}.parts`);
  return {
    hash: hexBytes(o.hash, `${path}.hash`),
    partsTotal: int32(parts.total, `${path}.parts.total`, { min: 0, max: 2 ** 32 - 1 }),
    partsHash: hexBytes(parts.hash, `${path}.parts.hash`),
  };
}

const HASH_FIELDS = [
  ['last_commit_hash', 'lastCommitHash'],
  ['data_hash', 'dataHash'],
  ['validators_hash', 'validatorsHash'],
  ['next_validators_hash', 'nextValidatorsHash'],
  ['consensus_hash', 'consensusHash'],
  ['app_hash', 'appHash'],
  ['last_results_hash', 'lastResultsHash'],
  ['evidence_hash', 'evidenceHash'],
  ['proposer_address', 'proposerAddress'],
];

function header(v, path) {
  const o = object(v, path);
  const version = object(o.version, `${path}.version`);
  const h = {
    version: {
      block: int64(version.block, `${path}.version.block`, { unsigned: true }),
      app: int64(version.app, `${path}.version.app`, { unsigned: true }),
    },
    chainId: str(o.chain_id, `${path}.chain_id`),
    height: int64(o.height, `${path}.height`),
    time: time(o.time, `${path}.time`),
    timeString: o.time,
    lastBlockId: blockID(o.last_block_id, `${path}.last_block_id`),
  };
  for (const [j, k] of HASH_FIELDS) h[k] = hexBytes(o[j], `${path}.${j}`);
  return h;
}

function commit(v, path) {
  const o = object(v, path);
  return {
    height: int64(o.height, `${path}.height`),
    round: int32(o.round, `${path}.round`),
    blockId: blockID(o.block_id, `${path}.block_id`),
    signatures: array(o.signatures, `${path}.signatures`).map((s, i) => {
      const p = `${path}.signatures[${i}]`;
      const so = object(s, p);
      return {
        flag: int32(so.block_id_flag, `${p}.block_id_flag`, { min: 0, max: 255 }),
        address: hexBytes(so.validator_address, `${p}.validator_address`),
        timestamp: time(so.timestamp, `${p}.timestamp`),
        signature: base64(so.signature, `${p}.signature`),
      };
    }),
  };
}

function validator(v, path) {
  const o = object(v, path);
  const pk = object(o.pub_key, `${path}.pub_key`);
  return {
    address: hexBytes(o.address, `${path}.address`),
    keyType: str(pk.type, `${path}.pub_key.type`),
    pubKey: base64(pk.value, `${path}.pub_key.value`),
    power: int64(o.voting_power, `${path}.voting_power`),
    priority: int64(o.proposer_priority, `${path}.proposer_priority`),
  };
}

function txProof(v, path) {
  const o = object(v, path);
  const p = object(o.proof, `${path}.proof`);
  return {
    rootHash: hexBytes(o.root_hash, `${path}.root_hash`),
    data: base64(o.data, `${path}.data`),
    total: int64(p.total, `${path}.proof.total`),
    index: int64(p.index, `${path}.proof.index`),
    leafHash: base64(p.leaf_hash, `${path}.proof.leaf_hash`),
    aunts: array(p.aunts, `${path}.proof.aunts`).map((a, i) => base64(a, `${path}.proof.aunts[${i}]`)),
  };
}

// decodeEvidence decodes §5.2's evidence object. Members CometBFT's JSON
// does not define are ignored (as CometBFT's decoder does); absent members
// take their zero value, so that later steps say what is missing.
export function decodeEvidence(ev) {
  try {
    if (ev === null || ev === undefined) bad('evidence', 'missing');
    const o = object(ev, 'evidence');
    const sh = object(o.signed_header, 'evidence.signed_header');
    return {
      header: header(sh.header, 'signed_header.header'),
      hasHeader: sh.header !== undefined && sh.header !== null,
      commit: commit(sh.commit, 'signed_header.commit'),
      hasCommit: sh.commit !== undefined && sh.commit !== null,
      validators: array(o.validators, 'validators').map((x, i) => validator(x, `validators[${i}]`)),
      txProof: txProof(o.tx_proof, 'tx_proof'),
    };
  } catch (e) {
    if (e instanceof DecodeError) fail(`the evidence is not CometBFT v0.38 JSON: ${e.message}`);
    throw e;
  }
}

// ---------- hashing ----------

// cdc* are CometBFT's cdcEncode: the google.protobuf wrapper message
// (StringValue, Int64Value, BytesValue) of a value, or nothing for a zero value.
export function cdcString(s) {
  return fieldBytes(1, s);
}
export function cdcInt64(n) {
  return fieldVarint(1, n);
}
export function cdcBytes(b) {
  return fieldBytes(1, b);
}

// blockIDProto encodes BlockID { bytes hash = 1; PartSetHeader part_set_header = 2 (non-nullable) }
// with PartSetHeader { uint32 total = 1; bytes hash = 2; }.
export function blockIDProto(id) {
  const psh = concat(fieldVarint(1, id.partsTotal), fieldBytes(2, id.partsHash));
  return concat(fieldBytes(1, id.hash), fieldMessage(2, psh, { always: true }));
}

// headerFields returns the 14 leaves of the header hash, in header order.
export function headerFields(h) {
  return [
    concat(fieldVarint(1, h.version.block), fieldVarint(2, h.version.app)), // version.Consensus
    cdcString(h.chainId),
    cdcInt64(h.height),
    timestamp(h.time),
    blockIDProto(h.lastBlockId),
    ...HASH_FIELDS.map(([, k]) => cdcBytes(h[k])),
  ];
}

export function headerHash(h) {
  return merkleRoot(headerFields(h));
}

// simpleValidatorBytes encodes SimpleValidator { PublicKey pub_key = 1; int64 voting_power = 2; }
// with PublicKey { oneof sum { bytes ed25519 = 1; ... } }.
export function simpleValidatorBytes(pub, power) {
  return concat(fieldMessage(1, fieldBytes(1, pub), { always: true }), fieldVarint(2, power));
}

export function validatorSetHash(vals) {
  return merkleRoot(vals.map((v) => simpleValidatorBytes(v.pubKey, v.power)));
}

// canonicalBlockIDProto encodes CanonicalBlockID { bytes hash = 1;
// CanonicalPartSetHeader part_set_header = 2 (non-nullable) } with
// CanonicalPartSetHeader { uint32 total = 1; bytes hash = 2; }: the same
// bytes as BlockID.
const canonicalBlockIDProto = blockIDProto;

function isNilBlockID(id) {
  return id.hash.length === 0 && id.partsTotal === 0 && id.partsHash.length === 0;
}

// voteSignBytes is the length-delimited CanonicalVote { SignedMsgType type = 1;
// sfixed64 height = 2; sfixed64 round = 3; CanonicalBlockID block_id = 4
// (nil for a nil vote); Timestamp timestamp = 5 (non-nullable); string chain_id = 6; }.
export function voteSignBytes({ type = PRECOMMIT, height, round, blockId, timestamp: ts, chainId }) {
  const bid = blockId && !isNilBlockID(blockId) ? fieldMessage(4, canonicalBlockIDProto(blockId), { always: true }) : EMPTY;
  return lengthDelimited(
    concat(fieldVarint(1, type), fieldSfixed64(2, height), fieldSfixed64(3, round), bid, fieldMessage(5, timestamp(ts), { always: true }), fieldBytes(6, chainId)),
  );
}

// ---------- validator sets ----------

export function addressOf(pub) {
  return sha256(pub).slice(0, 20);
}

// sortValidators checks decoded validators (Ed25519 keys, addresses derived
// from them, positive and distinct, total power within CometBFT's bound) and
// returns them in CometBFT's validator set order: voting power descending,
// then address ascending. Commit signatures are by index into that order.
export function sortValidators(vals, what = 'validator') {
  if (vals.length === 0) fail('the evidence has no validators');
  let total = 0n;
  const seen = new Set();
  vals.forEach((v, i) => {
    if (v.keyType !== ED25519_TYPE) fail(`${what} ${i}: key type ${JSON.stringify(v.keyType)} is not ${ED25519_TYPE} (this verifier checks Ed25519 validators only)`);
    if (v.pubKey.length !== 32) fail(`${what} ${i}: Ed25519 key is ${v.pubKey.length} bytes, want 32`);
    const addr = addressOf(v.pubKey);
    if (!eq(addr, v.address)) fail(`${what} ${i}: address ${hex(v.address).toUpperCase()} is not SHA-256(pub_key)[:20] = ${hex(addr).toUpperCase()}`);
    if (v.power <= 0n) fail(`${what} ${i}: voting power ${v.power} is not positive`);
    const a = hex(addr);
    if (seen.has(a)) fail(`${what} ${i}: duplicate validator ${a.toUpperCase()}`);
    seen.add(a);
    total += v.power;
    if (total > MAX_TOTAL_VOTING_POWER) fail(`total voting power exceeds CometBFT's maximum ${MAX_TOTAL_VOTING_POWER}`);
  });
  const sorted = vals.slice().sort((x, y) => (x.power === y.power ? compareBytes(x.address, y.address) : x.power > y.power ? -1 : 1));
  return { sorted, total };
}

// ---------- genesis ----------

// parseGenesis reads the trust root of a CometBFT genesis.json: its chain id
// and the hash of its validator set.
export function parseGenesis(doc) {
  const o = object(doc, 'genesis');
  if (typeof o.chain_id !== 'string' || o.chain_id === '') fail('genesis has no chain_id');
  if (o.chain_id.length > MAX_CHAIN_ID_LEN) fail(`genesis chain_id is longer than ${MAX_CHAIN_ID_LEN} characters`);
  let vals;
  try {
    vals = array(o.validators, 'validators').map((v, i) => {
      const p = `validators[${i}]`;
      const vo = object(v, p);
      const pk = object(vo.pub_key, `${p}.pub_key`);
      const val = {
        address: hexBytes(vo.address, `${p}.address`),
        keyType: str(pk.type, `${p}.pub_key.type`),
        pubKey: base64(pk.value, `${p}.pub_key.value`),
        power: int64(vo.power, `${p}.power`),
      };
      // The address is optional in a genesis; when given it must be the key's.
      if (val.address.length === 0 && val.pubKey.length === 32) val.address = addressOf(val.pubKey);
      return val;
    });
  } catch (e) {
    if (e instanceof DecodeError) fail(`genesis: ${e.message}`);
    throw e;
  }
  if (vals.length === 0) fail('genesis lists no validators (the application sets them at InitChain): pin the validator set hash instead');
  const { sorted, total } = sortValidators(vals, 'genesis validator');
  return { chainId: o.chain_id, validatorsHash: validatorSetHash(sorted), validators: sorted.length, total };
}

// ---------- signatures ----------

// verifyVoteSignature checks a precommit signature. CometBFT verifies
// consensus signatures under ZIP 215 (curve25519-voi), so noble's zip215
// mode is used here.
export function verifyVoteSignature(sig, msg, pub) {
  if (sig.length !== 64) return false;
  try {
    return ed25519.verify(sig, msg, pub, { zip215: true });
  } catch {
    return false;
  }
}
