// Unit tests for src/consumers/process_vm.ts: process_vm_readv / process_vm_writev as
// mm/process_vm_access.c does them (6.18): pin_user_pages_remote() on the target's mm in chunks of
// PVM_MAX_USER_PAGES, FOLL_WRITE only for writev, any pin failure with nothing pinned -> -EFAULT,
// unpin_user_pages_dirty_lock(pages, n, vm_write), short counts for partial transfers.

import { describe, it, expect } from 'vitest';
import { Machine, type MachineConfig } from '../mm/machine.js';
import { ZERO_PFN, PAGE_SIZE, GUP_PIN_COUNTING_BIAS } from '../mm/memmap.js';
import type { Process } from '../mm/task.js';
import { EFAULT, EPERM, ESRCH } from '../uapi/errno.js';
import { do_mmap, do_munmap, type MmapArgs } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { pte_pfn } from '../mm/pgtable.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { process_vm_rw } from './process_vm.js';
import { pins } from '../../test/support.js';

function world(cfg: Partial<MachineConfig> = {}): { m: Machine; app: Process; target: Process } {
  const m = new Machine({ memory: 1 << 30, ...cfg });
  return { m, app: m.spawn('app'), target: m.spawn('target') };
}

/** npages of small-page private anon memory, written (or only mapped). */
function anon(
  m: Machine,
  p: Process,
  npages: number,
  touch: 'write' | 'read' | 'none' = 'write',
  extra: Partial<MmapArgs> = {},
): number {
  const len = npages * PAGE_SIZE;
  const addr = do_mmap(m, p, { size: len, type: 'anon', ...extra });
  expect(addr).toBeGreaterThan(0);
  if (extra.type === undefined || extra.type === 'anon') expect(do_madvise(m, p, addr, len, 'nohugepage')).toBe(0);
  if (touch !== 'none') expect(userAccess(m, p, addr, len, touch === 'write')).toBe(0);
  return addr;
}

const pfnAt = (p: Process, addr: number) => pte_pfn(p.mm.pt.pte(addr));
const refcount = (m: Machine, p: Process, addr: number) => m.mem.refcount[m.mem.page_folio(pfnAt(p, addr))]!;

describe('process_vm_readv / process_vm_writev (mm/process_vm_access.c)', () => {
  it(
    'readv: pin_user_pages_remote on the target, one pin per page, unpinned before return (balanced vmstat); the ' +
      'target gets MMF_HAS_PINNED, the caller not',
    () => {
      const { m, app, target } = world();
      const remote = anon(m, target, 256);
      const local = anon(m, app, 256, 'none');
      const rc = refcount(m, target, remote);
      expect(
        process_vm_rw(
          m,
          app,
          target,
          { addr: local, len: 256 * PAGE_SIZE },
          { addr: remote, len: 256 * PAGE_SIZE },
          false,
        ),
      ).toBe(256 * PAGE_SIZE);
      expect(pins(m)).toEqual({ acquired: 256, released: 256 });
      expect(target.mm.has_pinned).toBe(true);
      expect(app.mm.has_pinned).toBe(false);
      expect(refcount(m, target, remote)).toBe(rc);
      // The copy wrote the caller's buffer: its pages were faulted in by the store.
      expect(pfnAt(app, local)).toBeGreaterThan(0);
    },
  );

  it(
    'readv takes no FOLL_WRITE: a read-only target mapping can be read; writev (FOLL_WRITE) of it fails ' +
      'with -EFAULT',
    () => {
      const { m, app, target } = world();
      const ro = anon(m, target, 4, 'read', { prot: 'r' });
      const local = anon(m, app, 4);
      const len = 4 * PAGE_SIZE;
      expect(process_vm_rw(m, app, target, { addr: local, len }, { addr: ro, len }, false)).toBe(len);
      expect(process_vm_rw(m, app, target, { addr: local, len }, { addr: ro, len }, true)).toBe(-EFAULT);
      expect(m.why?.fn).toBe('process_vm_rw_single_vec');
      expect(m.why?.rule).toContain('VM_WRITE');
      // Read faults of a read-only private mapping map the shared zero page, and pins of the zero page
      // are not counted (try_grab_folio: is_zero_folio) — so this readv moved no counter at all.
      expect(pfnAt(target, ro)).toBe(ZERO_PFN);
      expect(pins(m)).toEqual({ acquired: 0, released: 0 });
    },
  );

  it(
    'writev: FOLL_WRITE pins, and unpin_user_pages_dirty_lock(.., true) dirties the target pages (shmem: ' +
      'page-cache folios)',
    () => {
      const { m, app, target } = world();
      const addr = do_mmap(m, target, { size: 4 * PAGE_SIZE, type: 'shmem' });
      expect(userAccess(m, target, addr, 4 * PAGE_SIZE, false)).toBe(0);
      const folio = m.mem.page_folio(pfnAt(target, addr));
      expect(m.mem.folio_test_dirty(folio)).toBe(false);
      const local = anon(m, app, 4);
      // readv leaves the page clean...
      expect(process_vm_rw(m, app, target, { addr: local, len: PAGE_SIZE }, { addr, len: PAGE_SIZE }, false)).toBe(
        PAGE_SIZE,
      );
      expect(m.mem.folio_test_dirty(folio)).toBe(false);
      // ...writev dirties it.
      expect(process_vm_rw(m, app, target, { addr: local, len: PAGE_SIZE }, { addr, len: PAGE_SIZE }, true)).toBe(
        PAGE_SIZE,
      );
      expect(m.mem.folio_test_dirty(m.mem.page_folio(pfnAt(target, addr)))).toBe(true);
      expect(pins(m)).toEqual({ acquired: 2, released: 2 });
    },
  );

  it(
    'chunks of PVM_MAX_USER_PAGES (1024): a hole at page 1500 of 2048 -> partial transfer of 1500 pages, every ' +
      'pin released',
    () => {
      const { m, app, target } = world();
      expect(m.profile.pvmMaxUserPages).toBe(1024);
      const remote = anon(m, target, 2048);
      expect(do_munmap(m, target, remote + 1500 * PAGE_SIZE, PAGE_SIZE)).toBe(0);
      const local = anon(m, app, 2048, 'none');
      const len = 2048 * PAGE_SIZE;
      expect(process_vm_rw(m, app, target, { addr: local, len }, { addr: remote, len }, false)).toBe(1500 * PAGE_SIZE);
      // Chunk 1: 1024 pinned; chunk 2: 476 pinned (GUP stops at the hole); chunk 3 pins nothing.
      expect(pins(m)).toEqual({ acquired: 1500, released: 1500 });
    },
  );

  it('nothing pinned in the first chunk -> -EFAULT whatever GUP said (a fatal signal gives GUP -EINTR)', () => {
    const { m, app, target } = world();
    const remote = anon(m, target, 4, 'none');
    const local = anon(m, app, 4);
    app.fatalSignalPending = true;
    expect(
      process_vm_rw(m, app, target, { addr: local, len: PAGE_SIZE }, { addr: remote, len: PAGE_SIZE }, false),
    ).toBe(-EFAULT);
    expect(m.why?.rule).toContain('fatal signal pending');
    expect(m.why?.rule).toContain('replaced by EFAULT');
    app.fatalSignalPending = false;
    // An unmapped target address is -EFAULT too.
    expect(
      process_vm_rw(m, app, target, { addr: local, len: PAGE_SIZE }, { addr: 0x10000, len: PAGE_SIZE }, false),
    ).toBe(-EFAULT);
    expect(pins(m)).toEqual({ acquired: 0, released: 0 });
  });

  it("a fault in the caller's own buffer ends the copy: the bytes done are returned", () => {
    const { m, app, target } = world();
    const remote = anon(m, target, 32);
    // The caller's buffer is 16 pages long; it asks for 32.
    const local = anon(m, app, 16, 'none');
    expect(
      process_vm_rw(m, app, target, { addr: local, len: 32 * PAGE_SIZE }, { addr: remote, len: 32 * PAGE_SIZE }, false),
    ).toBe(16 * PAGE_SIZE);
    expect(pins(m)).toEqual({ acquired: 32, released: 32 });
    // A caller buffer that faults at once: nothing copied -> -EFAULT.
    expect(
      process_vm_rw(m, app, target, { addr: 0x10000, len: PAGE_SIZE }, { addr: remote, len: PAGE_SIZE }, false),
    ).toBe(-EFAULT);
    expect(m.why?.fn).toBe('process_vm_rw_pages');
  });

  it('a short unaligned range pins the pages it spans: 2 bytes across a page boundary -> 2 pins', () => {
    const { m, app, target } = world();
    const remote = anon(m, target, 2);
    const local = anon(m, app, 1);
    expect(
      process_vm_rw(m, app, target, { addr: local, len: 2 }, { addr: remote + PAGE_SIZE - 1, len: 2 }, false),
    ).toBe(2);
    expect(pins(m)).toEqual({ acquired: 2, released: 2 });
  });

  it('zero length -> 0, nothing pinned, MMF_HAS_PINNED not set', () => {
    const { m, app, target } = world();
    const remote = anon(m, target, 1);
    const local = anon(m, app, 1);
    expect(process_vm_rw(m, app, target, { addr: local, len: 0 }, { addr: remote, len: PAGE_SIZE }, false)).toBe(0);
    expect(process_vm_rw(m, app, target, { addr: local, len: PAGE_SIZE }, { addr: remote, len: 0 }, false)).toBe(0);
    expect(target.mm.has_pinned).toBe(false);
    expect(pins(m)).toEqual({ acquired: 0, released: 0 });
  });

  it('exited target -> -ESRCH; another user without CAP_SYS_PTRACE -> -EPERM; the same user may', () => {
    const { m, app, target } = world();
    const remote = anon(m, target, 1);
    const local = anon(m, app, 1);
    const buf = { addr: local, len: PAGE_SIZE };
    app.capIpcLock = false;
    app.user = 'alice';
    target.user = 'bob';
    expect(process_vm_rw(m, app, target, buf, { addr: remote, len: PAGE_SIZE }, false)).toBe(-EPERM);
    target.user = 'alice';
    expect(process_vm_rw(m, app, target, buf, { addr: remote, len: PAGE_SIZE }, false)).toBe(PAGE_SIZE);
    do_exit(m, target);
    expect(process_vm_rw(m, app, target, buf, { addr: remote, len: PAGE_SIZE }, false)).toBe(-ESRCH);
  });

  it(
    'readv is a R/O pin: a page the target shares with its fork child is unshared in the target (new ' +
      'exclusive page)',
    () => {
      const { m, app, target } = world();
      const remote = anon(m, target, 1);
      const child = kernel_clone(m, target, 'child') as Process;
      const shared = pfnAt(target, remote);
      expect(pfnAt(child, remote)).toBe(shared);
      expect(m.mem.PageAnonExclusive(shared)).toBe(false);
      const local = anon(m, app, 1);
      expect(
        process_vm_rw(m, app, target, { addr: local, len: PAGE_SIZE }, { addr: remote, len: PAGE_SIZE }, false),
      ).toBe(PAGE_SIZE);
      const now = pfnAt(target, remote);
      expect(now).not.toBe(shared);
      expect(m.mem.PageAnonExclusive(now)).toBe(true);
      expect(pfnAt(child, remote)).toBe(shared);
      // The pin was short-term: nothing is left on either page.
      expect(m.mem.refcount[now]).toBeLessThan(GUP_PIN_COUNTING_BIAS);
      expect(pins(m)).toEqual({ acquired: 1, released: 1 });
    },
  );
});
