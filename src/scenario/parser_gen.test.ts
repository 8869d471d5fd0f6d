// The parser generated from ScenarioSchema agrees with zod: on every example and conformance scenario,
// on mutations of them (fields set to edge values, dropped, added, steps dropped or duplicated) and on
// arbitrary values, it accepts exactly what safeParse accepts and returns the same value, key for key.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parse } from 'yaml';
import { z } from 'zod';
import { generateParser, instantiateParser, parserModule, UnsupportedSchemaError } from './parser_gen.js';
import { ScenarioSchema } from './schema.js';
import * as functions from './schema_functions.js';
import { sameValue, scenarioCorpus } from '../../test/scenario_support.js';

const fast = instantiateParser(generateParser(ScenarioSchema, functions), functions);
const zodParse = (raw: unknown): unknown => {
  const r = ScenarioSchema.safeParse(raw);
  return r.success ? r.data : undefined;
};
/** The two parsers agree on raw: the same answer, or both "invalid". */
const agree = (raw: unknown): boolean => sameValue(fast(raw), zodParse(raw));

const docs = scenarioCorpus().map((c) => parse(c.text) as Record<string, unknown>);
const strings = [
  ...new Set(
    docs.flatMap((d) =>
      ((d.steps ?? []) as Array<Record<string, unknown>>).flatMap((s) =>
        Object.values(s).filter((v) => typeof v === 'string'),
      ),
    ),
  ),
];
/** The fuzzer's edge values (../shared/tools/fuzz-scenarios.mjs) and a few more. */
const EDGES: unknown[] = [
  0,
  -1,
  1,
  4095,
  4097,
  2 ** 31,
  2 ** 32 + 7,
  2 ** 53,
  -(2 ** 31),
  1e300,
  0.5,
  '1P',
  '0KiB',
  '-4KiB',
  '3MiB',
  '1GiB',
  '',
  'x',
  null,
  true,
  [],
  {},
  undefined,
  NaN,
  Infinity,
  -0,
  '7M',
  8 << 20,
  '8M',
  ['WRITE'],
  '__proto__',
];
const field = fc.oneof(fc.constantFrom(...EDGES), fc.constantFrom(...strings), fc.jsonValue({ maxDepth: 2 }));

type Doc = Record<string, unknown> & { steps?: Array<Record<string, unknown>>; machine?: Record<string, unknown> };
/** One mutation of a scenario, as the fuzzer makes them (and a few it does not). */
const mutation = fc.tuple(fc.nat(), fc.nat(), fc.nat(9), field).map(([a, b, kind, v]) => (d: Doc) => {
  const steps = Array.isArray(d.steps) ? d.steps : [];
  const s = steps[a % Math.max(1, steps.length)];
  const keys = s ? Object.keys(s) : [];
  const k = keys[b % Math.max(1, keys.length)];
  if (kind === 0) steps.splice(a % Math.max(1, steps.length), 1);
  else if (kind === 1 && s) steps.splice(a % steps.length, 0, structuredClone(s));
  else if (kind === 2) {
    const mk = Object.keys(d.machine ?? {});
    if (d.machine && mk.length) d.machine[mk[b % mk.length]!] = v;
    else d.machine = { memory: v };
  } else if (kind === 3 && s && k) delete s[k];
  else if (kind === 4 && s) s[`extra${b % 3}`] = v;
  else if (kind === 5) d[keys[0] ?? 'name'] = v;
  else if (kind === 6 && s) s.op = strings[b % strings.length];
  else if (kind === 7) d.processes = { app: { memlock: v, root: b % 2 === 0 } };
  else if (s && k) s[k] = v;
});

describe('the parser generated from ScenarioSchema', () => {
  it('parses every scenario of the repository as zod does', () => {
    expect(docs.length).toBeGreaterThan(40);
    for (const d of docs) {
      const out = fast(d);
      expect(out).toBeDefined();
      expect(sameValue(out, zodParse(d))).toBe(true);
    }
  });

  it('agrees with zod on mutated scenarios', () => {
    fc.assert(
      fc.property(fc.nat(docs.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (i, ms) => {
        const d = structuredClone(docs[i]!) as Doc;
        for (const m of ms) m(d);
        return agree(d);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with zod on arbitrary values and arbitrary steps', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => agree(v) && agree({ steps: [v] }) && agree({ machine: v, steps: [] })),
      { numRuns: 1000 },
    );
  });

  it('keeps a present optional field that is undefined, and leaves out an absent one, as zod does', () => {
    const withUndef = fast({ steps: [], name: undefined }) as Record<string, unknown>;
    expect('name' in withUndef && !('description' in withUndef)).toBe(true);
    expect(agree({ steps: [], name: undefined })).toBe(true);
  });

  it('names the functions it calls and exports them from a module', () => {
    const p = generateParser(ScenarioSchema, functions);
    expect(p.functions).toEqual(['kernelName', 'machineMemoryOk', 'sizeField']);
    const m = parserModule(p, 'parse', './schema_functions.js');
    expect(m).toContain('import { kernelName, machineMemoryOk, sizeField } from "./schema_functions.js";');
    expect(m).toContain('export const parse = ');
  });

  it('refuses what it does not model, rather than guess', () => {
    const refuse = (s: z.ZodType) => expect(() => generateParser(s, functions)).toThrow(UnsupportedSchemaError);
    refuse(z.string().email());
    refuse(z.object({ a: z.string() }).passthrough());
    refuse(z.object({ a: z.string().default('x') }));
    refuse(z.string().transform((s) => s.length)); // a callback the functions module does not export
    refuse(z.lazy(() => z.string()));
    refuse(z.coerce.number());
  });

  it('is exact on the kinds of schema it models', () => {
    const schemas: z.ZodType[] = [
      z.number(),
      z.union([z.number().int().nonnegative(), z.string().min(2)]),
      z.object({ a: z.string().optional(), b: z.number().nullable() }),
      z.strictObject({ a: z.array(z.boolean()).min(1).optional() }),
      z.record(z.string().min(1), z.number().positive()),
      z.partialRecord(z.enum(['x', 'y']), z.literal(3)),
      z.discriminatedUnion('k', [
        z.strictObject({ k: z.literal('a'), v: z.unknown() }),
        z.strictObject({ k: z.literal('b') }),
      ]),
    ];
    const special = fc.constantFrom<unknown>(
      ...EDGES,
      { a: Infinity },
      { x: 3, y: undefined },
      { k: 'a' },
      { k: 'b', v: 1 },
    );
    const value = fc.oneof(
      fc.anything({ withNullPrototype: true, withObjectString: true }),
      special,
      fc.dictionary(fc.string(), special),
    );
    for (const s of schemas) {
      const f = instantiateParser(generateParser(s, functions), functions);
      fc.assert(
        fc.property(value, (v) => {
          const r = s.safeParse(v);
          return sameValue(f(v), r.success ? r.data : undefined);
        }),
        { numRuns: 300 },
      );
    }
  });
});
