import { describe, it, expect } from 'vitest';
import { loadScenario, ScenarioError } from './load.js';
import { parseSize } from './sizes.js';

function problems(text: string): string[] {
  try {
    loadScenario(text, 's.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e.problems;
    throw e;
  }
  return [];
}

describe('scenario sizes', () => {
  it('accepts binary suffixes in every spelling', () => {
    expect(parseSize('4K')).toBe(4096);
    expect(parseSize('64KiB')).toBe(65536);
    expect(parseSize('2M')).toBe(2 ** 21);
    expect(parseSize('2MB')).toBe(2 ** 21);
    expect(parseSize('1GiB')).toBe(2 ** 30);
    expect(parseSize(8192)).toBe(8192);
    expect(parseSize('12 parsecs')).toBeUndefined();
    expect(parseSize(-1)).toBeUndefined();
  });
});

describe('scenario validation names file, line, step and field', () => {
  it('a bad size', () => {
    const p = problems('steps:\n  - { op: mmap, proc: a, as: b, size: lots, type: anon }\n');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^s\.yaml:2: step 0 \(mmap\): field "size": expected a size/);
  });
  it('an unknown op lists the known ones', () => {
    const p = problems(
      'steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n  - { op: pin_everything, proc: a }\n',
    );
    expect(p[0]).toMatch(/^s\.yaml:3: step 1 \(pin_everything\): unknown op "pin_everything" \(known ops: mmap,/);
  });
  it('did you mean: a misspelt op or field names the nearest known one', () => {
    const op = problems('steps:\n  - { op: pin_user_page_fast, proc: a, region: b }\n');
    expect(op[0]).toMatch(/unknown op "pin_user_page_fast" \(did you mean "pin_user_pages_fast"\?\) \(known ops:/);
    const field = problems('steps:\n  - { op: mmap, proc: a, as: b, size: 4K, typ: anon }\n');
    expect(field).toContain('s.yaml:2: step 0 (mmap): unknown field "typ" (did you mean "type"?)');
    const machine = problems('machine: { memroy: 1G }\nsteps: []\n');
    expect(machine[0]).toBe('s.yaml:1: unknown field "machine.memroy" (did you mean "memory"?)');
    const far = problems('steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon, colour: red }\n');
    expect(far[0]).toBe('s.yaml:2: step 0 (mmap): unknown field "colour"');
  });

  it('an unknown field', () => {
    const p = problems('steps:\n  - op: mmap\n    proc: a\n    as: b\n    size: 4K\n    type: anon\n    colour: red\n');
    expect(p[0]).toBe('s.yaml:7: step 0 (mmap): unknown field "colour"');
  });
  it('a missing required field', () => {
    const p = problems('steps:\n  - { op: mmap, proc: a, size: 4K, type: anon }\n');
    expect(p[0]).toMatch(/step 0 \(mmap\): field "as": required field is missing/);
  });
  it('a region used before it is defined', () => {
    const p = problems('steps:\n  - { op: write, proc: a, region: nowhere }\n');
    expect(p[0]).toBe(
      's.yaml:2: step 0 (write): field "region": unknown region "nowhere" (define it in an earlier step)',
    );
  });
  it('a bad machine setting names the field', () => {
    const p = problems('machine: { thp: sometimes }\nsteps: []\n');
    expect(p[0]).toMatch(/^s\.yaml:1: field "machine\.thp": /);
  });
  it('YAML syntax errors carry the line', () => {
    const p = problems('steps:\n  - { op: mmap\n');
    expect(p[0]).toMatch(/^s\.yaml:\d+: /);
  });
  it('JSON works too', () => {
    const sc = loadScenario('{"steps":[{"op":"vmstat"}]}', 's.json');
    expect(sc.steps[0]!.op).toBe('vmstat');
  });
});
