// What the race explorer shows of an end state (tools/explore/outcome.ts): one line per run of pages
// that look alike. Inside a PMD leaf the pages are viewed without walking the page table again; the runs
// must still break wherever a page's own mapcount or contents differ.
import { describe, it, expect } from 'vitest';
import { loadScenario } from '../src/scenario/load.js';
import { RunContext } from '../src/scenario/context.js';
import { runScenarioStep } from '../src/scenario/run.js';
import { observationKey, observe, observed, pageLines } from '../src/tools/explore/outcome.js';

/** A PMD-mapped THP whose pages all hold 0x11; each test adds its steps. */
const THP = `
machine: { memory: 16MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: p, region: buf, value: 0x11 }
`;

function run(yaml: string): RunContext {
  const sc = loadScenario(yaml, 'outcome.yaml');
  const ctx = new RunContext(sc);
  sc.steps.forEach((s, i) => runScenarioStep(ctx, s, i, []));
  return ctx;
}

describe('explore outcome: runs of pages', () => {
  it('a PMD-mapped THP splits into runs where its pages hold different contents', () => {
    const ctx = run(`${THP}  - { op: write, proc: p, region: buf, offset: 40KiB, pages: 1, value: 0x22 }
  - { op: write, proc: p, region: buf, offset: 44KiB, pages: 3, value: 0x33 }
`);
    const lines = pageLines(ctx);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^p buf\[0\.\.9\]: frames 0x[0-9a-f]+\.\.0x[0-9a-f]+ pmd rw, .* data 0x11$/);
    expect(lines[1]).toMatch(/^p buf\[10\]: frame 0x[0-9a-f]+ pmd rw, .* data 0x22$/);
    expect(lines[2]).toMatch(/^p buf\[11\.\.13\]: .* data 0x33$/);
    expect(lines[3]).toMatch(/^p buf\[14\.\.511\]: .* data 0x11$/);
    // The frames of the runs follow one another: one folio, PMD-mapped.
    const first = (l: string) => Number(/frames? (0x[0-9a-f]+)/.exec(l)![1]);
    expect(lines.map(first)).toEqual([0, 10, 11, 14].map((i) => first(lines[0]!) + i));
  });

  it('a THP mapped by the parent and the child after fork: one run per process, the same frames', () => {
    const ctx = run(`${THP}  - { op: fork, proc: p, child: c }
`);
    const o = observe(ctx, []);
    expect(o.pages).toHaveLength(2);
    expect(o.pages[0]).toMatch(/^c buf\[0\.\.511\]: frames .* pmd ro, folio refcount 2, mapcount 2, data 0x11$/);
    expect(o.pages[1]!.replace(/^p/, 'c')).toBe(o.pages[0]);
  });

  it("the key as a number follows observe()'s key: equal for states that look alike, apart for any difference", () => {
    // Each variant changes one thing a person sees (contents, a mapping, a handle, a counter, a return value).
    const base = `${THP}  - { op: fork, proc: p, child: c }
`;
    const variants: [string, number][] = [
      [base, 0],
      [base, 1], // another return value
      [`${base}  - { op: write, proc: c, region: buf, offset: 8KiB, pages: 1, value: 0x22 }\n`, 0],
      [`${base}  - { op: write, proc: p, region: buf, offset: 8KiB, pages: 1, value: 0x22 }\n`, 0],
      [`${base}  - { op: write, proc: p, region: buf, offset: 8KiB, pages: 1, value: 0x23 }\n`, 0],
      [`${base}  - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: h }\n`, 0],
      [`${base}  - { op: get_user_pages, proc: p, region: buf, pages: 1, as: h }\n`, 0],
      [`${base}  - { op: munmap, proc: c, region: buf }\n`, 0],
    ];
    const keys = variants.map(([yaml, ret]) => {
      const ctx = run(yaml);
      const k = observationKey(ctx, [{ ret }]);
      const o = observed([`t.0 op = ${ret}`]);
      // observed() is the observation of the state observationKey() looked at.
      expect(o).toEqual(observe(ctx, [`t.0 op = ${ret}`]));
      return [k, o.key] as const;
    });
    for (const [k1, s1] of keys) for (const [k2, s2] of keys) expect(k1 === k2).toBe(s1 === s2);
    expect(new Set(keys.map(([, s]) => s)).size).toBe(variants.length);
    // The same state made again: the same key.
    expect(observationKey(run(base), [{ ret: 0 }])).toBe(keys[0]![0]);
  });
});
