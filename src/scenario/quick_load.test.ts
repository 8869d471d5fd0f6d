// The quick loader (the CLI's, with the parser generated from the schema) gives the full loader's
// scenario wherever that one accepts the text, and nothing wherever it refuses it: so `gupsim run`
// means the same and says the same whichever path a file takes.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { quickLoadScenario } from './quick_load.js';
import { loadScenario, ScenarioError } from './load.js';
import { generateParser, instantiateParser } from './parser_gen.js';
import { ScenarioSchema, type Scenario } from './schema.js';
import * as functions from './schema_functions.js';
import { sameValue, scenarioCorpus } from '../../test/scenario_support.js';

const parser = instantiateParser(generateParser(ScenarioSchema, functions), functions) as (
  input: unknown,
) => Scenario | undefined;

/** The full loader's scenario, or undefined where it reports problems. */
function full(text: string): Scenario | undefined {
  try {
    return loadScenario(text, 's.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return undefined;
    throw e;
  }
}

const corpus = scenarioCorpus();

describe('quickLoadScenario', () => {
  it('loads every scenario of the repository as loadScenario does', () => {
    for (const { text } of corpus) {
      const q = quickLoadScenario(text, parser);
      expect(q).toBeDefined();
      expect(sameValue(q, full(text))).toBe(true);
    }
  });

  it('leaves every scenario to loadScenario when there is no generated parser (tsc output, tests)', () => {
    expect(quickLoadScenario(corpus[0]!.text)).toBeUndefined();
  });

  it('answers nothing where loadScenario reports a problem: schema, references, YAML', () => {
    const bad = [
      'steps:\n  - { op: mmap, proc: a, as: b, size: lots, type: anon }\n',
      'steps:\n  - { op: write, proc: a, region: nowhere }\n',
      'steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n' +
        '  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n',
      'machine: { memory: 1M }\nsteps: []\n',
      'steps: [\n',
      'name: x\n',
    ];
    for (const t of bad) {
      expect(full(t), t).toBeUndefined();
      expect(quickLoadScenario(t, parser), t).toBeUndefined();
    }
  });

  it('agrees with loadScenario on fuzzed scenarios (the fuzzer mutations, written back as YAML)', () => {
    const docs = corpus.map((c) => parse(c.text) as { steps: Array<Record<string, unknown>> });
    const edges = [0, -1, 4097, 2 ** 53, 0.5, '1P', '-4KiB', '3MiB', '', 'x', null, true, [], {}, 'buf', 'app'];
    fc.assert(
      fc.property(
        fc.nat(docs.length - 1),
        fc.nat(),
        fc.nat(),
        fc.constantFrom(...edges),
        fc.boolean(),
        (i, a, b, v, flow) => {
          const d = structuredClone(docs[i]!);
          const s = d.steps[a % d.steps.length]!;
          const keys = Object.keys(s);
          const k = keys[b % keys.length]!;
          if (b % 5 === 0) d.steps.splice(a % d.steps.length, 1);
          else s[k] = v;
          const text = stringify(d, { collectionStyle: flow ? 'flow' : 'block' });
          const q = quickLoadScenario(text, parser);
          return q === undefined || sameValue(q, full(text));
        },
      ),
      { numRuns: 500 },
    );
  });
});
