// Models mm/mprotect.c: mprotect(2) over a range of VMAs (splitting where the range ends inside
// one), and the page-table change that follows: write-protect, or make exclusive anon entries
// writable at once (MM_CP_TRY_CHANGE_WRITABLE), or PROT_NONE (no access, the pages stay mapped).

import { PMD_SIZE, PUD_ORDER, PAGE_SIZE, pageAlignUp } from './memmap.js';
import { type Vma, type Prot, VM_SHARED, VM_READ, VM_WRITE, protFlags } from './mm_types.js';
import { ENOMEM, EINVAL } from '../uapi/errno.js';
import {
  pte_special,
  pte_mkwrite,
  pte_dirty,
  pte_present,
  pte_pfn,
  pte_wrprotect,
  pte_write,
  pte_index,
  pte_mkprotnone,
  pte_clear_protnone,
} from './pgtable.js';
import { type SysResult, split_vma, vmaMergeNeighbours } from './mmap.js';
import type { Machine } from './machine.js';
import type { Process } from './task.js';

/**
 * mprotect(): change VM_READ and VM_WRITE (PROT_NONE clears both). -EINVAL for an unaligned start
 * (or a cut inside a hugetlb page);
 * a zero length is a no-op (0). Like do_mprotect_pkey(), the VMAs are changed one by one: -ENOMEM
 * when the first one does not start at or below `start` (nothing changed), or when a hole follows
 * (the VMAs before the hole keep their new protection). A VMA whose flags do not change is not split
 * (mprotect_fixup()).
 */
export function do_mprotect_pkey(m: Machine, p: Process, start: number, len: number, prot: Prot): SysResult {
  const mm = p.mm;
  const fn = 'do_mprotect_pkey';
  if (start % PAGE_SIZE !== 0) return m.refuse(-EINVAL, fn, 'the start is not page aligned');
  if (!len) return 0;
  if (!(len > 0)) return m.refuse(-ENOMEM, fn, 'the range wraps');
  const end = start + pageAlignUp(len);
  const first = mm.vmas.find((v) => v.end > start && v.start < end);
  if (!first || first.start > start) return m.refuse(-ENOMEM, fn, 'nothing is mapped at the start');
  let tmp = first.start;
  let nstart = start;
  for (
    let vma = first as Vma | undefined;
    vma && vma.start < end;
    vma = mm.vmas.find((v) => v.end > nstart && v.start < end)
  ) {
    // A gap is a hole (-ENOMEM); a VMA starting below tmp was just merged with the previous piece.
    if (vma.start > tmp) return m.refuse(-ENOMEM, fn, 'a hole in the range (the VMAs before it were changed)');
    tmp = Math.min(vma.end, end);
    const newflags = (vma.flags & ~(VM_READ | VM_WRITE)) | protFlags(prot);
    if (newflags !== vma.flags) {
      // vma_modify_flags() -> __split_vma(): hugetlb_vm_op_split() refuses a cut inside a huge page.
      if (vma.kind === 'hugetlb') {
        const unit = PAGE_SIZE << vma.hugeOrder;
        if ((nstart > vma.start && nstart % unit) || (tmp < vma.end && tmp % unit))
          return m.refuse(-EINVAL, 'hugetlb_vm_op_split', 'the range cuts a hugetlb page (not huge-page aligned)');
      }
      if (vma.start < nstart) vma = split_vma(m, vma, nstart);
      if (vma.end > tmp) split_vma(m, vma, tmp);
      const wasWritable = (vma.flags & VM_WRITE) !== 0;
      const wasNone = !(vma.flags & VM_READ);
      vma.flags = newflags;
      // change_protection() with the new vm_page_prot: PAGE_NONE entries keep their page but no
      // access (pte_modify()); leaving PROT_NONE makes them accessible again.
      if (!(newflags & VM_READ)) {
        m.mmuNotify(mm, vma.start, vma.end, 'protection');
        change_protection(vma, (e) => pte_mkprotnone(pte_wrprotect(e)));
      } else {
        if (wasNone) change_protection(vma, pte_clear_protnone);
        if (!(newflags & VM_WRITE)) {
          m.mmuNotify(mm, vma.start, vma.end, 'protection');
          change_protection(vma, pte_wrprotect);
        } else if (!wasWritable) {
          changeProtectionTryWritable(m, vma);
        }
      }
      vmaMergeNeighbours(m, vma);
    }
    nstart = tmp;
    if (nstart >= end) break;
  }
  return tmp < end ? -ENOMEM : 0;
}

/**
 * change_protection() with MM_CP_TRY_CHANGE_WRITABLE when mprotect() adds PROT_WRITE: present entries
 * are made writable right away where the write fault would do nothing else. Private mappings: only
 * exclusive anon pages (can_change_private_pte_writable(), can_change_pmd_writable(); private hugetlb
 * keeps its read-only COW protection). Shared mappings: vm_page_prot is writable without writenotify
 * (every entry), with writenotify only dirty entries (can_change_shared_pte_writable()).
 * @see mm/mprotect.c change_pte_range(), set_write_prot_commit_flush_ptes(), change_huge_pmd()
 */
function changeProtectionTryWritable(m: Machine, vma: Vma): void {
  const pt = vma.mm.pt;
  const shared = (vma.flags & VM_SHARED) !== 0;
  if (!shared && vma.kind === 'hugetlb') return;
  const writenotify = shared && !!vma.file?.needsDirtyTracking;
  const upgrade = (e: number): number => {
    if (!pte_present(e) || pte_write(e)) return e;
    if (shared) return !writenotify || pte_dirty(e) ? pte_mkwrite(e) : e;
    // vm_normal_page(): none for the zero page or a PFN map; a PMD leaf is checked on its head page.
    if (pte_special(e)) return e;
    const page = pte_pfn(e);
    if (!m.mem.folio_test_anon(m.mem.page_folio(page)) || !m.mem.PageAnonExclusive(page)) return e;
    return pte_mkwrite(e);
  };
  for (let a = vma.start; a < vma.end;) {
    const pud = pt.pudLeaf(a);
    if (pud) {
      pt.setPudLeaf(a, upgrade(pud));
      a = a - (a % (PAGE_SIZE << PUD_ORDER)) + (PAGE_SIZE << PUD_ORDER);
      continue;
    }
    const slot = pt.pmdSlot(a);
    const next = a - (a % PMD_SIZE) + PMD_SIZE;
    if (typeof slot === 'number') pt.setPmdLeaf(a, upgrade(slot));
    else if (slot) {
      for (let x = a; x < Math.min(next, vma.end); x += PAGE_SIZE) {
        const i = pte_index(x);
        slot[i] = upgrade(slot[i]!);
      }
    }
    a = next;
  }
}

/** change_protection(): apply the new protection to every present entry in the VMA. */
function change_protection(vma: Vma, change: (e: number) => number): void {
  const pt = vma.mm.pt;
  for (let a = vma.start; a < vma.end;) {
    const pud = pt.pudLeaf(a);
    if (pud) {
      pt.setPudLeaf(a, change(pud));
      a += PAGE_SIZE << PUD_ORDER;
      continue;
    }
    const slot = pt.pmdSlot(a);
    const next = a - (a % PMD_SIZE) + PMD_SIZE;
    if (typeof slot === 'number') {
      if (pte_present(slot)) pt.setPmdLeaf(a, change(slot));
    } else if (slot) {
      for (let x = a; x < Math.min(next, vma.end); x += PAGE_SIZE) {
        const i = pte_index(x);
        if (pte_present(slot[i]!)) slot[i] = change(slot[i]!);
      }
    }
    a = next;
  }
}
