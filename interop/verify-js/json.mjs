// JSON with the source text of its numbers. JSON.parse reads 5, 5.0 and 5e0
// as the same value, but FORMATS.md §5 and §5.3 ask for JSON integers (no
// fraction, no exponent) in seq, tree_size, the receipt's height and the
// EVM evidence's numbers. parseJSON parses with JSON.parse and scans the
// same text once more by RFC 8259's grammar, keeping each number's token.
// (JSON.parse's reviver gets the token as context.source from Node.js 21
// on; Node.js 20, which this verifier supports, has it only behind a V8
// flag.)
//
// The scan is a parser, not a search for member names: keys are decoded by
// JSON.parse itself, so escapes ("non\u0063e") and repeated keys (the last
// one counts) come out as in the parsed value, and every number token is
// checked against the value JSON.parse gave at the same place. A
// disagreement is a bug here and throws an Error, never a VerifyError.

// INTEGER is RFC 8259's int production with its optional minus: a JSON
// number without fraction and exponent.
export const INTEGER = /^-?(0|[1-9][0-9]*)$/;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const WS = /[ \t\n\r]*/y;
const STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/y;

// parseJSON returns JSON.parse(text) as value, and as numbers a tree of the
// same shape holding the number tokens: a Map (member name to node) for an
// object, an array for an array, the token for a number, null for anything
// else. It throws JSON.parse's SyntaxError for text that is not JSON.
export function parseJSON(text) {
  const value = JSON.parse(text);
  const numbers = scan(text);
  agree(numbers, value);
  return { value, numbers };
}

// writtenAsInteger reports whether v, found at path in the tree numbers
// from parseJSON, is a JSON number written without fraction and exponent.
// Without a tree (a value built in JavaScript, not parsed from text) only
// v's value can tell: any integer passes.
export function writtenAsInteger(numbers, path, v) {
  if (typeof v !== 'number' || !Number.isInteger(v)) return false;
  return numbers === undefined || INTEGER.test(numberToken(numbers, ...path) ?? '');
}

// numberToken is the source text of the number at path (member names and
// array indices) in a tree from parseJSON, or undefined when there is none.
export function numberToken(numbers, ...path) {
  let n = numbers;
  for (const k of path) {
    if (n instanceof Map) n = n.get(k);
    else if (Array.isArray(n) && typeof k === 'number') n = n[k];
    else return undefined;
  }
  return typeof n === 'string' ? n : undefined;
}

// scan walks text (which JSON.parse accepted) without recursion, so that
// nesting JSON.parse takes cannot overflow the stack here.
function scan(text) {
  let i = 0;
  const at = (re) => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null) internal(`no ${re.source} at offset ${i}`);
    i = re.lastIndex;
    return m[0];
  };
  const expect = (c) => {
    at(WS);
    if (text[i] !== c) internal(`want ${JSON.stringify(c)} at offset ${i}`);
    i++;
  };
  const key = () => {
    at(WS);
    const k = JSON.parse(at(STRING));
    expect(':');
    return k;
  };

  const open = []; // containers not yet closed: { node, key }
  let root;
  const put = (v) => {
    if (open.length === 0) root = v;
    else if (Array.isArray(open.at(-1).node)) open.at(-1).node.push(v);
    else open.at(-1).node.set(open.at(-1).key, v);
  };
  for (;;) {
    // A value starts here.
    at(WS);
    const c = text[i];
    let opened = false;
    if (c === '{' || c === '[') {
      i++;
      const node = c === '{' ? new Map() : [];
      put(node);
      open.push({ node, key: undefined });
      at(WS);
      if (text[i] === (c === '{' ? '}' : ']')) {
        i++;
        open.pop();
      } else {
        if (c === '{') open.at(-1).key = key();
        opened = true;
      }
    } else if (c === '"') {
      at(STRING);
      put(null);
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      put(at(NUMBER));
    } else if (text.startsWith('true', i) || text.startsWith('null', i)) {
      i += 4;
      put(null);
    } else if (text.startsWith('false', i)) {
      i += 5;
      put(null);
    } else {
      internal(`no JSON value at offset ${i}`);
    }
    if (opened) continue;
    // After a value: close containers until one goes on.
    for (;;) {
      at(WS);
      if (open.length === 0) {
        if (i !== text.length) internal(`text after the value at offset ${i}`);
        return root;
      }
      const top = open.at(-1);
      const isArray = Array.isArray(top.node);
      if (text[i] === ',') {
        i++;
        if (!isArray) top.key = key();
        break;
      }
      expect(isArray ? ']' : '}');
      open.pop();
    }
  }
}

// agree checks that the scan has the shape of JSON.parse's value and that
// every token reads as the number JSON.parse gave.
function agree(numbers, value) {
  const todo = [[numbers, value, '$']];
  while (todo.length) {
    const [n, v, path] = todo.pop();
    if (n instanceof Map) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) internal(`${path} is not an object`);
      const keys = Object.keys(v);
      if (keys.length !== n.size || !keys.every((k) => n.has(k))) internal(`${path} has other members`);
      for (const [k, c] of n) todo.push([c, v[k], `${path}.${k}`]);
    } else if (Array.isArray(n)) {
      if (!Array.isArray(v) || v.length !== n.length) internal(`${path} is not an array of ${n.length}`);
      n.forEach((c, j) => todo.push([c, v[j], `${path}[${j}]`]));
    } else if (typeof n === 'string') {
      if (typeof v !== 'number' || !Object.is(Number(n), v)) internal(`${path}: token ${n} is not ${v}`);
    } else if (typeof v === 'number' || (v !== null && typeof v === 'object')) {
      internal(`${path} is not a string, true, false or null`);
    }
  }
}

function internal(msg) {
  throw new Error(`json.mjs: the number scan disagrees with JSON.parse: ${msg}`);
}
