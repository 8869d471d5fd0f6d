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
  it('a machine smaller than the model allows (8 MiB) names the field', () => {
    const p = problems('machine: { memory: 4095 }\nsteps: []\n');
    expect(p).toEqual(['s.yaml:1: field "machine.memory": machine memory must be at least 8 MiB']);
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
