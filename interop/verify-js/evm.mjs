// EVM evidence (FORMATS.md §5.3), written from FORMATS.md and the public
// Ethereum specs: legacy transactions with EIP-155 replay protection, RLP
// (rlp.mjs), EIP-55 addresses, Keccak-256 and secp256k1 public-key recovery.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fail, hex } from './encoding.mjs';
import { numberToken, writtenAsInteger } from './json.mjs';
import * as rlp from './rlp.mjs';

const enc = new TextEncoder();
const N = secp256k1.Point.CURVE().n;

// ---------- addresses (EIP-55) ----------

// checksumAddress is EIP-55's mixed-case encoding of a 20-byte address.
export function checksumAddress(addr) {
  const lower = hex(addr);
  const h = hex(keccak_256(enc.encode(lower)));
  let out = '0x';
  for (let i = 0; i < lower.length; i++) out += parseInt(h[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

// parseAddress reads §5.3's address: "0x" and 40 hex digits, all lower
// case or exactly the EIP-55 form (other mixed case, and all capitals when
// that is not the EIP-55 form, are refused: a typo EIP-55 exists to catch).
export function parseAddress(s, what) {
  if (s === undefined) fail(`${what} is missing`);
  if (typeof s !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(s)) fail(`${what} ${JSON.stringify(s)} is not 0x and 40 hex digits`);
  const addr = new Uint8Array(Buffer.from(s.slice(2), 'hex'));
  if (s.slice(2) !== hex(addr) && s !== checksumAddress(addr)) fail(`${what} ${s} is neither lower case nor EIP-55 (want ${checksumAddress(addr)})`);
  return addr;
}

// addressOf is the address of an uncompressed secp256k1 public key:
// the last 20 bytes of Keccak-256 of its 64 coordinate bytes.
export function addressOf(pub65) {
  return keccak_256(pub65.subarray(1)).slice(12);
}

// ---------- the evidence object and the receipt's forms ----------

// MAX_CHAIN_ID is the largest chain id §5.3 allows (2^64 − 1).
export const MAX_CHAIN_ID = (1n << 64n) - 1n;

// isNumber is §5.3's "number": a JSON integer (no fraction, no exponent;
// numbers is the evidence's tree from json.parseJSON, or undefined) from 0
// to 2^53 − 1.
const isNumber = (numbers, m, v) => writtenAsInteger(numbers, [m], v) && Number.isSafeInteger(v) && v >= 0;
// DECIMAL is §5.3's "decimal string": no sign, no leading zeros.
export const DECIMAL = /^(0|[1-9][0-9]*)$/;
const HASH = /^0x[0-9a-f]{64}$/;

// decodeEvidence checks the members §5.3 lists (all required) and their
// forms; it leaves `from` to the sender step, which fails on it. Unknown
// members are ignored. numbers is the evidence's tree from json.parseJSON
// (the bundle's text): with it, numbers written with a fraction or an
// exponent (5.0, 5e0) fail; without it only their values are checked.
export function decodeEvidence(ev, numbers = undefined) {
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) fail('evidence is not an object');
  for (const m of ['raw_tx', 'to', 'gas_price']) {
    if (typeof ev[m] !== 'string') fail(`evidence.${m} is ${m in ev ? 'not a string' : 'missing'}`);
  }
  for (const m of ['nonce', 'gas_limit', 'gas_used', 'tx_index', 'confirmations']) {
    if (!isNumber(numbers, m, ev[m])) fail(`evidence.${m} is ${m in ev ? `${numberToken(numbers, m) ?? JSON.stringify(ev[m])}, not a JSON integer (no fraction, no exponent) from 0 to 2^53-1` : 'missing'}`);
  }
  if (!/^0x([0-9a-f]{2})+$/.test(ev.raw_tx)) fail(`evidence.raw_tx is not 0x and lower-case hex bytes: ${JSON.stringify(ev.raw_tx.slice(0, 40))}`);
  if (!DECIMAL.test(ev.gas_price)) fail(`evidence.gas_price ${JSON.stringify(ev.gas_price)} is not wei in decimal (no sign, no leading zeros)`);
  if (ev.gas_used > ev.gas_limit) fail(`evidence.gas_used ${ev.gas_used} is above gas_limit ${ev.gas_limit}`);
  if (ev.confirmations < 1) fail(`evidence.confirmations is ${ev.confirmations}: the transaction's own block counts, so at least 1`);
  return {
    raw: new Uint8Array(Buffer.from(ev.raw_tx.slice(2), 'hex')),
    to: parseAddress(ev.to, 'evidence.to'),
    nonce: BigInt(ev.nonce),
    gasLimit: BigInt(ev.gas_limit),
    gasPrice: BigInt(ev.gas_price),
  };
}

// checkReceipt checks the forms §5.3 gives the receipt's members for an EVM
// ledger (their JSON types were checked at step format; height, a JSON
// integer of 64 bits there, is given exactly) and returns the chain id
// `network` names.
export function checkReceipt(r, height = BigInt(r.height)) {
  if (!DECIMAL.test(r.network)) fail(`the receipt's network ${JSON.stringify(r.network)} is not a chain id in decimal (no sign, no leading zeros)`);
  const id = BigInt(r.network);
  if (id < 1n || id > MAX_CHAIN_ID) fail(`the receipt's network ${r.network} is not a chain id from 1 to 2^64-1`);
  if (!HASH.test(r.tx_id)) fail(`the receipt's tx_id ${JSON.stringify(r.tx_id)} is not 0x and 64 lower-case hex digits`);
  if (height < 1n) fail(`the receipt's height is ${height}, not a block (at least 1)`);
  if (!HASH.test(r.block_hash)) fail(`the receipt's block_hash ${JSON.stringify(r.block_hash)} is not 0x and 64 lower-case hex digits`);
  return id;
}

// ---------- legacy transactions (EIP-155) ----------

// decodeLegacyTx decodes RLP [nonce, gasPrice, gas, to, value, data, v, r, s]
// with EIP-155's v = chainId × 2 + 35 + recovery, chainId 1 … 2^64 − 1. It
// leaves r and s to recoverSender: §5.3 checks them at step sender.
export function decodeLegacyTx(raw) {
  if (raw.length > 0 && raw[0] < 0xc0) fail(`not a legacy transaction: it starts with 0x${raw[0].toString(16).padStart(2, '0')}, not an RLP list (an EIP-2718 typed transaction?)`);
  const item = rlp.decode(raw);
  if (item.length !== 9) fail(`not a legacy transaction: an RLP list of ${item.length} items, want 9`);
  const names = ['nonce', 'gasPrice', 'gas', 'to', 'value', 'data', 'v', 'r', 's'];
  item.forEach((x, i) => {
    if (!(x instanceof Uint8Array)) fail(`transaction ${names[i]} is a list, not a string`);
  });
  const [nonce, gasPrice, gas, to, value, data, v, r, s] = item;
  const tx = {
    fields: item.slice(0, 6),
    nonce: rlp.toUint(nonce, 'nonce'),
    gasPrice: rlp.toUint(gasPrice, 'gasPrice'),
    gas: rlp.toUint(gas, 'gas'),
    to,
    value: rlp.toUint(value, 'value'),
    data,
    v: rlp.toUint(v, 'v'),
    r: rlp.toUint(r, 'r'),
    s: rlp.toUint(s, 's'),
  };
  if (to.length === 0) fail('the transaction creates a contract (empty to); an anchor is sent to an address');
  if (to.length !== 20) fail(`the transaction's to is ${to.length} bytes, want 20`);
  if (tx.v < 35n) fail(`v = ${tx.v} is not EIP-155 (chainId × 2 + 35 or + 36): the transaction is not replay-protected`);
  tx.chainId = (tx.v - 35n) >> 1n;
  tx.recovery = Number((tx.v - 35n) & 1n);
  if (tx.chainId < 1n || tx.chainId > MAX_CHAIN_ID) fail(`v = ${tx.v} gives chain id ${tx.chainId}, not one from 1 to 2^64-1`);
  return tx;
}

// signingHash is EIP-155's Keccak-256 of RLP([nonce, gasPrice, gas, to,
// value, data, chainId, 0, 0]).
export function signingHash(tx) {
  return keccak_256(rlp.encode([...tx.fields, tx.chainId, 0n, 0n]));
}

// recoverSender checks r and s (1 ≤ r < n, 1 ≤ s ≤ n/2: low s, as
// Ethereum requires since Homestead) and returns the signer's address.
export function recoverSender(tx) {
  if (tx.r < 1n || tx.r >= N) fail('signature r is not in 1..n-1');
  if (tx.s < 1n || tx.s >= N) fail('signature s is not in 1..n-1');
  if (tx.s > N / 2n) fail('signature s is above n/2 (high s: the malleable twin of a low-s signature)');
  let pub;
  try {
    pub = new secp256k1.Signature(tx.r, tx.s, tx.recovery).recoverPublicKey(signingHash(tx)).toBytes(false);
  } catch (e) {
    fail(`the signature recovers no public key: ${e.message}`);
  }
  return addressOf(pub);
}

// txHash is the transaction's hash as a receipt names it: 0x and hex.
export function txHash(raw) {
  return '0x' + hex(keccak_256(raw));
}
