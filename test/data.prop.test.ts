// Property tests of page contents: random sequences of writes, reads, fork, COW, write pins (short-
// and long-term: migration out of ZONE_MOVABLE/CMA), device writes through the pins, unpins,
// MADV_DONTNEED, MADV_COLLAPSE, mprotect, munmap and exit on private anonymous memory.
//
// 1. What a process reads at an address is the last value written there by something the kernel
//    lets reach that page: the process itself, or anyone writing the frame the process maps there
//    right now (a device through a pin, another process still sharing the page). COW, fork's early
//    copy, migration, collapse and unsharing never change what anyone reads; a zapped page reads 0.
// 2. A device write through a pin changes exactly the frames the pin holds.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine } from '../src/mm/machine.js';
import { PAGE_SIZE, PMD_SIZE } from '../src/mm/memmap.js';
import type { Process } from '../src/mm/task.js';
import { kernel_clone } from '../src/kernel/fork.js';
import { do_exit } from '../src/kernel/exit.js';
import { do_mmap, do_munmap } from '../src/mm/mmap.js';
import { do_madvise } from '../src/mm/madvise.js';
import { do_mprotect_pkey } from '../src/mm/mprotect.js';
import { userAccess } from '../src/mm/user_access.js';
import { pin_user_pages, pin_user_pages_fast, unpin_user_pages, unpin_user_pages_dirty_lock } from '../src/mm/gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../src/mm/foll_flags.js';
import { memcpy_to_page, pageValue } from '../src/mm/highmem.js';
import { lookupPage } from '../src/scenario/inspect.js';

const pick = fc.nat({ max: 1 << 16 });

type Op =
  | { k: 'mmap'; p: number; pages: number; thp: boolean }
  | { k: 'write'; p: number; v: number; off: number; len: number }
  | { k: 'read'; p: number; v: number; off: number; len: number }
  | { k: 'fork'; p: number }
  | { k: 'pin'; p: number; v: number; off: number; n: number; longterm: boolean; fast: boolean }
  | { k: 'device'; h: number }
  | { k: 'unpin'; h: number; dirty: boolean }
  | { k: 'dontneed'; p: number; v: number; off: number; len: number }
  | { k: 'collapse'; p: number; v: number }
  | { k: 'mprotect'; p: number; v: number; rw: boolean }
  | { k: 'munmap'; p: number; v: number; off: number; len: number }
  | { k: 'exit'; p: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('mmap' as const),
      p: pick,
      pages: fc.oneof(fc.integer({ min: 1, max: 24 }), fc.constant(512), fc.constant(1024)),
      thp: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('write' as const), p: pick, v: pick, off: pick, len: pick }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('read' as const), p: pick, v: pick, off: pick, len: pick }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('fork' as const), p: pick }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('pin' as const),
      p: pick,
      v: pick,
      off: pick,
      n: fc.integer({ min: 1, max: 40 }),
      longterm: fc.boolean(),
      fast: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('device' as const), h: pick }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('unpin' as const), h: pick, dirty: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dontneed' as const), p: pick, v: pick, off: pick, len: pick }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('collapse' as const), p: pick, v: pick }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mprotect' as const), p: pick, v: pick, rw: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('munmap' as const), p: pick, v: pick, off: pick, len: pick }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const), p: pick }) },
);

/** The test's knowledge: what each process must read at each page it wrote (absent: 0). */
class World {
  readonly m = new Machine({ memory: 96 << 20, movable: 32 << 20, cma: 8 << 20, thp: 'madvise' });
  readonly expected = new Map<Process, Map<number, number>>();
  readonly pins: Int32Array[] = [];
  readonly log: string[] = [];
  private next = 0;
  private value = 1;

  constructor() {
    this.spawn();
  }

  spawn(): Process {
    const p = this.m.spawn(`p${this.next++}`);
    this.expected.set(p, new Map());
    return p;
  }

  live(): Process[] {
    return [...this.m.processes.values()].filter((p) => p.alive);
  }

  proc(i: number): Process | undefined {
    const l = this.live();
    return l.length ? l[i % l.length] : undefined;
  }

  /** A page range of one VMA: [start, start + pages pages). */
  range(p: Process, vi: number, off: number, len: number): { start: number; pages: number } | undefined {
    const vmas = p.mm.vmas;
    if (!vmas.length) return undefined;
    const vma = vmas[vi % vmas.length]!;
    const o = off % vma.pages;
    return { start: vma.start + o * PAGE_SIZE, pages: 1 + (len % (vma.pages - o)) };
  }

  /** Every (process, page address) that maps each frame now. */
  mappers(): Map<number, Array<[Process, number]>> {
    const out = new Map<number, Array<[Process, number]>>();
    for (const p of this.live())
      for (const vma of p.mm.vmas)
        for (let a = vma.start; a < vma.end; a += PAGE_SIZE) {
          const hit = lookupPage(p, a);
          if (!hit) continue;
          let l = out.get(hit.pfn);
          if (!l) out.set(hit.pfn, (l = []));
          l.push([p, a]);
        }
    return out;
  }

  /** A store of v reached these frames: everyone mapping one of them now reads v there. */
  stored(frames: Iterable<number>, v: number): void {
    const who = this.mappers();
    for (const f of frames) for (const [q, a] of who.get(f) ?? []) this.expected.get(q)!.set(a, v);
  }

  forget(p: Process, start: number, pages: number): void {
    const e = this.expected.get(p)!;
    for (let k = 0; k < pages; k++) e.delete(start + k * PAGE_SIZE);
  }

  apply(op: Op): void {
    const m = this.m;
    switch (op.k) {
      case 'mmap': {
        const p = this.proc(op.p) ?? this.spawn();
        const addr = do_mmap(m, p, { size: op.pages * PAGE_SIZE, type: 'anon', align: op.thp ? PMD_SIZE : PAGE_SIZE });
        if (addr >= 0 && op.thp) do_madvise(m, p, addr, op.pages * PAGE_SIZE, 'hugepage');
        this.log.push(`  -> ${addr}`);
        return;
      }
      case 'write': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        const v = this.value++;
        const frames: number[] = [];
        const ret = userAccess(m, p, r.start, r.pages * PAGE_SIZE, true, (pfn) => {
          memcpy_to_page(m, pfn, v);
          frames.push(pfn);
        });
        this.log.push(`  -> ${ret}: ${v} into ${frames.length} pages at 0x${r.start.toString(16)}`);
        this.stored(frames, v);
        return;
      }
      case 'read': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        const got: number[] = [];
        const ret = userAccess(m, p, r.start, r.pages * PAGE_SIZE, false, (pfn, i) => (got[i] = pageValue(m, pfn)));
        const e = this.expected.get(p)!;
        got.forEach((v, i) => {
          const want = e.get(r.start + i * PAGE_SIZE) ?? 0;
          if (v !== want) throw new Error(`read ${v} at page ${i}, want ${want}\n${this.log.join('\n')}`);
        });
        this.log.push(`  -> ${ret}`);
        return;
      }
      case 'fork': {
        const p = this.proc(op.p);
        if (!p || this.live().length >= 5) return;
        const c = kernel_clone(m, p, `p${this.next++}`);
        if (typeof c === 'number') return;
        this.expected.set(c, new Map(this.expected.get(p)!));
        this.log.push(`  -> ${c.name}`);
        return;
      }
      case 'pin': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.n);
        if (!r) return;
        const pages = new Int32Array(r.pages);
        const flags = FOLL_WRITE | (op.longterm ? FOLL_LONGTERM : 0);
        const got = (op.fast ? pin_user_pages_fast : pin_user_pages)(m, p, r.start, r.pages, flags, pages);
        this.log.push(`  -> ${got}`);
        if (got > 0) this.pins.push(pages.slice(0, got));
        return;
      }
      case 'device': {
        if (!this.pins.length) return;
        const h = this.pins[op.h % this.pins.length]!;
        const v = this.value++;
        const before = Uint32Array.from(m.mem.data);
        for (const pfn of h) memcpy_to_page(m, pfn, v);
        // Property 2: exactly the frames the pin holds changed.
        const held = new Set(h);
        const after = m.mem.data;
        for (let pfn = 0; pfn < after.length; pfn++) {
          if ((after[pfn] !== before[pfn]) !== held.has(pfn))
            throw new Error(`device write through a pin changed frame ${pfn} (held: ${held.has(pfn)})`);
        }
        this.stored(h, v);
        this.log.push(`  -> ${v} into ${h.length} pinned frames`);
        return;
      }
      case 'unpin': {
        if (!this.pins.length) return;
        const [h] = this.pins.splice(op.h % this.pins.length, 1);
        if (op.dirty) unpin_user_pages_dirty_lock(m, h!, h!.length, true);
        else unpin_user_pages(m, h!, h!.length);
        return;
      }
      case 'dontneed': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        if (do_madvise(m, p, r.start, r.pages * PAGE_SIZE, 'dontneed') === 0) this.forget(p, r.start, r.pages);
        return;
      }
      case 'collapse': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, 0, -1 >>> 1);
        if (!r) return;
        this.log.push(`  -> ${do_madvise(m, p, r.start, r.pages * PAGE_SIZE, 'collapse')}`);
        return;
      }
      case 'mprotect': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, 0, -1 >>> 1);
        if (!r) return;
        do_mprotect_pkey(m, p, r.start, r.pages * PAGE_SIZE, op.rw ? 'rw' : 'r');
        return;
      }
      case 'munmap': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        if (do_munmap(m, p, r.start, r.pages * PAGE_SIZE) === 0) this.forget(p, r.start, r.pages);
        return;
      }
      case 'exit': {
        const p = this.proc(op.p);
        if (p) do_exit(m, p);
        return;
      }
    }
  }

  /** Property 1: every mapped page of every process holds what the process must read there. */
  check(when: string): void {
    for (const p of this.live()) {
      const e = this.expected.get(p)!;
      for (const vma of p.mm.vmas)
        for (let a = vma.start; a < vma.end; a += PAGE_SIZE) {
          const hit = lookupPage(p, a);
          const want = e.get(a) ?? 0;
          if (!hit) {
            if (want !== 0) throw new Error(`${when}: ${p.name} lost page 0x${a.toString(16)}\n${this.log.join('\n')}`);
            continue;
          }
          const got = pageValue(this.m, hit.pfn);
          if (got !== want)
            throw new Error(
              `${when}: ${p.name} sees ${got} at 0x${a.toString(16)}, want ${want}\n${this.log.join('\n')}`,
            );
        }
    }
  }
}

const NUM_RUNS = Number(process.env.GUPSIM_PROP_RUNS ?? 60);

describe('page contents under random sequences', () => {
  it(
    'a process reads what was last written to the page it maps; a device write through a pin changes ' +
      'exactly the frames the pin holds',
    () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 40, size: 'max' }), (ops) => {
          const w = new World();
          w.m.mem.data; // contents in use from the start: the device check compares whole arrays
          ops.forEach((op, i) => {
            w.log.push(`${i}: ${JSON.stringify(op)}`);
            w.apply(op);
            w.check(`after step ${i}`);
          });
          expect(w.m.warns.records).toEqual([]);
        }),
        { numRuns: NUM_RUNS },
      );
    },
    Math.max(60_000, NUM_RUNS * 1000),
  );
});
