// The YAML subset reader answers only where it gives exactly what the `yaml` package gives (as the
// scenario loader calls it) and where `yaml` reports no error: on every scenario of the repository (all
// of which are in the subset), on the same texts mutated character by character and line by line, and
// on random values written out by yaml.stringify in its block and flow styles.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { NOT_SUBSET, parseYamlSubset } from './yaml_subset.js';
import { sameValue, scenarioCorpus } from '../../test/scenario_support.js';

/** What load.ts makes of a text: the document's errors, or its value. */
function reference(text: string): { ok: true; value: unknown } | { ok: false } {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  return doc.errors.length ? { ok: false } : { ok: true, value: doc.toJS() };
}

/** The subset's answer is NOT_SUBSET, or `yaml`'s error-free value. */
function sound(text: string): boolean {
  const v = parseYamlSubset(text);
  if (v === NOT_SUBSET) return true;
  const r = reference(text);
  return r.ok && sameValue(v, r.value);
}

const texts = scenarioCorpus().map((c) => c.text);
/** Characters that matter to YAML's syntax, and some that do not. */
const ALPHABET = [...' \n:-#{}[],\'">|a0.~&*!?%\\\t@`+e'];

describe('the YAML subset reader', () => {
  it('reads every scenario of the repository as `yaml` does', () => {
    expect(texts.length).toBeGreaterThan(40);
    for (const t of texts) {
      const v = parseYamlSubset(t);
      expect(v).not.toBe(NOT_SUBSET);
      const r = reference(t);
      expect(r.ok && sameValue(v, r.value)).toBe(true);
    }
  });

  it('answers only as `yaml` does on texts mutated character by character', () => {
    const edit = fc.tuple(fc.nat(), fc.nat(2), fc.constantFrom(...ALPHABET), fc.integer({ min: 1, max: 3 }));
    fc.assert(
      fc.property(fc.nat(texts.length - 1), fc.array(edit, { minLength: 1, maxLength: 4 }), (i, edits) => {
        let t = texts[i]!;
        for (const [pos, kind, c, n] of edits) {
          const p = pos % (t.length + 1);
          if (kind === 0) t = t.slice(0, p) + c.repeat(n) + t.slice(p);
          else if (kind === 1) t = t.slice(0, p) + t.slice(p + n);
          else t = t.slice(0, p) + c + t.slice(p + 1);
        }
        return sound(t);
      }),
      { numRuns: 3000 },
    );
  });

  it('answers only as `yaml` does on texts mutated line by line', () => {
    const edit = fc.tuple(fc.nat(), fc.nat(4), fc.integer({ min: 1, max: 4 }));
    fc.assert(
      fc.property(fc.nat(texts.length - 1), fc.array(edit, { minLength: 1, maxLength: 3 }), (i, edits) => {
        const lines = texts[i]!.split('\n');
        for (const [pos, kind, n] of edits) {
          const k = pos % lines.length;
          const l = lines[k]!;
          if (kind === 0) lines.splice(k, 1);
          else if (kind === 1) lines.splice(k, 0, l);
          else if (kind === 2) lines[k] = ' '.repeat(n) + l;
          else if (kind === 3) lines[k] = l.slice(Math.min(n, l.length - l.trimStart().length));
          else lines.splice(k, 0, '');
        }
        return sound(lines.join('\n'));
      }),
      { numRuns: 3000 },
    );
  });

  it('reads random documents as `yaml` writes them, in block and flow style', () => {
    const key = fc.oneof(
      fc.constantFrom('op', 'size', '2M', '0', 'a b', 'x:y', '#', '-', 'null', 'true'),
      fc.string(),
      fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,6}$/),
    );
    const scalar = fc.oneof(
      fc.constantFrom('128KiB', '-1', '0x10', '0o7', '1e3', '.5', '.inf', '~', 'yes', 'a: b', 'a #b', ' x', "it's"),
      fc.string(),
      fc.stringMatching(/^[a-z0-9 ,.:#'"[\]{}-]{0,12}$/),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), tie('o')),
      o: fc.dictionary(key, tie('v'), { maxKeys: 4 }),
    })).o;
    const options = fc.record({
      collectionStyle: fc.constantFrom('any', 'block', 'flow'),
      defaultStringType: fc.constantFrom('PLAIN', 'QUOTE_SINGLE', 'QUOTE_DOUBLE', 'BLOCK_FOLDED', 'BLOCK_LITERAL'),
      indentSeq: fc.boolean(),
      indent: fc.integer({ min: 1, max: 4 }),
      lineWidth: fc.constantFrom(0, 20, 80),
    });
    fc.assert(
      fc.property(value, options, (v, o) => sound(stringify(v, o))),
      { numRuns: 2000 },
    );
  });

  it('leaves what it does not read to `yaml`', () => {
    const outside = [
      '', // empty: the loader has its own message
      '- a\n- b\n', // not a mapping
      'a: 1\n  b: 2\n', // a more-indented line after a value
      'a: &x 1\nb: *x\n', // anchors and aliases
      'a: !!str 1\n', // tags
      'a:\n\tb: 1\n', // a tab
      'a: 1\r\nb: 2\r\n', // CRLF
      'a: "x\\ty"\n', // escapes
      'a: >+\n  x\n', // keep chomping
      'a: 1\na: 2\n', // a repeated key
      '---\na: 1\n', // a document marker
      'a: [1,\n  2]\n', // a flow collection over two lines
      'a: >\n  x', // no final line break after a block scalar
      'k:\n  - a\n    b\n', // a plain scalar over two lines, in a sequence
      'k:\n  - a: 1\n      b: 2\n', // ... and in a mapping
    ];
    for (const t of outside) expect(parseYamlSubset(t), JSON.stringify(t)).toBe(NOT_SUBSET);
  });

  it('reads folded and literal text, keys and scalars by the core schema', () => {
    const t =
      'description: >\n  one\n  two\n\n  three\n\n\nlit: |-\n  a\n    b\n' +
      'n: [0x1F, 0o17, -3, +4, 1.50, 1e2, .NaN, ~, Null, TRUE, x]\n' +
      "q: { '0': 'it''s', \"k\": \"v w\", 7: null }\n";
    const v = parseYamlSubset(t);
    expect(sameValue(v, (reference(t) as { value: unknown }).value)).toBe(true);
    expect(v).toMatchObject({
      description: 'one two\nthree\n',
      lit: 'a\n  b',
      q: { '0': "it's", k: 'v w', '7': null },
    });
  });
});
