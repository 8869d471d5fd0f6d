// A reader for the part of YAML that scenario files use, for `gupsim run`'s start: block mappings and
// sequences, one-line flow collections, plain and one-line quoted scalars, folded and literal block
// scalars, comments. Where it answers, the answer is the value the `yaml` package's
// parseDocument(text).toJS() gives (YAML 1.2 core schema, the same scalar resolution); for anything
// outside that part of YAML, and for anything `yaml` would report as an error, it answers NOT_SUBSET and
// the caller parses with `yaml` itself, whose errors name the line. So it never changes what a scenario
// means or what an error says; it only saves loading and warming up the full parser.

/** The text is not in the subset (or not valid YAML): parse it with `yaml`. */
export const NOT_SUBSET: unique symbol = Symbol('not in the YAML subset');

/** Thrown inside the reader to give up; never escapes parseYamlSubset. */
const BAIL = Symbol('bail');
const bail = (): never => {
  throw BAIL;
};

/** Characters the subset leaves to `yaml`: tabs, carriage returns, other controls, BOM, Unicode breaks. */
// eslint-disable-next-line no-control-regex
const UNSUPPORTED_CHARS = /[\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]/;
/** Characters that cannot start a plain scalar here (YAML indicators). */
const INDICATORS = new Set([...'-?:,[]{}#&*!|>\'"%@`']);
/** A plain key: what scenario files use, no spaces, no indicators. */
const PLAIN_KEY = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;
/** yaml refuses implicit keys longer than 1024 characters. */
const MAX_KEY = 1000;

/** The YAML 1.2 core schema's resolution of a plain scalar, in the order `yaml` tries its tags. */
function resolvePlain(s: string): unknown {
  if (/^(?:~|[Nn]ull|NULL)?$/.test(s)) return null;
  if (/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s)) return s[0] === 't' || s[0] === 'T';
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.substring(2), 8);
  if (/^[-+]?[0-9]+$/.test(s)) return parseInt(s, 10);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.substring(2), 16);
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s))
    return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity;
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s)) return parseFloat(s);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)) return parseFloat(s);
  return s;
}

/** A scalar key as toJS() names it: `yaml`'s stringifyKey (null is '', the rest String()). */
function keyName(v: unknown): string {
  const k = v === null ? '' : String(v);
  if (k === '__proto__') bail();
  return k;
}

/** Set a key of a mapping being built; a repeated key is a `yaml` error (uniqueKeys) or a subtlety: leave it. */
function setKey(map: Record<string, unknown>, key: string, value: unknown): void {
  if (Object.prototype.hasOwnProperty.call(map, key)) bail();
  map[key] = value;
}

const indentOf = (line: string): number => line.length - line.trimStart().length;
/** A line with nothing but spaces, or a comment. */
const isBlank = (line: string): boolean => {
  const t = line.trimStart();
  return t === '' || t[0] === '#';
};

class Reader {
  private i = 0;
  constructor(private readonly lines: string[]) {}

  /** Skip blank and comment lines; the index of the next content line, or -1 at the end. */
  private next(): number {
    while (this.i < this.lines.length && isBlank(this.lines[this.i]!)) this.i++;
    return this.i < this.lines.length ? this.i : -1;
  }

  document(): unknown {
    if (this.next() < 0 || indentOf(this.lines[this.i]!) !== 0) bail();
    const line = this.lines[this.i]!;
    if (line.startsWith('---') || line.startsWith('...') || line[0] === '%' || isSeqItem(line, 0)) bail();
    const value = this.mapping(0, 0);
    if (this.next() >= 0) bail();
    return value;
  }

  /** A block mapping whose keys are at column `indent`; its first key starts at `col` of the current line. */
  private mapping(indent: number, col: number): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    for (;;) {
      const line = this.lines[this.i]!;
      const { key, end } = readKey(line, col);
      setKey(map, key, this.valueAfterKey(line, end, indent));
      if (this.next() < 0) return map;
      const n = indentOf(this.lines[this.i]!);
      if (n < indent) return map;
      if (n > indent || isSeqItem(this.lines[this.i]!, n)) bail();
      col = n;
    }
  }

  /** The value of a mapping entry whose ':' ends at `end`. */
  private valueAfterKey(line: string, end: number, indent: number): unknown {
    const rest = line.slice(end);
    if (rest.trim() === '' || rest.trimStart()[0] === '#') {
      if (rest.trim() !== '' && !/^\s/.test(rest)) bail();
      this.i++;
      // The value is on the lines below: a nested block, or a sequence at the key's own column.
      if (this.next() < 0) return null;
      const n = indentOf(this.lines[this.i]!);
      if (n > indent) return this.block(n);
      if (n === indent && isSeqItem(this.lines[this.i]!, n)) return this.sequence(n);
      return null;
    }
    if (rest[0] !== ' ') bail();
    return this.inline(line, end + indentOf(rest), indent);
  }

  /** A block node at column `n` of the current line: a sequence or a mapping. */
  private block(n: number): unknown {
    const line = this.lines[this.i]!;
    return isSeqItem(line, n) ? this.sequence(n) : this.mapping(n, n);
  }

  /** A block sequence whose '-' are at column `indent`. */
  private sequence(indent: number): unknown[] {
    const seq: unknown[] = [];
    for (;;) {
      const line = this.lines[this.i]!;
      if (line[indent + 1] !== ' ') bail(); // '-' alone on its line: a nested block (not in the subset)
      const col = indent + 1 + indentOf(line.slice(indent + 1));
      if (col >= line.length || line[col] === '#' || isSeqItem(line, col)) bail();
      // `- key: value` starts a mapping whose keys are at the column of the first key.
      if (looksLikeKey(line, col)) seq.push(this.mapping(col, col));
      else {
        if (line[col] === '>' || line[col] === '|') bail();
        seq.push(this.inline(line, col, indent));
      }
      if (this.next() < 0) return seq;
      const n = indentOf(this.lines[this.i]!);
      if (n < indent || (n === indent && !isSeqItem(this.lines[this.i]!, n))) return seq;
      if (n > indent) bail();
    }
  }

  /** A value that starts at `col` of the current line (after a key or a '- '); moves past it. */
  private inline(line: string, col: number, indent: number): unknown {
    const c = line[col]!;
    if (c === '>' || c === '|') return this.blockScalar(line, col, indent);
    let value: unknown;
    let end: number;
    if (c === '[' || c === '{') [value, end] = flowNode(line, col);
    else if (c === "'" || c === '"') [value, end] = quoted(line, col);
    else {
      // A plain scalar runs to the end of the line or to a comment.
      const hash = line.indexOf(' #', col);
      const text = (hash < 0 ? line.slice(col) : line.slice(col, hash)).trimEnd();
      if (!plainOk(text, false)) bail();
      value = resolvePlain(text);
      end = col + text.length;
    }
    const tail = line.slice(end);
    if (tail.trim() !== '' && !/^\s+#/.test(tail)) bail();
    this.i++;
    return value;
  }

  /** A folded (>) or literal (|) block scalar, clipped or stripped (-), its indentation found by `yaml`'s rule. */
  private blockScalar(line: string, col: number, indent: number): string {
    const header = line.slice(col).trimEnd();
    if (!/^[>|]-?$/.test(header)) bail();
    const folded = header[0] === '>';
    const strip = header.length === 2;
    this.i++;
    const body: string[] = [];
    let contentIndent = -1;
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      if (l === '') {
        if (contentIndent < 0) bail(); // leading empty lines: not in the subset
        body.push('');
        this.i++;
        continue;
      }
      const n = indentOf(l);
      if (n === l.length || l.endsWith(' ')) bail(); // spaces-only lines, trailing spaces
      if (contentIndent < 0) {
        if (n <= indent) bail(); // an empty block scalar
        contentIndent = n;
      }
      if (n < contentIndent) {
        if (n > indent) bail(); // less indented than the text, more than the key: an error in YAML
        break;
      }
      if (n > contentIndent && folded) bail(); // more-indented lines keep their breaks: not in the subset
      body.push(l.slice(contentIndent));
      this.i++;
    }
    // The text must end with a line break: YAML keeps a missing last break missing.
    if (this.i === this.lines.length && this.lines[this.lines.length - 1] !== '') bail();
    while (body.length && body[body.length - 1] === '') body.pop();
    let text = '';
    if (folded) {
      // Line breaks between text lines become spaces; each empty line is one line break.
      for (let k = 0; k < body.length; k++) {
        const l = body[k]!;
        if (k === 0) text = l;
        else if (l === '') text += '\n';
        else text += body[k - 1] === '' ? l : ` ${l}`;
      }
    } else text = body.join('\n');
    return strip ? text : `${text}\n`;
  }
}

/** The current line has a block sequence item ('- ' or a lone '-') at column n. */
function isSeqItem(line: string, n: number): boolean {
  return line[n] === '-' && (n + 1 === line.length || line[n + 1] === ' ');
}

/** A plain scalar's text is one the subset reads as `yaml` does. */
function plainOk(text: string, flow: boolean): boolean {
  if (text === '' || INDICATORS.has(text[0]!)) {
    // '-' may start a plain scalar when a non-space follows (-1, -x); the other indicators may not.
    if (!(text[0] === '-' && text.length > 1 && text[1] !== ' ')) return false;
  }
  if (text.includes(': ') || text.endsWith(':') || text.includes('#')) return false;
  if (flow && /[,[\]{}:]/.test(text)) return false;
  return true;
}

/** Could a mapping key start at `col`? (A plain or quoted scalar followed by ': ' or ':' at the end.) */
function looksLikeKey(line: string, col: number): boolean {
  const c = line[col];
  if (c === '{' || c === '[') return false; // a flow collection (as a key it would be outside the subset)
  if (c === "'" || c === '"') {
    const close = line.indexOf(c, col + 1);
    return close > 0 && line[close + 1] === ':';
  }
  const colon = line.indexOf(':', col);
  if (colon < 0 || (colon + 1 < line.length && line[colon + 1] !== ' ')) return false;
  const hash = line.indexOf(' #', col);
  return hash < 0 || hash > colon;
}

/** A mapping key at `col`: its name and the column after its ':'. */
function readKey(line: string, col: number): { key: string; end: number } {
  let raw: unknown;
  let end: number;
  const c = line[col];
  if (c === "'" || c === '"') [raw, end] = quoted(line, col);
  else {
    const colon = line.indexOf(':', col);
    if (colon < 0) bail();
    const text = line.slice(col, colon);
    if (!PLAIN_KEY.test(text)) bail();
    raw = resolvePlain(text);
    end = colon;
  }
  if (line[end] !== ':' || end - col > MAX_KEY) bail();
  if (end + 1 < line.length && line[end + 1] !== ' ') bail();
  return { key: keyName(raw), end: end + 1 };
}

/** A one-line quoted scalar at `col`: its value and the column after its closing quote. */
function quoted(line: string, col: number): [string, number] {
  const q = line[col]!;
  let out = '';
  for (let k = col + 1; k < line.length; k++) {
    const c = line[k]!;
    if (c === '\\' && q === '"') bail(); // escapes: left to yaml
    if (c !== q) {
      out += c;
      continue;
    }
    if (q === "'" && line[k + 1] === "'") {
      out += "'";
      k++;
      continue;
    }
    return [out, k + 1];
  }
  return bail(); // not closed on this line
}

/** A flow node (collection, quoted or plain scalar) at `col`, on one line: its value and where it ends. */
function flowNode(line: string, col: number): [unknown, number] {
  const c = line[col];
  if (c === '{') {
    const map: Record<string, unknown> = {};
    let k = skipSpaces(line, col + 1);
    if (line[k] === '}') return [map, k + 1];
    for (;;) {
      let key: unknown;
      if (line[k] === "'" || line[k] === '"') [key, k] = quoted(line, k);
      else {
        const colon = line.indexOf(':', k);
        if (colon < 0) bail();
        const text = line.slice(k, colon);
        if (!PLAIN_KEY.test(text)) bail();
        key = resolvePlain(text);
        k = colon;
      }
      if (line[k] !== ':' || line[k + 1] !== ' ') bail();
      const [value, end] = flowNode(line, skipSpaces(line, k + 1));
      setKey(map, keyName(key), value);
      k = skipSpaces(line, end);
      if (line[k] === '}') return [map, k + 1];
      if (line[k] !== ',') bail();
      k = skipSpaces(line, k + 1);
      if (line[k] === '}' || line[k] === ',') bail(); // a trailing or empty entry
    }
  }
  if (c === '[') {
    const seq: unknown[] = [];
    let k = skipSpaces(line, col + 1);
    if (line[k] === ']') return [seq, k + 1];
    for (;;) {
      const [value, end] = flowNode(line, k);
      seq.push(value);
      k = skipSpaces(line, end);
      if (line[k] === ']') return [seq, k + 1];
      if (line[k] !== ',') bail();
      k = skipSpaces(line, k + 1);
      if (line[k] === ']' || line[k] === ',') bail();
    }
  }
  if (c === "'" || c === '"') return quoted(line, col);
  // A plain scalar in a flow collection ends at ',', ']' or '}'.
  let end = col;
  while (end < line.length && !',]}'.includes(line[end]!)) end++;
  const text = line.slice(col, end).trimEnd();
  if (!plainOk(text, true)) bail();
  return [resolvePlain(text), col + text.length];
}

function skipSpaces(line: string, k: number): number {
  while (line[k] === ' ') k++;
  return k;
}

/** The value of a YAML text, or NOT_SUBSET when the text is outside the subset (or not valid YAML). */
export function parseYamlSubset(text: string): unknown {
  if (UNSUPPORTED_CHARS.test(text)) return NOT_SUBSET;
  try {
    return new Reader(text.split('\n')).document();
  } catch (e) {
    if (e === BAIL) return NOT_SUBSET;
    throw e;
  }
}
