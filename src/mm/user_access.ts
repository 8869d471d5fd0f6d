// Models a user-space thread touching its memory (arch/x86/mm/fault.c do_user_addr_fault ->
// handle_mm_fault): a load or store to each page, faulting when the entry is missing or, for a
// store, not writable. An access outside any VMA or against its protection is SIGSEGV (-EFAULT);
// a fault the VMA cannot satisfy (beyond EOF, an empty hugetlb pool) is SIGBUS (-EFAULT); an
// allocation failure is the OOM path (-ENOMEM). Each is recorded in m.why with the signal.

import type { Machine } from './machine.js';
import type { Process } from './task.js';
import { EFAULT, ENOMEM } from '../uapi/errno.js';
import { PAGE_SIZE, PMD_SIZE, PUD_SIZE } from './memmap.js';
import { VM_READ, VM_WRITE, FAULT_FLAG_WRITE, VM_FAULT_ERROR, VM_FAULT_OOM, VM_FAULT_SIGBUS } from './mm_types.js';
import { pte_present, pte_pfn, pte_write, pte_mkdirty, pte_mkyoung, pte_index } from './pgtable.js';
import { handle_mm_fault } from './memory.js';

/** The signal (or OOM) a failed fault of a user access ends in, as a refusal (mm_fault_error()). */
function faultError(m: Machine, r: number, a: number): number {
  const at = `at 0x${a.toString(16)}`;
  if (r & VM_FAULT_OOM) {
    const f = m.alloc.lastFailure;
    const what = f ? `an order-${f.order} page allocation failed${f.injected ? ' (fail_alloc)' : ''}` : 'no memory';
    return m.refuse(-ENOMEM, 'pagefault_out_of_memory', `${what} in the fault ${at} (the OOM killer runs)`);
  }
  if (r & VM_FAULT_SIGBUS)
    return m.refuse(-EFAULT, 'do_sigbus', `SIGBUS: the fault ${at} cannot be satisfied (beyond EOF, or no huge page)`);
  return m.refuse(-EFAULT, 'do_user_addr_fault', `SIGSEGV: the fault ${at} failed`);
}

/**
 * The frame each page of an access reached, in order: `i` counts pages from the first one (so a
 * caller can store or load that page's contents). Called only for pages the access completed.
 */
export type AccessedPage = (pfn: number, i: number) => void;

/**
 * Touch [addr, addr+len): returns 0, -EFAULT (SIGSEGV/SIGBUS) or -ENOMEM (OOM kill in real life).
 * `each` is told the frame of every page the access reached (after any fault or COW it needed).
 */
export function userAccess(
  m: Machine,
  p: Process,
  addr: number,
  len: number,
  write: boolean,
  each?: AccessedPage,
): number {
  const mm = p.mm;
  const end = addr + len;
  let a = addr - (addr % PAGE_SIZE);
  const first = a;
  while (a < end) {
    const vma = mm.vma_lookup(a);
    if (!vma)
      return m.refuse(
        -EFAULT,
        'bad_area_nosemaphore',
        `SIGSEGV (SEGV_MAPERR): nothing is mapped at 0x${a.toString(16)}`,
      );
    if (!(vma.flags & (write ? VM_WRITE : VM_READ)))
      return m.refuse(
        -EFAULT,
        'access_error',
        `SIGSEGV (SEGV_ACCERR): a ${write ? 'write' : 'read'} of a mapping without ` +
          (write ? 'PROT_WRITE' : 'PROT_READ'),
      );
    const pt = mm.pt;
    const pud = pt.pudLeaf(a);
    const slot = pud || pt.pmdSlot(a);
    if (typeof slot === 'number') {
      const leaf = pud ? PUD_SIZE : PMD_SIZE;
      const e = slot;
      if (!pte_present(e) || (write && !pte_write(e))) {
        const r = handle_mm_fault(m, vma, a, write ? FAULT_FLAG_WRITE : 0);
        if (r & VM_FAULT_ERROR) return faultError(m, r, a);
        continue; // re-walk: the fault may have split the leaf
      }
      // The CPU sets accessed/dirty itself.
      const ne = pte_mkyoung(write ? pte_mkdirty(e) : e);
      if (ne !== e) leaf === PUD_SIZE ? pt.setPudLeaf(a, ne) : pt.setPmdLeaf(a, ne);
      const next = a - (a % leaf) + leaf;
      if (each) {
        const stop = Math.min(end, next);
        for (let b = a; b < stop; b += PAGE_SIZE) each(pte_pfn(e) + (b % leaf) / PAGE_SIZE, (b - first) / PAGE_SIZE);
      }
      a = next;
      continue;
    }
    if (slot) {
      // Touch the pages of this PTE table (and VMA) up to the first that needs a fault: the walk
      // above is the same for all of them, so it is done once, not once per page.
      const stop = Math.min(end, vma.end, a - (a % PMD_SIZE) + PMD_SIZE);
      for (let i = pte_index(a); a < stop; a += PAGE_SIZE, i++) {
        const e = slot[i]!;
        if (!pte_present(e) || (write && !pte_write(e))) break;
        const ne = pte_mkyoung(write ? pte_mkdirty(e) : e);
        if (ne !== e) slot[i] = ne;
        if (each) each(pte_pfn(e), (a - first) / PAGE_SIZE);
      }
      if (a >= stop) continue;
    }
    const r = handle_mm_fault(m, vma, a, write ? FAULT_FLAG_WRITE : 0);
    if (r & VM_FAULT_ERROR) return faultError(m, r, a);
    // Re-walk: the fault may have installed a PMD leaf.
  }
  return 0;
}
