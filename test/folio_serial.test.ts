// gupsim's folio serial numbers (Machine.folioSerial(), no kernel counterpart) and what they cost: a
// machine that never shows them (no inspect) keeps no per-page array for them, so its metadata stays at
// MemMap.BYTES_PER_PAGE a page (issue 11's memory target); from the first question on, a frame freed and
// handed out again shows a new number.
import { describe, it, expect } from 'vitest';
import { Machine } from '../src/mm/machine.js';
import { MemMap, PAGE_SIZE } from '../src/mm/memmap.js';
import { do_mmap, do_munmap } from '../src/mm/mmap.js';
import { userAccess } from '../src/mm/user_access.js';
import { pte_index, pte_pfn } from '../src/mm/pgtable.js';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';

describe('folio serial numbers', () => {
  it('a machine that faults pages and is never asked keeps no per-page extra array', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('p');
    const addr = do_mmap(m, p, { size: 4 << 20, type: 'anon' });
    expect(userAccess(m, p, addr, 4 << 20, true)).toBe(0);
    expect(m.foliosAllocated).toBeGreaterThan(0);
    expect(m.mem.extras.size).toBe(0);
    expect(m.mem.pool.byteLength / m.mem.nr).toBe(MemMap.BYTES_PER_PAGE);
  });

  it('numbers folios from the first question on: a freed frame handed out again gets a new number', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('p');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    expect(userAccess(m, p, a, PAGE_SIZE, true)).toBe(0);
    const pfnOf = (addr: number) => m.mem.page_folio(pte_pfn(p.mm.pt.pteTable(addr)![pte_index(addr)]!));
    const first = pfnOf(a);
    expect(m.folioSerial(first)).toBe(0); // allocated before anyone asked
    expect(do_munmap(m, p, a, PAGE_SIZE)).toBe(0);
    const b = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    expect(userAccess(m, p, b, PAGE_SIZE, true)).toBe(0);
    const again = pfnOf(b);
    expect(again).toBe(first); // the allocator hands the frame out again
    expect(m.folioSerial(again)).toBe(m.foliosAllocated);
    expect(m.folioSerial(again)).not.toBe(0);
  });

  it('inspect shows the numbers: the same frame at two steps with two numbers is two folios', () => {
    const sc = loadScenario(
      `
machine: { memory: 64MiB }
steps:
  - { op: mmap, proc: p, as: a, size: 4KiB, type: anon }
  - { op: write, proc: p, region: a }
  - { op: inspect, proc: p, region: a, label: before }
  - { op: munmap, proc: p, region: a }
  - { op: mmap, proc: p, as: b, size: 4KiB, type: anon }
  - { op: write, proc: p, region: b }
  - { op: inspect, proc: p, region: b, label: after }
`,
      'serial.yaml',
    );
    const res = runScenario(sc);
    const page = (label: string) =>
      (res.steps.find((s) => s.label === label) as unknown as { pages: { pfn: number; serial: number }[] }).pages[0]!;
    expect(page('after').pfn).toBe(page('before').pfn);
    expect(page('after').serial).not.toBe(page('before').serial);
  });
});
