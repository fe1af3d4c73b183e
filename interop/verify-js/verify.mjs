#!/usr/bin/env node
// Independent verifier of tally proof bundles, written from docs/FORMATS.md.
//
//   node verify.mjs BUNDLE.json [--keys ID.json]
//                   [--genesis GENESIS.json | --chain-id ID [--validators-hash HEX]]
//                   [--sender 0xADDRESS]
//
// Prints every step of FORMATS.md §5 (and §5.1 with §5.2 or §5.3 for
// anchored bundles) with ok/FAIL. Exit status: 0 when all steps pass, 1
// when one fails (the last line names the first failing step), 2 on usage
// or I/O errors, including a genesis file that cannot be read or gives no
// trust root and a pin that is not well formed (FORMATS.md §5.1).

import { readFileSync } from 'node:fs';
import { parseGenesis } from './cometbft.mjs';
import { parseAddress } from './evm.mjs';
import { parseJSON } from './json.mjs';
import { checkPins, ledgerOf, PinError, STEPS, STEPS_V1, VerifyError, verifyBundle } from './tally.mjs';

const USAGE = `usage: node verify.mjs BUNDLE.json [--keys ID.json]
                      [--genesis GENESIS.json | --chain-id ID] [--validators-hash HEX]
                      [--sender 0xADDRESS]

  --keys FILE             pin the gateway's keys (the JSON of \`tally id --json\`)
  --genesis FILE          CometBFT: pin the chain id and validator set of this genesis.json
  --chain-id ID           pin the ledger's chain id (CometBFT: the chain id; EVM: decimal, no leading zeros)
  --validators-hash HEX   CometBFT: pin this validator set hash instead of a genesis file
  --sender 0xADDRESS      EVM: pin the address the gateway anchors from (lower case or EIP-55)
`;

function usage(msg) {
  if (msg) process.stderr.write(`verify.mjs: ${msg}\n`);
  process.stderr.write(USAGE);
  process.exit(2);
}

function readText(path, what) {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    usage(`reading ${what} ${path}: ${e.message}`);
  }
}

function readJSON(path, what) {
  return readJSONNumbers(path, what).value;
}

// readJSONNumbers also returns the source text of the numbers (json.mjs),
// for a bundle: FORMATS.md §5 and §5.3 want some as JSON integers.
function readJSONNumbers(path, what) {
  const text = readText(path, what);
  try {
    return parseJSON(text);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    return { value: { __invalid: `${what} ${path} is not JSON: ${e.message}` } };
  }
}

// Flags as Go's flag package takes them: -name or --name, with the value
// as the next argument or after "=".
const FLAGS = ['keys', 'genesis', 'chain-id', 'validators-hash', 'sender'];
const args = process.argv.slice(2);
const opt = {};
let bundlePath = null;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '-h' || a === '--help' || a === '-help') usage();
  if (a.startsWith('-') && a !== '-') {
    const m = /^--?([a-z-]+)(?:=(.*))?$/s.exec(a);
    if (!m || !FLAGS.includes(m[1])) usage(`unknown flag ${a}`);
    let v = m[2];
    if (v === undefined) {
      if (i + 1 >= args.length) usage(`--${m[1]} needs a value`);
      v = args[++i];
    }
    if (m[1] in opt) usage(`--${m[1]} given twice`);
    opt[m[1]] = v;
  } else if (bundlePath === null) {
    bundlePath = a;
  } else {
    usage('more than one bundle');
  }
}
if (bundlePath === null) usage('no bundle');

// The ledger's trust root (FORMATS.md §5.1, "Auditors pin the ledger's trust root").
const ledger = {};
if (opt.genesis !== undefined) {
  if (opt['validators-hash'] !== undefined) usage('--genesis and --validators-hash both pin the validator set: give one');
  const doc = readJSON(opt.genesis, 'genesis');
  if (doc && doc.__invalid) usage(doc.__invalid);
  let g;
  try {
    g = parseGenesis(doc);
  } catch (e) {
    if (!(e instanceof VerifyError)) throw e;
    usage(`genesis ${opt.genesis}: ${e.message}`);
  }
  if (opt['chain-id'] !== undefined && opt['chain-id'] !== g.chainId) usage(`--chain-id ${JSON.stringify(opt['chain-id'])} is not the genesis file's chain ${JSON.stringify(g.chainId)}`);
  ledger.chainId = g.chainId;
  ledger.validatorsHash = g.validatorsHash;
  ledger.genesis = opt.genesis;
  ledger.chainIdSource = ledger.validatorsHashSource = `genesis ${opt.genesis}`;
} else {
  if (opt['chain-id'] !== undefined) {
    if (opt['chain-id'] === '') usage('--chain-id is empty');
    ledger.chainId = opt['chain-id'];
    ledger.chainIdSource = '--chain-id';
  }
  if (opt['validators-hash'] !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(opt['validators-hash'])) usage(`--validators-hash ${JSON.stringify(opt['validators-hash'])} is not 64 hex digits`);
    ledger.validatorsHash = new Uint8Array(Buffer.from(opt['validators-hash'], 'hex'));
    ledger.validatorsHashSource = '--validators-hash';
  }
}

if (opt.sender !== undefined) {
  try {
    ledger.sender = parseAddress(opt.sender, '--sender');
  } catch (e) {
    if (!(e instanceof VerifyError)) throw e;
    usage(e.message);
  }
  ledger.senderSource = '--sender';
}

const { value: bundle, numbers } = readJSONNumbers(bundlePath, 'bundle');
// The form of --chain-id depends on the receipt's ledger (FORMATS.md §5.1):
// for EVM, decimal digits without leading zeros. A pin that is not well
// formed is a usage error, not a failed step.
try {
  checkPins(ledger, ledgerOf(bundle));
} catch (e) {
  if (!(e instanceof PinError)) throw e;
  usage(e.message);
}
let pinned = null;
if (opt.keys !== undefined) {
  pinned = readJSON(opt.keys, 'keys file');
  if (pinned && pinned.__invalid) {
    process.stdout.write(`FAIL  keys: ${pinned.__invalid}\n`);
    process.stdout.write('FAILED at step: keys\n');
    process.exit(1);
  }
}

let results;
if (bundle && bundle.__invalid) {
  results = [{ step: 'format', ok: false, detail: bundle.__invalid }];
  for (const s of STEPS_V1.slice(1)) results.push({ step: s, ok: false, detail: 'not checked: needs format', skipped: true });
} else {
  results = verifyBundle(bundle, { pinned, ledger, numbers });
}

const width = Math.max(...STEPS.map((s) => s.length));
for (const r of results) {
  const mark = r.ok ? 'ok  ' : 'FAIL';
  process.stdout.write(`${mark}  ${r.step.padEnd(width)}  ${r.detail}\n`);
}
const failed = results.filter((r) => !r.ok && !r.skipped);
if (failed.length === 0 && results.every((r) => r.ok)) {
  const notPinned = [];
  if (!pinned) notPinned.push('keys');
  if (results.some((r) => r.step === 'chain id' && / \(NOT pinned/.test(r.detail))) notPinned.push('chain id');
  if (results.some((r) => r.step === 'validator set' && / \(NOT pinned/.test(r.detail))) notPinned.push('validator set');
  if (results.some((r) => r.step === 'sender' && / \(NOT pinned/.test(r.detail))) notPinned.push('sender');
  process.stdout.write(`OK: all ${results.length} steps pass${notPinned.length ? ` (not pinned: ${notPinned.join(', ')})` : ''}\n`);
  process.exit(0);
}
const first = failed[0] || results.find((r) => !r.ok);
process.stdout.write(`FAILED at step: ${first.step}${failed.length > 1 ? ` (also failed: ${failed.slice(1).map((r) => r.step).join(', ')})` : ''}\n`);
process.exit(1);
