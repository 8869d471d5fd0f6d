// Page contents (highmem.ts): where the kernel moves a page's bytes, the model moves its value.
// One test per rule: new pages and the zero page read 0; COW, fork's early copy, migration,
// collapse, THP split and hugetlb COW carry the value; the array exists only once a value is stored.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import type { Process } from './task.js';
import { do_mmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { kernel_clone } from '../kernel/fork.js';
import { pin_user_pages, unpin_user_pages } from './gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from './foll_flags.js';
import { PAGE_SIZE, PMD_SIZE, ZERO_PFN } from './memmap.js';
import { memcpy_to_page, pageValue } from './highmem.js';
import { lookupPage } from '../scenario/inspect.js';

/** Store v over [addr, addr + len) as the process would. */
function write(m: Machine, p: Process, addr: number, len: number, v: number): number {
  return userAccess(m, p, addr, len, true, (pfn) => memcpy_to_page(m, pfn, v));
}
/** What the process reads, page by page. */
function read(m: Machine, p: Process, addr: number, len: number): number[] {
  const out: number[] = [];
  userAccess(m, p, addr, len, false, (pfn, i) => (out[i] = pageValue(m, pfn)));
  return out;
}
const pfnAt = (p: Process, a: number) => lookupPage(p, a)!.pfn;

describe('page contents', () => {
  it('needs no array until a non-zero value is stored; new pages and the zero page read 0', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'anon' });
    expect(read(m, p, a, 4 * PAGE_SIZE)).toEqual([0, 0, 0, 0]);
    expect(pfnAt(p, a)).toBe(ZERO_PFN);
    expect(userAccess(m, p, a, 4 * PAGE_SIZE, true)).toBe(0);
    expect(m.mem.dataIfAny).toBeUndefined();
    write(m, p, a, PAGE_SIZE, 7);
    expect(m.mem.dataIfAny).toBeDefined();
    expect(read(m, p, a, 2 * PAGE_SIZE)).toEqual([7, 0]);
  });

  it('a freed page comes back zeroed (kernel_init_pages)', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    write(m, p, a, PAGE_SIZE, 9);
    const old = pfnAt(p, a);
    expect(do_madvise(m, p, a, PAGE_SIZE, 'dontneed')).toBe(0);
    write(m, p, a, PAGE_SIZE, 0); // a write fault: a new page, the freed one first in line
    expect(pfnAt(p, a)).toBe(old);
    expect(read(m, p, a, PAGE_SIZE)).toEqual([0]);
  });

  it('COW after fork: the writer gets a copy of the value, the other process keeps the page', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 2 * PAGE_SIZE, type: 'anon' });
    write(m, p, a, 2 * PAGE_SIZE, 5);
    const c = kernel_clone(m, p, 'kid') as Process;
    write(m, c, a, PAGE_SIZE, 6);
    expect(read(m, c, a, 2 * PAGE_SIZE)).toEqual([6, 5]);
    expect(read(m, p, a, 2 * PAGE_SIZE)).toEqual([5, 5]);
    expect(pfnAt(p, a + PAGE_SIZE)).toBe(pfnAt(c, a + PAGE_SIZE));
  });

  it("fork's early copy of a pinned page carries its value to the child (copy_present_page)", () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    write(m, p, a, PAGE_SIZE, 0x1234);
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, pages)).toBe(1);
    const c = kernel_clone(m, p, 'kid') as Process;
    expect(pfnAt(c, a)).not.toBe(pfnAt(p, a));
    expect(read(m, c, a, PAGE_SIZE)).toEqual([0x1234]);
    // The device writes the pinned frame: the parent sees it, the child's copy does not.
    memcpy_to_page(m, pages[0]!, 0x9999);
    expect(read(m, p, a, PAGE_SIZE)).toEqual([0x9999]);
    expect(read(m, c, a, PAGE_SIZE)).toEqual([0x1234]);
    unpin_user_pages(m, pages, 1);
  });

  it('a FOLL_LONGTERM pin migrates a ZONE_MOVABLE page and its value with it', () => {
    const m = new Machine({ memory: 64 << 20, movable: 32 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    write(m, p, a, PAGE_SIZE, 77);
    const before = pfnAt(p, a);
    expect(m.alloc.zoneOf(before)).toBe('MOVABLE');
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    expect(pages[0]).not.toBe(before);
    expect(pageValue(m, pages[0]!)).toBe(77);
    expect(read(m, p, a, PAGE_SIZE)).toEqual([77]);
    unpin_user_pages(m, pages, 1);
  });

  it('a THP split keeps every subpage value (same frames); MADV_COLLAPSE copies them into the new THP', () => {
    const m = new Machine({ memory: 64 << 20, thp: 'always' });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
    write(m, p, a, PMD_SIZE, 1);
    write(m, p, a + 3 * PAGE_SIZE, PAGE_SIZE, 3);
    expect(lookupPage(p, a)!.level).toBe('pmd');
    // Splitting the PMD (MADV_DONTNEED of one page) leaves the others where they were.
    expect(do_madvise(m, p, a + 10 * PAGE_SIZE, PAGE_SIZE, 'dontneed')).toBe(0);
    expect(lookupPage(p, a)!.level).toBe('pte');
    const r = read(m, p, a, PMD_SIZE);
    expect(r.slice(0, 11)).toEqual([1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 0]);
    const old = pfnAt(p, a);
    expect(do_madvise(m, p, a, PMD_SIZE, 'collapse')).toBe(0);
    expect(lookupPage(p, a)!.level).toBe('pmd');
    expect(pfnAt(p, a)).not.toBe(old);
    expect(read(m, p, a, PMD_SIZE)).toEqual(r);
  });

  it('hugetlb COW copies the whole folio (copy_user_large_folio); new hugetlb pages read 0', () => {
    const m = new Machine({ memory: 128 << 20, hugetlb: { '2M': 4 } });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', hugeOrder: 9, shared: false });
    expect(read(m, p, a, 2 * PAGE_SIZE)).toEqual([0, 0]);
    write(m, p, a, PMD_SIZE, 4);
    write(m, p, a + PAGE_SIZE, PAGE_SIZE, 8); // the same folio: page granularity within it
    const c = kernel_clone(m, p, 'kid') as Process;
    write(m, c, a, PAGE_SIZE, 6);
    expect(read(m, c, a, 3 * PAGE_SIZE)).toEqual([6, 8, 4]);
    expect(read(m, p, a, 3 * PAGE_SIZE)).toEqual([4, 8, 4]);
  });
});
