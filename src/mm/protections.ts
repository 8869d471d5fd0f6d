// The kernel's protections against concurrent page-table changes (mm/gup.c GUP-fast, mm/memory.c
// fork's copy, mm/migrate.c, mm/rmap.c), each as a switch the model consults at the protection's own
// point. All are on by default: that is Linux 6.18. `gupsim explore --without NAME` turns one off, to
// show the interleaving it exists to forbid. Each names the commit that added it (checked against the
// commits themselves and the kernel mails citing them).

/** The switches, read at the protection's point (e.g. `m.protections.writeProtectSeq` in gup_fast()). */
export interface Protections {
  /** gup_fast(): a FOLL_PIN walk reads mm->write_protect_seq first and unpins everything if it changed. */
  writeProtectSeq: boolean;
  /** gup_fast_pte_range() / gup_fast_pmd_leaf(): re-read the entry after grabbing the folio; undo on change. */
  fastRecheck: boolean;
  /** __folio_migrate_mapping(): folio_ref_freeze() against the expected count (a page-cache folio). */
  refcountFreeze: boolean;
  /** try_to_migrate_one(): folio_try_share_anon_rmap_pte() refuses a maybe-pinned exclusive page. */
  tryShareAnon: boolean;
  /** copy_present_ptes() et al.: folio_try_dup_anon_rmap_*() refuses a maybe-pinned page; fork copies it. */
  forkEarlyCow: boolean;
}

export type ProtectionName = keyof Protections;

/** What each switch protects, its command-line name and the commit that introduced it. */
export interface ProtectionDoc {
  key: ProtectionName;
  /** The --without spelling. */
  flag: string;
  commit: string;
  what: string;
}

export const PROTECTION_DOCS: readonly ProtectionDoc[] = [
  {
    key: 'writeProtectSeq',
    flag: 'write-protect-seq',
    commit: '57efa1fe5957 "mm/gup: prevent gup_fast from racing with COW during fork"',
    what:
      'GUP-fast (FOLL_PIN) reads mm->write_protect_seq before its walk and re-checks it after: a fork that ' +
      'ran meanwhile (copy_page_range() and copy_hugetlb_page_range() hold it odd for a COW mapping) makes ' +
      'it unpin everything and fall back to the slow path (mmap_lock, held by fork)',
  },
  {
    key: 'fastRecheck',
    flag: 'fast-recheck',
    commit: '2667f50e8b81 "mm: introduce a general RCU get_user_pages_fast()"',
    what:
      'GUP-fast re-reads the PTE (PMD) after grabbing the folio and drops it if the entry changed: a page ' +
      'unmapped, migrated or freed and reused between the read and the grab is not handed out',
  },
  {
    key: 'refcountFreeze',
    flag: 'refcount-freeze',
    commit:
      'e286781d5f2e "mm: speculative page references" (page_freeze_refs() in migrate_page_move_mapping(), ' +
      'now folio_ref_freeze())',
    what:
      'migration freezes the refcount of a page-cache folio at the expected count (to 0), so a speculative ' +
      'reference cannot be taken while it moves; an extra reference makes the freeze fail and the folio stays',
  },
  {
    key: 'tryShareAnon',
    flag: 'try-share-anon',
    commit:
      '6c287605fd56 "mm: remember exclusively mapped anonymous pages with PG_anon_exclusive" ' +
      '(page_try_share_anon_rmap(), now folio_try_share_anon_rmap_pte())',
    what:
      'unmapping an exclusive anon page for migration first tries to share it (clear PageAnonExclusive); a ' +
      'maybe-pinned page refuses, the entry is put back and the migration of that folio fails',
  },
  {
    key: 'forkEarlyCow',
    flag: 'fork-early-cow',
    commit:
      '70e806e4e645 "mm: Do early cow for pinned pages during fork() for ptes"; THP: d042035eaf5f ' +
      '"mm/thp: Split huge pmds/puds if they\'re pinned when fork()"; hugetlb: 4eae4efa2c29 ' +
      '"hugetlb: do early cow when page pinned on src mm"',
    what:
      'fork does not share an exclusive anon page that may be pinned (MMF_HAS_PINNED and ' +
      "folio_maybe_dma_pinned): the child gets a copy (a THP's PMD is split and its subpages copied; a " +
      'hugetlb page is copied whole), so the parent keeps the page the device uses',
  },
];

/** Linux 6.18: every protection on. */
export function defaultProtections(): Protections {
  return { writeProtectSeq: true, fastRecheck: true, refcountFreeze: true, tryShareAnon: true, forkEarlyCow: true };
}

/** The switch named by a --without spelling (or its key), if any. */
export function protectionByFlag(name: string): ProtectionDoc | undefined {
  return PROTECTION_DOCS.find((d) => d.flag === name || d.key === name);
}
