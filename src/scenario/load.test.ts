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
    expect(op[0]).toMatch(/unknown op "pin_user_page_fast" \(did you mean "pin_user_pages_fast"\?\)/);
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

describe('loadScenario: errors that say what was meant', () => {
  const problems = (text: string): string[] => {
    try {
      loadScenario(text, 'f.yaml');
    } catch (e) {
      return (e as ScenarioError).problems;
    }
    return [];
  };
  it('did you mean: ops, fields, enum values, FOLL flags', () => {
    expect(problems('steps:\n  - { op: wrte, proc: a, region: b }\n')).toEqual([
      'f.yaml:2: step 0 (wrte): unknown op "wrte" (did you mean "write"?)',
    ]);
    const p = problems('steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anno, prott: r }\n');
    expect(p).toContain('f.yaml:2: step 0 (mmap): unknown field "prott" (did you mean "prot"?)');
    expect(p.join('\n')).toMatch(/field "type": "anno" is not one of .* \(did you mean "anon"\?\)/);
    expect(
      problems(
        'steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n  - { op: pin_user_pages, ' +
          'proc: a, region: b, flags: [FOLL_LONGTRM] }\n',
      ),
    ).toEqual([
      'f.yaml:3: step 1 (pin_user_pages): field "flags": unknown GUP flag "FOLL_LONGTRM" (did you mean ' +
        '"FOLL_LONGTERM"?)',
    ]);
  });
  it('an empty file and a file that is not a mapping say so', () => {
    expect(problems('')).toEqual(['f.yaml: empty scenario (a scenario is a YAML mapping with steps:)']);
    expect(problems('- a\n')[0]).toMatch(/a scenario is a YAML mapping .*not a list/);
  });
  it('a second region, file or handle of another kind with an existing name is an error', () => {
    const p = problems(
      'steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n  - { op: mmap, proc: a, as: b, size: 4K, ' +
        'type: anon }\n  - { op: create_file, as: f, size: 4K }\n  - { op: create_file, as: f, size: 4K }\n' +
        '  - { op: pin_user_pages, proc: a, region: b, as: h }\n  - { op: vmsplice, proc: a, region: b, as: h }\n',
    );
    expect(p).toEqual([
      'f.yaml:3: step 1 (mmap): field "as": region "b" already exists (step 0)',
      'f.yaml:5: step 3 (create_file): field "as": file "f" already exists (step 2)',
      'f.yaml:7: step 5 (vmsplice): field "as": "h" already names a pin handle of a (step 4); choose another name',
    ]);
  });
  it('inspect: a page outside the region, and region or handle but not both', () => {
    const p = problems(
      'steps:\n  - { op: mmap, proc: a, as: b, size: 8K, type: anon }\n' +
        '  - { op: inspect, proc: a, region: b, page: 2 }\n' +
        '  - { op: inspect, proc: a }\n',
    );
    expect(p[0]).toBe('f.yaml:3: step 1 (inspect): field "page": pages 2..2 are outside region "b" (2 pages)');
    expect(p[1]).toMatch(/step 2 \(inspect\): field "region": give region .* or handle/);
  });
});
