// Files and their disk (bdev.ts with filemap.ts, page-writeback.ts, truncate.ts): the page cache is
// filled from the disk, writeback writes it back, drop_caches drops only what invalidate_mapping_pages()
// may, truncation frees what is past the end. One test per rule.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import type { Process } from './task.js';
import type { AddressSpace } from './fs.js';
import { do_mmap, do_munmap } from './mmap.js';
import { userAccess } from './user_access.js';
import { get_user_pages, pin_user_pages, put_page, unpin_user_pages_dirty_lock } from './gup.js';
import { FOLL_WRITE } from './foll_flags.js';
import { NO_PFN, PAGE_SIZE } from './memmap.js';
import { memcpy_to_page, pageValue } from './highmem.js';
import { diskBlock } from './bdev.js';
import { filemap_read, filemapWriteNewFile, generic_perform_write } from './filemap.js';
import { filemap_write_and_wait_range, writebackFile } from './page-writeback.js';
import { dropPagecache, invalidate_mapping_pages, truncate_pagecache } from './truncate.js';
import { lookupPage } from '../scenario/inspect.js';

/** A disk file of `pages` blocks holding 100 + block, cached and clean, as create_file makes it. */
function diskFile(m: Machine, pages: number): AddressSpace {
  const f = m.newFile('disk', 'f', pages);
  f.users++;
  f.disk = Uint32Array.from({ length: pages }, (_, b) => 100 + b);
  filemapWriteNewFile(m, f, pages * PAGE_SIZE, 1 << 20);
  return f;
}
const reader = (m: Machine, f: AddressSpace) => {
  const out: number[] = [];
  filemap_read(m, f, 0, f.sizePages, (v) => out.push(v));
  return out;
};
const disk = (m: Machine, f: AddressSpace) => Array.from({ length: f.sizePages }, (_, i) => diskBlock(m, f, i));
function write(m: Machine, p: Process, a: number, len: number, v: number): number {
  return userAccess(m, p, a, len, true, (pfn) => memcpy_to_page(m, pfn, v));
}

describe('a file and its disk', () => {
  it('a new file is cached with what the disk holds; a page read in after a drop comes from the disk', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = diskFile(m, 4);
    expect(reader(m, f)).toEqual([100, 101, 102, 103]);
    expect(dropPagecache(m)).toBeGreaterThan(0);
    expect(f.lookup(0)).toBe(NO_PFN);
    expect(reader(m, f)).toEqual([100, 101, 102, 103]);
  });

  it('a store to a shared mapping dirties the page; fsync writes it and write-protects the mapping', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = diskFile(m, 2);
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 2 * PAGE_SIZE, type: 'file', file: f, shared: true });
    write(m, p, a, PAGE_SIZE, 7);
    expect(disk(m, f)).toEqual([100, 101]);
    expect(writebackFile(m, f)).toBeGreaterThan(0);
    expect(disk(m, f)).toEqual([7, 101]);
    expect(lookupPage(p, a)!.writable).toBe(false);
    write(m, p, a, PAGE_SIZE, 8); // page_mkwrite: dirty again
    expect(m.mem.folio_test_dirty(m.mem.page_folio(lookupPage(p, a)!.pfn))).toBe(true);
    expect(writebackFile(m, f)).toBeGreaterThan(0);
    expect(disk(m, f)).toEqual([8, 101]);
  });

  it('a device write after writeback changes a clean page that nothing writes back (put_page)', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = diskFile(m, 1);
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'file', file: f, shared: true });
    write(m, p, a, PAGE_SIZE, 1);
    const pages = new Int32Array(1);
    expect(get_user_pages(m, p, a, 1, FOLL_WRITE, pages)).toBe(1);
    writebackFile(m, f);
    memcpy_to_page(m, pages[0]!, 2); // the device
    put_page(m, pages[0]!);
    expect(writebackFile(m, f)).toBe(0);
    expect(disk(m, f)).toEqual([1]);
    expect(do_munmap(m, p, a, PAGE_SIZE)).toBe(0);
    dropPagecache(m);
    expect(reader(m, f)).toEqual([1]);
  });

  it('unpin_user_pages_dirty_lock(make_dirty) after the device write makes the next writeback write it', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = diskFile(m, 1);
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'file', file: f, shared: true });
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, pages)).toBe(1);
    writebackFile(m, f);
    memcpy_to_page(m, pages[0]!, 2);
    unpin_user_pages_dirty_lock(m, pages, 1, true);
    expect(writebackFile(m, f)).toBe(1);
    expect(disk(m, f)).toEqual([2]);
  });

  it('drop_caches keeps dirty, mapped and referenced (pinned) folios and drops clean unused ones', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = m.newFile('disk', 'f', 4);
    f.users++;
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'file', file: f, shared: true });
    expect(userAccess(m, p, a, 4 * PAGE_SIZE, false)).toBe(0); // four order-0 folios, mapped
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, a + PAGE_SIZE, 1, 0, pages)).toBe(1);
    generic_perform_write(m, f, 2, [5]); // dirty
    expect(do_munmap(m, p, a, 4 * PAGE_SIZE)).toBe(0);
    const mapped = do_mmap(m, p, { size: PAGE_SIZE, type: 'file', file: f, shared: true, offset: 3 * PAGE_SIZE });
    expect(userAccess(m, p, mapped, PAGE_SIZE, false)).toBe(0);
    expect(invalidate_mapping_pages(m, f, 0, 3)).toBe(1); // only page 0: clean, unmapped, unreferenced
    expect([0, 1, 2, 3].map((i) => f.lookup(i) !== NO_PFN)).toEqual([false, true, true, true]);
  });

  it('drop_caches drops a clean tmpfs page too (its contents are gone: a new page reads 0)', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = m.newFile('tmpfs', 't', 1);
    f.users++;
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'file', file: f, shared: true });
    const pages = new Int32Array(1);
    expect(get_user_pages(m, p, a, 1, 0, pages)).toBe(1); // a read fault: a clean shmem page
    memcpy_to_page(m, pages[0]!, 9); // a device write through the reference: still clean
    put_page(m, pages[0]!);
    expect(do_munmap(m, p, a, PAGE_SIZE)).toBe(0);
    expect(m.mem.folio_test_dirty(pages[0]!)).toBe(false);
    expect(dropPagecache(m)).toBe(1);
    expect(reader(m, f)).toEqual([0]);
  });

  it('a tmpfs page the process wrote is dirty and stays', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = m.newFile('tmpfs', 't', 1);
    f.users++;
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'file', file: f, shared: true });
    write(m, p, a, PAGE_SIZE, 9);
    expect(do_munmap(m, p, a, PAGE_SIZE)).toBe(0);
    expect(dropPagecache(m)).toBe(0);
    expect(reader(m, f)).toEqual([9]);
  });

  it('truncate zaps the mappings past the new end (COW copies too), drops the cache and frees the blocks', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = diskFile(m, 4);
    const p = m.spawn('app');
    const priv = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'file', file: f, shared: false });
    write(m, p, priv + 3 * PAGE_SIZE, PAGE_SIZE, 42); // a private COW copy of page 3
    truncate_pagecache(m, f, 2);
    expect(lookupPage(p, priv + 3 * PAGE_SIZE)).toBeUndefined();
    expect(userAccess(m, p, priv + 3 * PAGE_SIZE, PAGE_SIZE, false)).toBeLessThan(0); // SIGBUS
    truncate_pagecache(m, f, 4);
    expect(reader(m, f)).toEqual([100, 101, 0, 0]);
  });

  it('filemap_write_and_wait_range writes only the range asked for', () => {
    const m = new Machine({ memory: 64 << 20 });
    const f = m.newFile('disk', 'f', 4);
    f.users++;
    generic_perform_write(m, f, 0, [1, 2, 3, 4]);
    expect(filemap_write_and_wait_range(m, f, 1, 2)).toBe(2);
    expect(disk(m, f)).toEqual([0, 2, 3, 0]);
    expect(pageValue(m, f.lookup(3))).toBe(4);
  });
});
