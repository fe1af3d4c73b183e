#!/usr/bin/env node
// Independent verifier of tally proof bundles, written from docs/FORMATS.md.
//
//   node verify.mjs BUNDLE.json [--keys ID.json]
//
// Prints every step of FORMATS.md §5 with ok/FAIL. Exit status: 0 when all
// steps pass, 1 when one fails (the last line names the first failing step),
// 2 on usage or I/O errors.

import { readFileSync } from 'node:fs';
import { STEPS, verifyBundle } from './tally.mjs';

function usage(msg) {
  if (msg) process.stderr.write(`verify.mjs: ${msg}\n`);
  process.stderr.write('usage: node verify.mjs BUNDLE.json [--keys ID.json]\n');
  process.exit(2);
}

function readJSON(path, what) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    usage(`reading ${what} ${path}: ${e.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    return { __invalid: `${what} ${path} is not JSON: ${e.message}` };
  }
}

const args = process.argv.slice(2);
let bundlePath = null;
let keysPath = null;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--keys' || a === '-keys') {
    if (i + 1 >= args.length) usage('--keys needs a file');
    keysPath = args[++i];
  } else if (a.startsWith('--keys=')) {
    keysPath = a.slice('--keys='.length);
  } else if (a === '-h' || a === '--help') {
    usage();
  } else if (a.startsWith('-')) {
    usage(`unknown flag ${a}`);
  } else if (bundlePath === null) {
    bundlePath = a;
  } else {
    usage('more than one bundle');
  }
}
if (bundlePath === null) usage('no bundle');

const bundle = readJSON(bundlePath, 'bundle');
let pinned = null;
if (keysPath !== null) {
  pinned = readJSON(keysPath, 'keys file');
  if (pinned && pinned.__invalid) {
    process.stdout.write(`FAIL  keys: ${pinned.__invalid}\n`);
    process.stdout.write('FAILED at step: keys\n');
    process.exit(1);
  }
}

let results;
if (bundle && bundle.__invalid) {
  results = [{ step: 'format', ok: false, detail: bundle.__invalid }];
  for (const s of STEPS.slice(1)) results.push({ step: s, ok: false, detail: 'not checked: needs format', skipped: true });
} else {
  results = verifyBundle(bundle, { pinned });
}

const width = Math.max(...STEPS.map((s) => s.length));
for (const r of results) {
  const mark = r.ok ? 'ok  ' : 'FAIL';
  process.stdout.write(`${mark}  ${r.step.padEnd(width)}  ${r.detail}\n`);
}
const failed = results.filter((r) => !r.ok && !r.skipped);
if (failed.length === 0 && results.every((r) => r.ok)) {
  process.stdout.write(`OK: all ${results.length} steps pass${pinned ? '' : ' (keys not pinned)'}\n`);
  process.exit(0);
}
const first = failed[0] || results.find((r) => !r.ok);
process.stdout.write(`FAILED at step: ${first.step}${failed.length > 1 ? ` (also failed: ${failed.slice(1).map((r) => r.step).join(', ')})` : ''}\n`);
process.exit(1);
