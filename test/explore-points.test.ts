// The race explorer's atomic points beyond GUP-fast and fork's copy (issue 14): the GUP slow path (the
// mmap_lock taken for read, then per page its follow and grab or the fault it asks for), and io_uring
// buffer registration (its pin through GUP's own points) and unregistration (one point per buffer).
import { describe, it, expect } from 'vitest';
import { loadScenario } from '../src/scenario/load.js';
import { explore } from '../src/tools/explore/explorer.js';

const scenario = (name: string, yaml: string) => loadScenario(`name: ${name}\n${yaml}`, `${name}.yaml`);

describe('gupsim explore: the slow path and io_uring as atomic points', () => {
  it('pin_user_pages: mmap_read_lock, then per page a fault and a follow; munmap never runs inside', () => {
    const sc = scenario(
      'slow-vs-munmap',
      `machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - op: concurrent
    threads:
      pin:
        - { op: pin_user_pages, proc: app, region: buf, flags: [FOLL_WRITE], as: pin }
      unmap:
        - { op: munmap, proc: app, region: buf }
`,
    );
    const r = explore(sc);
    expect(r.violations).toEqual([]);
    // Either the pin ran first (both pages pinned, then unmapped under the pin) or after (-EFAULT).
    expect(new Set(r.ends.map((e) => e.returns[0]))).toEqual(
      new Set(['pin.0 pin_user_pages = 2', 'pin.0 pin_user_pages = -14']),
    );
    const pinned = r.ends.find((e) => e.returns[0] === 'pin.0 pin_user_pages = 2')!;
    const fns = pinned.example.filter((t) => t.thread === 'pin').map((t) => t.fn);
    expect(fns).toEqual([
      '__get_user_pages_locked',
      'follow_page_mask',
      'faultin_page',
      'follow_page_mask',
      'follow_page_mask',
      'faultin_page',
      'follow_page_mask',
      '__get_user_pages_locked',
      'pin_user_pages',
    ]);
    // The lock: munmap's points all come before the pin's lock or after its unlock.
    for (const e of r.ends) {
      const who = e.example.filter((t) => t.thread !== '-').map((t) => t.thread);
      const first = who.indexOf('pin');
      const last = who.lastIndexOf('pin');
      const inside = who.slice(first, last).filter((t) => t === 'unmap');
      expect(inside).toEqual([]);
    }
  });

  it('io_uring registration pins through GUP-fast: safe with write_protect_seq, broken without', () => {
    const yaml = `machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - op: concurrent
    threads:
      reg:
        - { op: io_uring_register_buffers, proc: app, region: buf, as: ring }
      fork:
        - { op: fork, proc: app, child: child }
  - { op: write, proc: app, region: buf }
  - { op: assert, that: pins_mapped, handle: ring, proc: app, says: the ring's frames are the frames app maps }
`;
    const on = explore(scenario('ring-vs-fork', yaml));
    expect(on.violations).toEqual([]);
    expect(on.ends.every((e) => e.returns[0] === 'reg.0 io_uring_register_buffers = 0')).toBe(true);
    const off = explore(scenario('ring-vs-fork', yaml), { without: ['writeProtectSeq'] });
    const v = off.violations.find((x) => x.property === "the ring's frames are the frames app maps");
    expect(v).toBeDefined();
    const reg = v!.trace.filter((t) => t.thread === 'reg').map((t) => t.fn);
    expect(reg[0]).toBe('io_sqe_buffers_register');
    expect(reg).toContain('try_grab_folio_fast');
    expect(reg[reg.length - 1]).toBe('io_sqe_buffer_register');
  });

  it('a step on a region whose mmap failed faults at once, as gupsim run has it', () => {
    const sc = scenario(
      'unmapped',
      `machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 0, type: anon }
  - op: concurrent
    threads:
      pin:
        - { op: pin_user_pages_fast, proc: app, region: buf, flags: [FOLL_WRITE], as: pin }
      unmap:
        - { op: munmap, proc: app, region: buf }
`,
    );
    const r = explore(sc);
    expect(r.ends.map((e) => e.returns)).toEqual([['pin.0 pin_user_pages_fast = -14', 'unmap.0 munmap = -14']]);
  });

  it('io_uring unregistration: one point per buffer unpinned', () => {
    const sc = scenario(
      'unregister',
      `machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: app, as: a, size: 4KiB, type: anon }
  - { op: mmap, proc: app, as: b, size: 4KiB, type: anon }
  - { op: io_uring_register_buffers, proc: app, regions: [a, b], as: ring }
  - op: concurrent
    threads:
      unreg:
        - { op: io_uring_unregister_buffers, ring: ring }
      other:
        - { op: write, proc: app, region: a }
  - { op: assert, that: vmstat_balanced, says: every pin is released }
`,
    );
    const r = explore(sc);
    expect(r.violations).toEqual([]);
    const fns = r.ends[0]!.example.filter((t) => t.thread === 'unreg').map((t) => t.fn);
    expect(fns).toEqual(['io_buffer_unmap', 'io_sqe_buffers_unregister']);
    expect(r.ends.every((e) => e.returns.includes('unreg.0 io_uring_unregister_buffers = 0'))).toBe(true);
  });

  it("a fork's child runs no step, lockless GUP-fast included, until the fork has returned", () => {
    const sc = scenario(
      'child-waits',
      `machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: parent, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: parent, region: buf }
  - op: concurrent
    threads:
      fork:
        - { op: fork, proc: parent, child: child }
      dma:
        - { op: get_user_pages_fast, proc: child, region: buf, as: pin }
`,
    );
    const r = explore(sc);
    expect(r.violations).toEqual([]);
    // The child's GUP ran before the fork (it made a process "child": the fork then fails) or after it.
    expect(r.ends.map((e) => e.returns.join(', ')).sort()).toEqual([
      'fork.0 fork = -17, dma.0 get_user_pages_fast = -14',
      'fork.0 fork = 0, dma.0 get_user_pages_fast = 2',
    ]);
    for (const e of r.ends) {
      const fork = e.example.map((s, k) => (s.thread === 'fork' ? k : -1)).filter((k) => k >= 0);
      const dma = e.example.map((s, k) => (s.thread === 'dma' ? k : -1)).filter((k) => k >= 0);
      // No point of the child's between fork's first and last.
      for (const k of dma) expect(k < fork[0]! || k > fork[fork.length - 1]!).toBe(true);
    }
    // One order of the fork's points and the child's whole step after them.
    expect(r.ends.find((e) => e.returns[0] === 'fork.0 fork = 0')!.interleavings).toBe(1);
  });
});
