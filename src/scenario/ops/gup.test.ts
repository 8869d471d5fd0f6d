// Scenario-level tests of the raw GUP release steps (ops/gup.ts): a release does what the kernel does
// with the driver's pages[] as it stands (released entries included), and each misuse event becomes
// one misuse record naming the step and the handle, in the step and at the top of the result.

import { describe, it, expect } from 'vitest';
import { loadScenario, ScenarioError } from '../load.js';
import { runScenario } from '../run.js';
import { type RunResult } from '../result.js';

function run(yaml: string): RunResult {
  return runScenario(loadScenario(yaml, 'test.yaml'));
}

const step = (r: RunResult, label: string) => r.steps.find((s) => s.label === label)!;

// MADV_POPULATE_WRITE faults the pages in and then drains the LRU batch (faultin_page_range()), so
// the counts below are the mappings' and the pins' alone.
const PINNED = `
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 16KiB, type: anon }
  - { op: madvise, proc: app, region: buf, advice: populate_write }
  - { op: pin_user_pages, proc: app, region: buf, flags: [FOLL_WRITE], as: pin }
`;

describe('raw GUP release steps', () => {
  it('a double unpin passes the stale entries again: the kernel unpins them again, one misuse record says so', () => {
    const r = run(`${PINNED}
  - { op: unpin_user_pages, pins: pin, count: 2, label: first }
  - { op: unpin_user_pages, pins: pin, label: all }
  - { op: inspect, proc: app, region: buf, pages: 4, label: after }
  - { op: expect, vmstat: { nr_foll_pin_acquired: 4, nr_foll_pin_released: 6 }, pins: 0, warnings: 0, misuse: 1 }
`);
    expect(r.ok).toBe(true);
    expect(step(r, 'first').misuse).toBeUndefined();
    expect(step(r, 'all').misuse).toEqual([
      {
        step: 4,
        handle: 'pin',
        what: 'double unpin: 2 of the 4 entries passed were already released (at step 3)',
        kernel: expect.stringMatching(/_refcount 1 -> -1023.*never freed/),
      },
    ]);
    const pages = step(r, 'after').pages as Array<{ refcount: number }>;
    expect(pages.map((p) => p.refcount)).toEqual([-1023, -1023, 1, 1]);
    expect(r.misuse).toEqual(step(r, 'all').misuse);
    expect(r.warnings).toEqual([]);
  });

  it('unpin_user_pages with index releases from that entry (unpin_user_pages(pages + index, count))', () => {
    const r = run(`${PINNED}
  - { op: unpin_user_page, pins: pin, index: 0 }
  - { op: unpin_user_pages, pins: pin, index: 1 }
  - { op: expect, vmstat: { nr_foll_pin_released: 4 }, pins: 0, misuse: 0 }
`);
    expect(r.ok).toBe(true);
    expect(r.misuse).toEqual([]);
  });

  it('put_page() on pinned pages: a record for the put, then one for the unpin that frees them while mapped', () => {
    const r = run(`${PINNED}
  - { op: put_page, pins: pin, label: put }
  - { op: expect, pins: 4, misuse: 1 }
  - { op: unpin_user_pages, pins: pin, label: unpin }
  - { op: inspect, proc: app, region: buf, page: 0, label: freed }
  - { op: pin_user_pages, proc: app, region: buf, pages: 1, as: again, label: again }
  - { op: exit, proc: app }
`);
    expect(r.ok).toBe(true);
    expect(step(r, 'put').misuse).toEqual([
      expect.objectContaining({
        handle: 'pin',
        what: expect.stringMatching(/^put_page\(\) on pages of "pin" pinned with FOLL_PIN/),
        kernel:
          'put_page(); folio 0x100 _refcount 1025 -> 1024; folio 0x101 _refcount 1025 -> 1024; ' +
          'folio 0x102 _refcount 1025 -> 1024',
      }),
    ]);
    expect(step(r, 'unpin').misuse).toEqual([
      expect.objectContaining({
        handle: 'pin',
        what: 'a folio was freed while still in use (use-after-free)',
        kernel: expect.stringMatching(/^folio 0x100: nr_foll_pin_released \+1, _refcount 1024 -> 0 .*; and 1 more/),
      }),
    ]);
    expect(step(r, 'freed').pages).toEqual([expect.objectContaining({ refcount: 0, mapcount: 1 })]);
    // The kernel's own WARN, only where it has one: the later grab of the freed page.
    expect(step(r, 'again')).toMatchObject({ errno: 'ENOMEM', why: { fn: 'try_grab_folio' } });
    expect(r.warnings.map((w) => [w.fn, w.step])).toEqual([['try_grab_folio', 7]]);
    expect(step(r, 'again').misuse).toEqual([
      expect.objectContaining({ what: expect.stringMatching(/freed while still mapped at step 5 \(use-after-free\)/) }),
    ]);
    expect(r.misuse).toHaveLength(3);
  });

  it('unpin of pages taken with FOLL_GET and a double put_page() are misuse too', () => {
    const r = run(`
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: get_user_pages, proc: app, region: buf, as: got, label: get }
  - { op: get_user_pages, proc: app, region: buf, as: got2 }
  - { op: unpin_user_pages, pins: got, label: unpin }
  - { op: put_page, pins: got2 }
  - { op: put_page, pins: got2, index: 1, label: again }
  - { op: expect, vmstat: { nr_foll_pin_acquired: 0, nr_foll_pin_released: 2 }, pins: 0, warnings: 0, misuse: 2 }
`);
    expect(r.ok).toBe(true);
    expect(step(r, 'unpin').misuse![0]!.what).toMatch(/taken with FOLL_GET .*release them with put_page\(\)/);
    expect(step(r, 'again').misuse![0]!.what).toBe(
      'double put_page(): 1 of the 1 entry passed was already released (at step 5)',
    );
  });

  it('an expect on misuse fails when the count differs', () => {
    const r = run(`${PINNED}
  - { op: unpin_user_pages, pins: pin }
  - { op: unpin_user_pages, pins: pin }
  - { op: expect, misuse: 0 }
`);
    expect(r.ok).toBe(false);
    expect(r.steps.at(-1)!.failures).toEqual(['misuse records: got 1, want 0']);
  });

  it('a release step naming something a raw GUP step did not make is bad input', () => {
    const yaml = `
steps:
  - { op: mmap, proc: app, as: buf, size: 16KiB, type: anon }
  - { op: io_uring_register_buffers, proc: app, region: buf, as: ring }
  - { op: unpin_user_pages, pins: ring }
`;
    expect(() => loadScenario(yaml, 't.yaml')).toThrow(ScenarioError);
    try {
      loadScenario(yaml, 't.yaml');
    } catch (e) {
      expect((e as ScenarioError).problems.join('\n')).toMatch(
        /step 2 \(unpin_user_pages\): field "pins": "ring" was made by io_uring_register_buffers/,
      );
    }
  });
});
