// Unit checks of json.mjs: the number tokens of JSON text, beside the value
// JSON.parse gives, for FORMATS.md's "JSON integer (no fraction, no
// exponent)". The scan is compared with JSON.parse on hand-written cases
// (escaped and repeated member names, nesting, every number form) and on
// random JSON, and it takes nesting JSON.parse takes.
//
//   node --test json.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { INTEGER, numberToken, parseJSON, writtenAsInteger } from './json.mjs';

test('INTEGER is RFC 8259\'s int with an optional minus', () => {
  for (const s of ['0', '-0', '5', '-5', '9007199254740993', '10']) assert.match(s, INTEGER, s);
  for (const s of ['5.0', '5e0', '5E0', '5e+0', '0.0', '0e0', '-0.0', '05', '+5', '', ' 5', '5 ', '1.', '.5', '0x5', 'Infinity', 'NaN']) {
    assert.doesNotMatch(s, INTEGER, s);
  }
});

test('parseJSON keeps each number\'s token where JSON.parse keeps its value', () => {
  const text = ' {"a": 5, "b" :5.0,"c":[5e0, -0, {"d": 1E+2}], "e": "5.0", "f": true, "g": null, "h": false, "i": {}, "j": []}\n';
  const { value, numbers } = parseJSON(text);
  assert.deepEqual(value, JSON.parse(text));
  assert.equal(numberToken(numbers, 'a'), '5');
  assert.equal(numberToken(numbers, 'b'), '5.0');
  assert.equal(numberToken(numbers, 'c', 0), '5e0');
  assert.equal(numberToken(numbers, 'c', 1), '-0');
  assert.equal(numberToken(numbers, 'c', 2, 'd'), '1E+2');
  for (const path of [['e'], ['f'], ['g'], ['h'], ['i'], ['j'], ['c'], ['x'], ['c', 3], ['c', '0'], ['a', 'b']]) {
    assert.equal(numberToken(numbers, ...path), undefined, path.join('.'));
  }
  assert.equal(writtenAsInteger(numbers, ['a'], value.a), true);
  assert.equal(writtenAsInteger(numbers, ['b'], value.b), false);
  assert.equal(writtenAsInteger(numbers, ['c', 0], value.c[0]), false);
  assert.equal(writtenAsInteger(numbers, ['c', 2, 'd'], value.c[2].d), false);
  assert.equal(writtenAsInteger(numbers, ['e'], value.e), false, 'a string is no integer');
  // Without the text, only the value tells.
  assert.equal(writtenAsInteger(undefined, ['b'], 5), true);
  assert.equal(writtenAsInteger(undefined, ['b'], 5.5), false);
  assert.equal(writtenAsInteger(undefined, ['b'], '5'), false);
});

test('parseJSON reads member names as JSON.parse does: escapes, repeats, __proto__, strings with quotes', () => {
  const cases = [
    ['{"non\\u0063e": 0.0}', ['nonce'], '0.0'],
    ['{"nonce": 0.0, "nonce": 0}', ['nonce'], '0'], // the last one counts
    ['{"nonce": 0, "nonce": 0e0}', ['nonce'], '0e0'],
    ['{"a\\"b": 1.5, "a": 2}', ['a"b'], '1.5'],
    ['{"a": "x\\\\", "b": 3e1}', ['b'], '3e1'],
    ['{"a": "}]{[,:\\"", "b": 7}', ['b'], '7'],
    ['{"__proto__": 1.0}', ['__proto__'], '1.0'],
    ['{"\\ud83d\\ude00": 2}', ['\u{1f600}'], '2'],
    ['[1, [2.0, [3e0]]]', [1, 1, 0], '3e0'],
    ['\t\r\n 42 \n', [], '42'],
  ];
  for (const [text, path, want] of cases) {
    const { value, numbers } = parseJSON(text);
    assert.deepEqual(value, JSON.parse(text), text);
    assert.equal(numberToken(numbers, ...path), want, text);
  }
});

test('parseJSON throws JSON.parse\'s SyntaxError for text that is not JSON', () => {
  for (const text of ['', '{', '{"a":1,}', '[1 2]', '01', '1.', '"a', '{"a":1} x', '\ufeff{}', 'NaN', '{\'a\':1}']) {
    assert.throws(() => parseJSON(text), SyntaxError, JSON.stringify(text));
  }
});

test('parseJSON takes nesting as deep as JSON.parse does, without recursion', () => {
  const depth = 200000;
  const text = '{"a":' + '['.repeat(depth) + '1.0' + ']'.repeat(depth) + ', "b": 2}';
  const { numbers } = parseJSON(text);
  assert.equal(numberToken(numbers, 'b'), '2');
  let n = numbers.get('a');
  for (let i = 0; i < depth; i++) n = n[0];
  assert.equal(n, '1.0');
});

test('parseJSON agrees with JSON.parse on the fixtures and on random JSON', () => {
  for (const f of ['evm/bundle.json', 'evm/id.json', 'anchored/bundle.json', 'anchored/genesis.json']) {
    const text = readFileSync(new URL(`./testdata/${f}`, import.meta.url), 'utf8');
    assert.deepEqual(parseJSON(text).value, JSON.parse(text), f);
  }
  // A small deterministic generator (xorshift) of JSON text with every
  // number form, escapes and whitespace; each token is kept as written.
  let s = 0x2545f491;
  const rnd = (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
  const ws = () => [' ', '', '\n', '\t', '\r\n  '][rnd(5)];
  const num = () => {
    let t = (rnd(2) ? '-' : '') + (rnd(3) ? String(rnd(100000)) : '0');
    if (rnd(3) === 0) t += '.' + String(rnd(1000)).padStart(rnd(3) + 1, '0');
    if (rnd(3) === 0) t += ['e', 'E'][rnd(2)] + ['', '+', '-'][rnd(3)] + String(rnd(30));
    return t;
  };
  const str = () => JSON.stringify(['a', 'nonce', 'x"y', 'b\\', '\u00e9', '\u2028', '{[', ''][rnd(8)]).replace('n', rnd(2) ? '\\u006e' : 'n');
  const gen = (depth, tokens, path) => {
    const k = depth > 4 ? rnd(4) : rnd(6);
    if (k === 0) {
      const t = num();
      tokens.push([path, t]);
      return t;
    }
    if (k === 1) return str();
    if (k === 2) return ['true', 'false', 'null'][rnd(3)];
    if (k === 3) return `"${'z'.repeat(rnd(3))}"`;
    if (k === 4) {
      const items = Array.from({ length: rnd(4) }, (_, i) => ws() + gen(depth + 1, tokens, [...path, i]) + ws());
      return `[${items.join(',')}]`;
    }
    const items = [];
    const seen = new Map();
    for (let i = rnd(4); i > 0; i--) {
      const key = str();
      const name = JSON.parse(key);
      const sub = [];
      const v = gen(depth + 1, sub, [...path, name]);
      seen.set(name, sub); // the last of a repeated name counts
      items.push(`${ws()}${key}${ws()}:${ws()}${v}${ws()}`);
    }
    for (const sub of seen.values()) tokens.push(...sub);
    return `{${items.join(',')}}`;
  };
  for (let n = 0; n < 5000; n++) {
    const tokens = [];
    const text = ws() + gen(0, tokens, []) + ws();
    const { value, numbers } = parseJSON(text);
    assert.deepEqual(value, JSON.parse(text), text);
    for (const [path, t] of tokens) assert.equal(numberToken(numbers, ...path), t, `${text} at ${JSON.stringify(path)}`);
  }
});
