// Unit checks of the EVM evidence (FORMATS.md §5.3): the RLP spec's
// examples and strictness, EIP-155's example transaction, EIP-55's test
// cases, a real EVM-anchored bundle from testdata/evm with tampered
// copies (one table per rule of §5.3's forms and steps), and §5.1's ledger
// pins: a pin for the other kind of ledger fails at step ledger, a pin that
// is not well formed is a usage error (verify.mjs exits 2).
//
//   node --test evm.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { checksumAddress, decodeLegacyTx, parseAddress, recoverSender, signingHash } from './evm.mjs';
import { decode, encode, fromUint, RLPError, toUint } from './rlp.mjs';
import { fromHex, hex, PinError, verifyBundle, VerifyError } from './tally.mjs';
import { parseJSON } from './json.mjs';
import { parseGenesis } from './cometbft.mjs';

const enc = new TextEncoder();
const str = (s) => enc.encode(s);
const N = secp256k1.Point.CURVE().n;

// ---------- RLP ----------

// The examples of ethereum.org's "Recursive-length prefix (RLP) serialization".
const LOREM = 'Lorem ipsum dolor sit amet, consectetur adipisicing elit';
const RLP_EXAMPLES = [
  ['the string "dog"', str('dog'), '83646f67'],
  ['the list [ "cat", "dog" ]', [str('cat'), str('dog')], 'c88363617483646f67'],
  ["the empty string ('null')", new Uint8Array(0), '80'],
  ['the empty list', [], 'c0'],
  ['the integer 0', 0n, '80'],
  ["the byte '\\x00'", Uint8Array.of(0), '00'],
  ["the byte '\\x0f'", Uint8Array.of(0x0f), '0f'],
  ["the bytes '\\x04\\x00'", Uint8Array.of(4, 0), '820400'],
  ['the integer 1024', 1024n, '820400'],
  ['the set theoretical representation of three', [[], [[]], [[], [[]]]], 'c7c0c1c0c3c0c1c0'],
  [`the string "${LOREM}"`, str(LOREM), 'b838' + hex(str(LOREM))],
];

// asDecoded turns bigints into the strings decode returns.
const asDecoded = (x) => (typeof x === 'bigint' ? fromUint(x) : Array.isArray(x) ? x.map(asDecoded) : x);

test('RLP: the spec\'s examples encode and decode', () => {
  for (const [name, item, want] of RLP_EXAMPLES) {
    assert.equal(hex(encode(item)), want, name);
    assert.deepEqual(decode(fromHex(want)), asDecoded(item), name);
  }
  assert.equal(toUint(decode(fromHex('820400'))), 1024n);
  assert.equal(toUint(decode(fromHex('80'))), 0n);
  // A string of 1024 bytes: "\xb9\x04\x00 followed by the string".
  const long = new Uint8Array(1024).fill(0x61);
  assert.equal(hex(encode(long).subarray(0, 3)), 'b90400');
  assert.deepEqual(decode(encode(long)), long);
});

test('RLP: only canonical encodings decode', () => {
  const cases = [
    ['non-canonical single byte', '8100'],
    ['non-canonical single byte 0x7f', '817f'],
    ['long form for a short string', 'b837' + '61'.repeat(55)],
    ['long form for a short list', 'f80180'],
    ['leading zero in a length', 'b90038' + '61'.repeat(56)],
    ['leading zero in a list length', 'f9003880' + '80'.repeat(55)],
    ['trailing bytes', '83646f6700'],
    ['two items', '8080'],
    ['truncated string', '83646f'],
    ['truncated length', 'b904'],
    ['truncated list', 'c3808080'.slice(0, 6)],
    ['list items overrun the list', 'c28363'],
    ['huge length', 'bfffffffffffffffff'],
    ['empty input', ''],
  ];
  for (const [name, h] of cases) {
    assert.throws(() => decode(fromHex(h)), RLPError, name);
  }
  assert.throws(() => toUint(fromHex('0001')), RLPError, 'an integer with a leading zero');
  assert.throws(() => toUint([]), RLPError, 'a list as an integer');
  // Hostile nesting fails as RLP, not with a JS stack overflow.
  const deep = new Uint8Array(100000).fill(0xc1);
  deep[deep.length - 1] = 0xc0;
  assert.throws(() => decode(deep), RLPError);
  assert.ok(new RLPError('x') instanceof VerifyError, 'a verification step reports RLP errors');
});

// ---------- EIP-155 ----------

// EIP-155's example: nonce 9, gas price 20 gwei, gas 21000, to 0x3535…35,
// value 1 ether, no data, chain id 1, key 0x4646…46.
const EIP155 = {
  signingData: '0xec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080',
  signingHash: '0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53',
  key: '4646464646464646464646464646464646464646464646464646464646464646',
  v: 37n,
  r: 18515461264373351373200002665853028612451056578545711640558177340181847433846n,
  s: 46948507304638947509940763649030358759909902576025900602547168820602576006531n,
  signed: '0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83',
  // Not in the EIP: the address of that key (go-ethereum's
  // crypto.PubkeyToAddress gives the same).
  sender: '0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F',
};
const raw = (h) => fromHex(h.slice(2));

test('EIP-155: the example transaction decodes, hashes and recovers its sender', () => {
  const tx = decodeLegacyTx(raw(EIP155.signed));
  assert.equal(tx.nonce, 9n);
  assert.equal(tx.gasPrice, 20n * 10n ** 9n);
  assert.equal(tx.gas, 21000n);
  assert.equal(hex(tx.to), '35'.repeat(20));
  assert.equal(tx.value, 10n ** 18n);
  assert.equal(tx.data.length, 0);
  assert.deepEqual([tx.v, tx.r, tx.s, tx.chainId, tx.recovery], [EIP155.v, EIP155.r, EIP155.s, 1n, 0]);
  assert.equal('0x' + hex(encode([...tx.fields, tx.chainId, 0n, 0n])), EIP155.signingData);
  assert.equal('0x' + hex(signingHash(tx)), EIP155.signingHash);
  assert.equal(checksumAddress(recoverSender(tx)), EIP155.sender);
  const pub = secp256k1.getPublicKey(fromHex(EIP155.key), false);
  assert.equal(checksumAddress(keccak_256(pub.subarray(1)).slice(12)), EIP155.sender);
});

test('EIP-155: signing the example gives the published v, r, s and signed tx', () => {
  // RFC 6979 nonces, as the EIP's signer used: the signature is deterministic.
  const sig = secp256k1.Signature.fromBytes(secp256k1.sign(raw(EIP155.signingHash), fromHex(EIP155.key), { prehash: false, format: 'recovered' }), 'recovered');
  assert.equal(sig.r, EIP155.r);
  assert.equal(sig.s, EIP155.s);
  const chainId = 1n;
  const v = chainId * 2n + 35n + BigInt(sig.recovery);
  assert.equal(v, EIP155.v);
  const fields = decode(raw(EIP155.signingData)).slice(0, 6);
  assert.equal('0x' + hex(encode([...fields, v, sig.r, sig.s])), EIP155.signed);
});

test('EIP-155: what decodeLegacyTx and recoverSender refuse', () => {
  const items = decode(raw(EIP155.signed));
  const withItem = (i, v) => encode(items.map((x, j) => (j === i ? v : x)));
  const bad = [
    ['v = 27 (not replay-protected)', withItem(6, fromUint(27n))],
    ['v = 28', withItem(6, fromUint(28n))],
    ['a trailing byte', Uint8Array.of(...raw(EIP155.signed), 0)],
    ['a typed (EIP-2718) transaction', Uint8Array.of(2, ...raw(EIP155.signed))],
    ['8 items', encode(items.slice(0, 8))],
    ['10 items', encode([...items, new Uint8Array(0)])],
    ['data as a list', withItem(5, [])],
    ['a contract creation (empty to)', withItem(3, new Uint8Array(0))],
    ['a 19-byte to', withItem(3, new Uint8Array(19))],
    ['a nonce with a leading zero', withItem(0, Uint8Array.of(0, 9))],
    ['an RLP string', encode(str('dog'))],
    ['v = 35 (chain id 0)', withItem(6, fromUint(35n))],
    ['v = 36 (chain id 0)', withItem(6, fromUint(36n))],
    ['v for chain id 2^64', withItem(6, fromUint((1n << 65n) + 35n))],
  ];
  for (const [name, b] of bad) assert.throws(() => decodeLegacyTx(b), VerifyError, name);
  assert.equal(decodeLegacyTx(withItem(6, fromUint((1n << 65n) + 34n))).chainId, (1n << 64n) - 1n, 'chain id 2^64-1');
  // r and s out of range still decode: step sender refuses them.
  assert.equal(decodeLegacyTx(withItem(8, new Uint8Array(0))).s, 0n);

  const tx = decodeLegacyTx(raw(EIP155.signed));
  const twin = { ...tx, s: N - tx.s, recovery: tx.recovery ^ 1 };
  for (const [name, t] of [
    ['the high-s twin', twin],
    ['r = 0', { ...tx, r: 0n }],
    ['s = 0', { ...tx, s: 0n }],
    ['r = n', { ...tx, r: N }],
    ['s = n', { ...tx, s: N }],
  ]) {
    assert.throws(() => recoverSender(t), VerifyError, name);
  }
  // The other recovery bit recovers another key, and another chain id
  // another signing hash: neither is the sender.
  assert.notEqual(checksumAddress(recoverSender({ ...tx, recovery: 1 })), EIP155.sender);
  assert.notEqual(checksumAddress(recoverSender({ ...tx, chainId: 2n })), EIP155.sender);
});

// ---------- EIP-55 ----------

// EIP-55's test cases: all caps, all lower, normal.
const EIP55 = [
  '0x52908400098527886E0F7030069857D2E4169EE7',
  '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
  '0xde709f2102306220921060314715629080e2fb77',
  '0x27b1fdb04752bbc536007a920d24acb045561c26',
  '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
  '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
];

test('EIP-55: the test cases, and the addresses §5.3 accepts', () => {
  for (const a of EIP55) {
    const b = fromHex(a.slice(2).toLowerCase());
    assert.equal(checksumAddress(b), a);
    assert.deepEqual(parseAddress(a, 'a'), b);
    assert.deepEqual(parseAddress(a.toLowerCase(), 'a'), b, 'lower case');
  }
  const normal = EIP55[4];
  const flipped = normal.replace('A', 'a'); // still mixed case
  assert.throws(() => parseAddress(flipped, 'a'), VerifyError, 'one letter in the wrong case');
  assert.throws(() => parseAddress('0x' + normal.slice(2).toUpperCase(), 'a'), VerifyError, 'all caps that is not the checksum');
  for (const s of ['', '0x', normal.slice(2), normal + '00', '0X' + normal.slice(2), normal.slice(0, 41) + 'g', 42]) {
    assert.throws(() => parseAddress(s, 'a'), VerifyError, String(s));
  }
});

// ---------- a real EVM-anchored bundle ----------

const fixture = (f) => JSON.parse(readFileSync(new URL(`./testdata/evm/${f}`, import.meta.url)));
const SENDER = '0xaF339Ba5Bd334e0c3E77241b6D5E6a46601aa1bd';
const PINS = { chainId: '1337', sender: parseAddress(SENDER, 'sender') };

function run(bundle, ledger = PINS) {
  const r = verifyBundle(bundle, { pinned: fixture('id.json'), ledger });
  const first = r.find((x) => !x.ok);
  return { r, first: first ? first.step : null };
}

test('testdata/evm: a real EVM-anchored bundle verifies, pinned and not', () => {
  const { r, first } = run(fixture('bundle.json'));
  assert.equal(first, null, JSON.stringify(r, null, 1));
  assert.deepEqual(r.map((x) => x.step), ['format', 'keys', 'reading signature', 'reading payload', 'leaf hash', 'checkpoint signatures', 'inclusion', 'anchored checkpoint', 'consistency', 'evm transaction', 'chain id', 'sender', 'checkpoint in tx']);
  const un = run(fixture('bundle.json'), {});
  assert.equal(un.first, null);
  assert.match(un.r.find((x) => x.step === 'chain id').detail, /NOT pinned/);
  assert.match(un.r.find((x) => x.step === 'sender').detail, /NOT pinned/);
});

// editTx decodes the bundle's raw_tx, lets edit change its items and puts
// it back, with a matching tx_id unless keepTxID.
function editTx(b, edit, { keepTxID = false } = {}) {
  const ev = b.anchor.receipt.evidence;
  const items = decode(raw(ev.raw_tx));
  edit(items);
  const tx = encode(items);
  ev.raw_tx = '0x' + hex(tx);
  if (!keepTxID) b.anchor.receipt.tx_id = '0x' + hex(keccak_256(tx));
}

test('testdata/evm: tampering fails at the step FORMATS.md names', () => {
  const ev = (b) => b.anchor.receipt.evidence;
  const int = (items, i, f) => (items[i] = fromUint(f(toUint(items[i]))));
  const flipRecovery = (v) => ((v - 35n) ^ 1n) + 35n;
  const cases = [
    ['evm transaction', 'a flipped byte in raw_tx', (b) => {
      const t = raw(ev(b).raw_tx);
      t[40] ^= 1;
      ev(b).raw_tx = '0x' + hex(t);
    }],
    ['evm transaction', 'tx_id not the hash', (b) => (b.anchor.receipt.tx_id = '0x' + 'ab'.repeat(32))],
    ['evm transaction', 'payload edited', (b) => (b.anchor.receipt.payload = Buffer.from('x').toString('base64'))],
    ['evm transaction', 'calldata edited, tx_id updated', (b) => editTx(b, (it) => (it[5] = str('x')))],
    ['evm transaction', 'evidence nonce', (b) => (ev(b).nonce += 1)],
    ['evm transaction', 'evidence gas_limit', (b) => (ev(b).gas_limit += 1)],
    ['evm transaction', 'evidence gas_price', (b) => (ev(b).gas_price = '1')],
    ['evm transaction', 'evidence to', (b) => (ev(b).to = '0x' + '11'.repeat(20))],
    ['evm transaction', 'v = 27', (b) => editTx(b, (it) => (it[6] = fromUint(27n)))],
    ['chain id', 'receipt network', (b) => (b.anchor.receipt.network = '1338')],
    ['chain id', 'receipt network 2^64-1, a chain id of the right form', (b) => (b.anchor.receipt.network = '18446744073709551615')],
    ['chain id', 'v for chain 1338, tx_id updated', (b) => editTx(b, (it) => int(it, 6, (v) => v + 2n))],
    ['chain id', 'another pinned chain id', () => {}, { ...PINS, chainId: '1338' }],
    ['chain id', 'pinned chain id 0, well formed', () => {}, { ...PINS, chainId: '0' }],
    ['sender', 'another pinned sender', () => {}, { ...PINS, sender: new Uint8Array(20).fill(0x11) }],
    ['sender', 'evidence from', (b) => (ev(b).from = '0x' + '11'.repeat(20))],
    ['sender', 's edited, tx_id updated', (b) => editTx(b, (it) => int(it, 8, (s) => s - 1n))],
    ['sender', 'the other recovery bit in v, tx_id updated', (b) => editTx(b, (it) => int(it, 6, flipRecovery))],
    ['checkpoint in tx', 'tx_format', (b) => (b.anchor.receipt.tx_format = 'tally.{origin_b64url}.{size}={root_b64}.{note_sha256_hex}')],
    ['ledger', 'unknown ledger', (b) => (b.anchor.receipt.ledger = 'example')],
  ];
  for (const [step, name, edit, pins] of cases) {
    const b = fixture('bundle.json');
    edit(b);
    assert.equal(run(b, pins).first, step, name);
  }
  // Nothing a bundle holds makes the verifier throw.
  for (const evidence of [null, [], {}, { raw_tx: '0x' }, { ...fixture('bundle.json').anchor.receipt.evidence, raw_tx: '0xc0' }]) {
    const b = fixture('bundle.json');
    b.anchor.receipt.evidence = evidence;
    assert.notEqual(run(b).first, null);
  }
});

// expectSteps runs each [step, name, edit, pins] case on a fresh copy of
// the fixture; step null means that the bundle verifies.
function expectSteps(cases) {
  for (const [step, name, edit, pins] of cases) {
    const b = fixture('bundle.json');
    edit(b);
    const { r, first } = run(b, pins);
    assert.equal(first, step, `${name}: ${JSON.stringify(r.find((x) => !x.ok))}`);
    assert.equal(run(b, {}).first, step, `${name}, unpinned`);
  }
}

test('§5.3: every listed evidence member is required; from fails at sender, the others at evm transaction', () => {
  const members = ['raw_tx', 'from', 'to', 'nonce', 'gas_price', 'gas_limit', 'gas_used', 'tx_index', 'confirmations'];
  expectSteps(members.map((m) => [m === 'from' ? 'sender' : 'evm transaction', `evidence.${m} missing`, (b) => delete b.anchor.receipt.evidence[m]]));
  expectSteps(members.map((m) => [m === 'from' ? 'sender' : 'evm transaction', `evidence.${m} null`, (b) => (b.anchor.receipt.evidence[m] = null)]));
  expectSteps([[null, 'an unknown member is ignored', (b) => (b.anchor.receipt.evidence.block_number = 3)]]);
});

test('§5.3: numbers are integers 0 … 2^53−1, gas_used ≤ gas_limit, confirmations ≥ 1', () => {
  const ev = (b) => b.anchor.receipt.evidence;
  const bad = (m, v) => ['evm transaction', `${m} = ${JSON.stringify(v)}`, (b) => (ev(b)[m] = v)];
  expectSteps([
    ...['nonce', 'gas_limit', 'gas_used', 'tx_index', 'confirmations'].flatMap((m) => [bad(m, -1), bad(m, 1.5), bad(m, 2 ** 53), bad(m, String(ev(fixture('bundle.json'))[m])), bad(m, true)]),
    ['evm transaction', 'gas_used = gas_limit + 1', (b) => (ev(b).gas_used = ev(b).gas_limit + 1)],
    [null, 'gas_used = gas_limit', (b) => (ev(b).gas_used = ev(b).gas_limit)],
    [null, 'gas_used = 0', (b) => (ev(b).gas_used = 0)],
    ['evm transaction', 'confirmations = 0', (b) => (ev(b).confirmations = 0)],
    [null, 'confirmations = 2^53-1', (b) => (ev(b).confirmations = 2 ** 53 - 1)],
    [null, 'tx_index = 2^53-1', (b) => (ev(b).tx_index = 2 ** 53 - 1)],
  ]);
});

test('§5.3: decimal strings and hex have one form', () => {
  const ev = (b) => b.anchor.receipt.evidence;
  const rc = (b) => b.anchor.receipt;
  const price = ev(fixture('bundle.json')).gas_price;
  expectSteps([
    ...['0' + price, '+' + price, '-' + price, ' ' + price, price + '.0', '', '0x' + BigInt(price).toString(16)].map((v) => ['evm transaction', `gas_price ${JSON.stringify(v)}`, (b) => (ev(b).gas_price = v)]),
    ['evm transaction', 'gas_price as a JSON number', (b) => (ev(b).gas_price = Number(price))],
    ['evm transaction', 'raw_tx in upper case', (b) => (ev(b).raw_tx = '0x' + ev(b).raw_tx.slice(2).toUpperCase())],
    ['evm transaction', 'raw_tx without 0x', (b) => (ev(b).raw_tx = ev(b).raw_tx.slice(2))],
    ['evm transaction', 'raw_tx with 0X', (b) => (ev(b).raw_tx = '0X' + ev(b).raw_tx.slice(2))],
    ['evm transaction', 'raw_tx of an odd length', (b) => (ev(b).raw_tx += '0')],
    ['evm transaction', 'tx_id in upper case', (b) => (rc(b).tx_id = '0x' + rc(b).tx_id.slice(2).toUpperCase())],
    ['evm transaction', 'tx_id without 0x', (b) => (rc(b).tx_id = rc(b).tx_id.slice(2))],
  ]);
});

test('§5.3: the receipt\'s forms for an EVM ledger: network, tx_id, height, block_hash at evm transaction; block_time at format', () => {
  const rc = (b) => b.anchor.receipt;
  const network = (v) => ['evm transaction', `network ${JSON.stringify(v)}`, (b) => (rc(b).network = v)];
  expectSteps([
    ...['01337', '0', '+1337', '-1337', '1337 ', '0x539', '', '18446744073709551616', '1e3'].map(network),
    ['evm transaction', 'height 0', (b) => (rc(b).height = 0)],
    ['evm transaction', 'height -1: a JSON integer, so not at format', (b) => (rc(b).height = -1)],
    [null, 'height 2^63-1 (its value is checked online only)', (b) => (rc(b).height = 2 ** 63 - 1024)],
    ['format', 'height 2^63: not 64 bits', (b) => (rc(b).height = 2 ** 63)],
    [null, 'height 1 (its value is checked online only)', (b) => (rc(b).height = 1)],
    ['format', 'height 1.5', (b) => (rc(b).height = 1.5)],
    ...['0x' + rc(fixture('bundle.json')).block_hash.slice(2).toUpperCase(), rc(fixture('bundle.json')).block_hash.slice(2), '0x' + 'ab'.repeat(31), '0x' + 'ab'.repeat(33), '', '0x'].map((v) => ['evm transaction', `block_hash ${JSON.stringify(v)}`, (b) => (rc(b).block_hash = v)]),
    [null, 'another well-formed block_hash (checked online only)', (b) => (rc(b).block_hash = '0x' + 'ab'.repeat(32))],
    ...['2026-11-21T09:17:28', '2026-11-21 09:17:28Z', 'yesterday', '', '2026-13-21T09:17:28Z'].map((v) => ['format', `block_time ${JSON.stringify(v)}`, (b) => (rc(b).block_time = v)]),
    [null, 'another RFC 3339 block_time (checked online only)', (b) => (rc(b).block_time = '2026-11-21T10:17:28.5+01:00')],
  ]);
});

test('§5.3: addresses are lower case or exactly EIP-55', () => {
  const ev = (b) => b.anchor.receipt.evidence;
  const lower = SENDER.toLowerCase();
  const caps = '0x' + SENDER.slice(2).toUpperCase();
  const bad = SENDER.replace('aF', 'af'); // one letter in the wrong case
  assert.notEqual(caps, checksumAddress(fromHex(lower.slice(2))), 'the fixture\'s address is not all capitals in EIP-55');
  expectSteps([
    [null, 'to in lower case', (b) => (ev(b).to = lower)],
    [null, 'from in lower case', (b) => (ev(b).from = lower)],
    ['evm transaction', 'to with a bad checksum', (b) => (ev(b).to = bad)],
    ['evm transaction', 'to in capitals', (b) => (ev(b).to = caps)],
    ['evm transaction', 'to without 0x', (b) => (ev(b).to = lower.slice(2))],
    ['evm transaction', 'to as a number', (b) => (ev(b).to = 1)],
    ['sender', 'from with a bad checksum', (b) => (ev(b).from = bad)],
    ['sender', 'from in capitals', (b) => (ev(b).from = caps)],
    ['sender', 'from of 19 bytes', (b) => (ev(b).from = lower.slice(0, 40))],
    ['sender', 'from as a number', (b) => (ev(b).from = 1)],
  ]);
  // An address whose EIP-55 form is all capitals (EIP-55's own test case) is that form.
  assert.deepEqual(parseAddress(EIP55[0], 'a'), fromHex(EIP55[0].slice(2).toLowerCase()));
});

test('§5.3: v gives a chain id 1 … 2^64−1 at evm transaction; r and s are checked at sender', () => {
  const rc = (b) => b.anchor.receipt;
  const v = (chainId) => (items) => {
    const rec = (toUint(items[6]) - 35n) & 1n;
    items[6] = fromUint(chainId * 2n + 35n + rec);
  };
  expectSteps([
    ['evm transaction', 'chain id 0 in v, network 0', (b) => {
      editTx(b, v(0n));
      rc(b).network = '0';
    }],
    ['evm transaction', 'chain id 0 in v', (b) => editTx(b, v(0n))],
    ['evm transaction', 'chain id 2^64 in v, network 2^64', (b) => {
      editTx(b, v(1n << 64n));
      rc(b).network = String(1n << 64n);
    }],
    // The same signature claimed for another chain recovers another key.
    ['sender', 'chain id 2^64-1 in v, network 2^64-1', (b) => {
      editTx(b, v((1n << 64n) - 1n));
      rc(b).network = String((1n << 64n) - 1n);
    }, {}],
    ['sender', 'r = 0', (b) => editTx(b, (it) => (it[7] = fromUint(0n)))],
    ['sender', 's = 0', (b) => editTx(b, (it) => (it[8] = fromUint(0n)))],
    ['sender', 'r = n', (b) => editTx(b, (it) => (it[7] = fromUint(N)))],
    ['sender', 's = n', (b) => editTx(b, (it) => (it[8] = fromUint(N)))],
    ['sender', 'r = 2^256 + 1 (33 bytes)', (b) => editTx(b, (it) => (it[7] = fromUint((1n << 256n) + 1n)))],
    ['sender', 'the high-s twin', (b) => editTx(b, (it) => {
      it[8] = fromUint(N - toUint(it[8]));
      it[6] = fromUint(((toUint(it[6]) - 35n) ^ 1n) + 35n);
    })],
  ]);
});

test('§5, §5.3: numbers are JSON integers as written: no fraction, no exponent', (t) => {
  const text = readFileSync(new URL('./testdata/evm/bundle.json', import.meta.url), 'utf8');
  // rewrite writes the number member m (the first in the text) as its
  // digits and suffix: the same value to JSON.parse.
  const rewrite = (m, suffix) => {
    const re = new RegExp(`("${m}": )(-?[0-9]+)([,\\n])`);
    assert.match(text, re, m);
    return text.replace(re, `$1$2${suffix}$3`);
  };
  const check = (bundle, step, name) => {
    const { value, numbers } = parseJSON(bundle);
    const r = verifyBundle(value, { pinned: fixture('id.json'), ledger: PINS, numbers });
    const first = r.find((x) => !x.ok);
    assert.equal(first ? first.step : null, step, `${name}: ${JSON.stringify(first)}`);
    // JSON.parse alone cannot tell: the same bundle without its text verifies.
    assert.equal(run(value).first, null, `${name}, without the text`);
  };
  check(text, null, 'as exported');
  for (const m of ['nonce', 'gas_limit', 'gas_used', 'tx_index', 'confirmations']) {
    for (const suffix of ['.0', 'e0', 'E+0', '.00e-0']) check(rewrite(m, suffix), 'evm transaction', `${m} with ${suffix}`);
  }
  for (const m of ['seq', 'tree_size', 'height']) {
    for (const suffix of ['.0', 'e0']) check(rewrite(m, suffix), 'format', `${m} with ${suffix}`);
  }
  // -0 is RFC 8259's int: a JSON integer of value 0.
  check(text.replace('"nonce": 0,', '"nonce": -0,'), null, 'nonce -0');
  // Escaped and repeated member names read as JSON.parse reads them.
  check(text.replace('"nonce": 0,', '"non\\u0063e": 0.0,'), 'evm transaction', 'nonce 0.0 under an escaped name');
  check(text.replace('"nonce": 0,', '"nonce": 0, "nonce": 0e0,'), 'evm transaction', 'nonce 0 then 0e0');
  check(text.replace('"nonce": 0,', '"nonce": 0e0, "nonce": 0,'), null, 'nonce 0e0 then 0: the last counts');
  // An unknown evidence member is ignored, whatever its form.
  check(text.replace('"nonce": 0,', '"nonce": 0, "block_number": 3.0,'), null, 'an unknown member 3.0');

  const dir = mkdtempSync(join(tmpdir(), 'verify-js-'));
  t.after(() => rmSync(dir, { recursive: true }));
  const cli = (bundle) => {
    const path = join(dir, 'bundle.json');
    writeFileSync(path, bundle);
    return spawnSync(process.execPath, [new URL('./verify.mjs', import.meta.url).pathname, path], { encoding: 'utf8' });
  };
  const r = cli(rewrite('nonce', '.0'));
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /evidence\.nonce is 0\.0, not a JSON integer/);
  assert.match(r.stdout, /FAILED at step: evm transaction\n/);
  assert.match(cli(rewrite('seq', 'e0')).stdout, /FAILED at step: format\n/);
  assert.equal(cli(text).status, 0);
});

const anchoredFixture = (f) => JSON.parse(readFileSync(new URL(`./testdata/anchored/${f}`, import.meta.url)));

test('§5.1: a pin for the other kind of ledger fails at step ledger', () => {
  const g = parseGenesis(anchoredFixture('genesis.json'));
  const evmCases = [
    ['the validator set of a CometBFT chain', { ...PINS, validatorsHash: g.validatorsHash, validatorsHashSource: '--validators-hash' }],
    ['a validators hash, no chain id', { validatorsHash: g.validatorsHash }],
    ['a genesis file', { chainId: g.chainId, validatorsHash: g.validatorsHash, genesis: 'genesis.json' }],
    ['a genesis file and a sender', { chainId: g.chainId, validatorsHash: g.validatorsHash, genesis: 'genesis.json', sender: PINS.sender }],
  ];
  for (const [name, ledger] of evmCases) {
    assert.equal(run(fixture('bundle.json'), ledger).first, 'ledger', name);
  }
  const comet = (ledger) => {
    const r = verifyBundle(anchoredFixture('bundle.json'), { pinned: anchoredFixture('id.json'), ledger });
    const first = r.find((x) => !x.ok);
    return first ? first.step : null;
  };
  assert.equal(comet({ chainId: g.chainId, validatorsHash: g.validatorsHash }), null, 'the CometBFT bundle verifies');
  assert.equal(comet({ chainId: g.chainId, validatorsHash: g.validatorsHash, sender: PINS.sender }), 'ledger', 'a sender on a CometBFT receipt');
  assert.equal(comet({ sender: PINS.sender }), 'ledger', 'a sender alone on a CometBFT receipt');
  // The chain id is a pin of both kinds: a CometBFT chain id of any form.
  assert.equal(comet({ chainId: '1337' }), 'chain id', 'an EVM-looking chain id on a CometBFT receipt');
  assert.equal(comet({ chainId: '0x539' }), 'chain id', 'a chain id that is no EVM chain id, on a CometBFT receipt');
});

test('§5.1: a malformed pin is a usage error (PinError; verify.mjs exits 2)', () => {
  for (const chainId of ['0x539', '01337', '', '-1337', '+1337', '1337 ', 'tally-interop']) {
    assert.throws(() => run(fixture('bundle.json'), { ...PINS, chainId }), PinError, `EVM --chain-id ${JSON.stringify(chainId)}`);
  }
  for (const sender of [new Uint8Array(19), SENDER]) {
    assert.throws(() => run(fixture('bundle.json'), { sender }), PinError, 'a sender that is not 20 bytes');
  }
  // Well formed, but not this chain: a failed step, not a usage error.
  assert.equal(run(fixture('bundle.json'), { ...PINS, chainId: '18446744073709551616' }).first, 'chain id');

  const cli = (bundle, ...args) => spawnSync(process.execPath, [new URL('./verify.mjs', import.meta.url).pathname, new URL(bundle, import.meta.url).pathname, ...args], { encoding: 'utf8' });
  const evmBundle = './testdata/evm/bundle.json';
  const cometBundle = './testdata/anchored/bundle.json';
  const genesis = new URL('./testdata/anchored/genesis.json', import.meta.url).pathname;
  const usage = [
    [evmBundle, '--chain-id', '0x539'],
    [evmBundle, '--chain-id', '01337'],
    [evmBundle, '--chain-id', '+1337'],
    [evmBundle, '--chain-id', ''],
    [evmBundle, '--sender', SENDER.replace('aF', 'af')],
    [evmBundle, '--sender', '0x' + SENDER.slice(2).toUpperCase()],
    [evmBundle, '--sender', SENDER.slice(2)],
    [evmBundle, '--sender', SENDER.slice(0, 41)],
    [cometBundle, '--sender', SENDER.replace('aF', 'af')],
  ];
  for (const [bundle, ...args] of usage) {
    const r = cli(bundle, ...args);
    assert.equal(r.status, 2, `${bundle} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  }
  const failed = [
    [evmBundle, 'ledger', '--genesis', genesis],
    [evmBundle, 'ledger', '--chain-id', '1337', '--validators-hash', hex(parseGenesis(anchoredFixture('genesis.json')).validatorsHash)],
    [evmBundle, 'chain id', '--chain-id', '1338', '--sender', SENDER.toLowerCase()],
    [cometBundle, 'ledger', '--genesis', genesis, '--sender', SENDER],
    [cometBundle, 'chain id', '--chain-id', '01337'],
  ];
  for (const [bundle, step, ...args] of failed) {
    const r = cli(bundle, ...args);
    assert.equal(r.status, 1, `${bundle} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`FAILED at step: ${step}\\n`), `${bundle} ${args.join(' ')}`);
  }
  assert.equal(cli(evmBundle, '--chain-id', '1337', '--sender', SENDER.toLowerCase()).status, 0);
});
