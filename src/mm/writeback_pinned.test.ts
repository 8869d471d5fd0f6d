// The writeback policies for maybe-pinned folios (writeback_pinned.ts, page-writeback.ts
// writebackRange()): one test per policy's rule, on a dirty-tracked shared file mapping pinned with
// FOLL_PIN, and the false positive of 1024 plain references on a small folio. 'linux' is 6.18's
// writeback and the default; the others are gupsim's what-ifs.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import type { Process } from './task.js';
import type { AddressSpace } from './fs.js';
import { do_mmap } from './mmap.js';
import { userAccess } from './user_access.js';
import { folio_maybe_dma_pinned, get_user_pages_fast, pin_user_pages, put_page, unpin_user_pages } from './gup.js';
import { unpin_user_pages_dirty_lock } from './gup.js';
import { FOLL_WRITE } from './foll_flags.js';
import { GUP_PIN_COUNTING_BIAS, PAGE_SIZE } from './memmap.js';
import { memcpy_to_page } from './highmem.js';
import { diskBlock } from './bdev.js';
import { writebackFile, writebackRange } from './page-writeback.js';
import { WB_SYNC_ALL, WB_SYNC_NONE, type WritebackPolicy } from './writeback_pinned.js';
import { lookupPage } from '../scenario/inspect.js';

interface World {
  m: Machine;
  p: Process;
  f: AddressSpace;
  addr: number;
  /** The page-cache frame of the file's page 0, pinned FOLL_WRITE (the driver's pages[] entry). */
  page: number;
  pages: Int32Array;
}

/**
 * A one-page disk file holding 100, mapped shared; the process stores 1 (dirty), then a driver pins
 * the page with pin_user_pages(FOLL_WRITE), as Case 5 of pin_user_pages.rst does.
 */
function world(policy?: WritebackPolicy): World {
  const m = new Machine({ memory: 64 << 20, ...(policy && { writebackPolicy: policy }) });
  const f = m.newFile('disk', 'f', 1);
  f.users++;
  f.disk = Uint32Array.of(100);
  const p = m.spawn('app');
  const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'file', file: f, shared: true });
  expect(userAccess(m, p, addr, PAGE_SIZE, true, (pfn) => memcpy_to_page(m, pfn, 1))).toBe(0);
  const pages = new Int32Array(1);
  expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(1);
  return { m, p, f, addr, page: pages[0]!, pages };
}

const dirty = (w: World) => w.m.mem.folio_test_dirty(w.m.mem.page_folio(w.page));
const onDisk = (w: World) => diskBlock(w.m, w.f, 0);
const fsync = (w: World) => writebackRange(w.m, w.f, 0, 0, WB_SYNC_ALL);
const flusher = (w: World) => writebackRange(w.m, w.f, 0, 0, WB_SYNC_NONE);
/** The device writes v into the pinned page (a DMA through the driver's pages[], no fault, no dirtying). */
const device = (w: World, v: number) => memcpy_to_page(w.m, w.page, v);

describe("'linux' (6.18, the default): a pinned folio is written back like any other", () => {
  it('is the default; fsync cleans the pinned folio, and a device write after it is left clean', () => {
    const w = world();
    expect(w.m.cfg.writebackPolicy).toBe('linux');
    expect(fsync(w)).toEqual({ written: 1, bounced: 0, pinned: [] });
    expect(onDisk(w)).toBe(1);
    expect(dirty(w)).toBe(false);
    device(w, 2);
    expect(fsync(w).written).toBe(0);
    // unpin_user_pages() without dirtying (the doc's Case 5 pattern taken literally): lost.
    unpin_user_pages(w.m, w.pages, 1);
    expect(writebackFile(w.m, w.f)).toBe(0);
    expect(onDisk(w)).toBe(1);
  });
});

describe("'skip': a maybe-pinned folio is never written", () => {
  it('a pinned dirty folio stays dirty across fsync and its data is not on disk; written once unpinned', () => {
    const w = world('skip');
    expect(fsync(w)).toEqual({ written: 0, bounced: 0, pinned: [{ folio: w.page, action: 'skip' }] });
    expect(dirty(w)).toBe(true);
    expect(onDisk(w)).toBe(100);
    // folio_mkclean() still ran: the process's next store faults (the mapping is write-protected).
    expect(lookupPage(w.p, w.addr)!.writable).toBe(false);
    device(w, 2);
    unpin_user_pages(w.m, w.pages, 1); // even a release that forgets to dirty: the folio is dirty
    expect(fsync(w)).toEqual({ written: 1, bounced: 0, pinned: [] });
    expect(onDisk(w)).toBe(2);
  });

  it('background writeback skips it as fsync does', () => {
    const w = world('skip');
    expect(flusher(w).pinned).toEqual([{ folio: w.page, action: 'skip' }]);
    expect(onDisk(w)).toBe(100);
  });
});

describe("'bounce': a copy is written, the folio stays dirty", () => {
  it('the disk gets a copy and the folio stays dirty, so a later device write is written too', () => {
    const w = world('bounce');
    expect(fsync(w)).toEqual({ written: 1, bounced: 1, pinned: [{ folio: w.page, action: 'bounce-keep-dirty' }] });
    expect(onDisk(w)).toBe(1);
    expect(dirty(w)).toBe(true);
    expect(lookupPage(w.p, w.addr)!.writable).toBe(true); // not cleaned for I/O: the mapping is untouched
    device(w, 2);
    expect(flusher(w).bounced).toBe(1);
    expect(onDisk(w)).toBe(2);
    device(w, 3);
    unpin_user_pages(w.m, w.pages, 1);
    // Unpinned: written and cleaned the ordinary way, no copy.
    expect(fsync(w)).toEqual({ written: 1, bounced: 0, pinned: [] });
    expect(onDisk(w)).toBe(3);
    expect(dirty(w)).toBe(false);
  });
});

describe("'wait': data-integrity writeback waits for the pin to drop", () => {
  it('fsync leaves the pinned folio for the caller to wait on; the retry after unpin writes it', () => {
    const w = world('wait');
    expect(fsync(w)).toEqual({ written: 0, bounced: 0, pinned: [{ folio: w.page, action: 'wait' }] });
    expect(dirty(w)).toBe(true);
    expect(onDisk(w)).toBe(100);
    device(w, 2);
    unpin_user_pages_dirty_lock(w.m, w.pages, 1, true);
    expect(fsync(w)).toEqual({ written: 1, bounced: 0, pinned: [] });
    expect(onDisk(w)).toBe(2);
  });

  it('background writeback does not wait: it skips the folio', () => {
    const w = world('wait');
    expect(flusher(w).pinned).toEqual([{ folio: w.page, action: 'skip' }]);
    expect(onDisk(w)).toBe(100);
  });
});

describe("'skip-or-bounce' (Kara's 2023 RFC): background skips, fsync bounces and cleans", () => {
  it('the flusher leaves the pinned folio dirty; fsync writes a copy and cleans it', () => {
    const w = world('skip-or-bounce');
    expect(flusher(w).pinned).toEqual([{ folio: w.page, action: 'skip' }]);
    expect([dirty(w), onDisk(w)]).toEqual([true, 100]);
    expect(fsync(w)).toEqual({ written: 1, bounced: 1, pinned: [{ folio: w.page, action: 'bounce' }] });
    expect([dirty(w), onDisk(w)]).toEqual([false, 1]);
    // Cleaned: a device write now needs the release to dirty the folio, as under 6.18.
    device(w, 2);
    unpin_user_pages(w.m, w.pages, 1);
    expect(fsync(w).written).toBe(0);
    expect(onDisk(w)).toBe(1);
  });
});

describe('what the policies see: folio_maybe_dma_pinned(), with its false positives', () => {
  it('FOLL_GET references are invisible to every policy: written like under 6.18', () => {
    for (const policy of ['skip', 'bounce', 'wait', 'skip-or-bounce'] as const) {
      const w = world(policy);
      unpin_user_pages(w.m, w.pages, 1);
      const ref = new Int32Array(1);
      expect(get_user_pages_fast(w.m, w.p, w.addr, 1, FOLL_WRITE, ref)).toBe(1);
      expect(fsync(w), policy).toEqual({ written: 1, bounced: 0, pinned: [] });
      put_page(w.m, ref[0]!);
    }
  });

  it('enough plain references on a small folio make it "maybe pinned" with no pin held: the policy acts', () => {
    const w = world('bounce');
    unpin_user_pages(w.m, w.pages, 1);
    const ref = new Int32Array(1);
    let taken = 0;
    while (!folio_maybe_dma_pinned(w.m, w.page)) {
      expect(get_user_pages_fast(w.m, w.p, w.addr, 1, 0, ref)).toBe(1);
      taken++;
    }
    // The folio's own references (page cache, mapping) plus the plain ones reach the bias.
    expect(taken).toBeLessThan(GUP_PIN_COUNTING_BIAS);
    expect(w.m.mem.refcount[w.page]).toBe(GUP_PIN_COUNTING_BIAS);
    expect(fsync(w)).toEqual({ written: 1, bounced: 1, pinned: [{ folio: w.page, action: 'bounce-keep-dirty' }] });
    put_page(w.m, ref[0]!);
    expect(fsync(w)).toEqual({ written: 1, bounced: 0, pinned: [] });
  });
});
