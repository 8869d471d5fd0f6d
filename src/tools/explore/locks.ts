// The locks the race explorer models (no kernel counterpart as a whole: each map stands for one kernel
// lock or section, named below), so that an interleaving the kernel's locks forbid is never run. Keyed by
// the process that owns the mm (one mm per process in a scenario), which stays the same across the
// branches of a search (mm ids do not: a fork made in two branches gets two).

/** Lock state per mm, shared by every thread. */
export class Locks {
  /** mmap_lock held for write (mmap_write_lock()): the thread holding it. */
  readonly writer = new Map<string, string>();
  /** mmap_lock readers (mmap_read_lock()). */
  readonly readers = new Map<string, number>();
  /** Threads in GUP-fast's local_irq_save() section: they hold off the TLB-flush IPI / RCU grace period
   *  that lets free_pgtables() free the tables they walk. */
  readonly irqsOff = new Map<string, number>();
  /** The page-table lock fork holds between an entry's decision and its write-protect (one per mm here:
   *  the kernel's is per table, so this forbids a few more orders than the kernel does). */
  readonly ptl = new Map<string, string>();
  /** Migrations with migration entries in the mm: a fault on one waits (migration_entry_wait()). */
  readonly migrating = new Map<string, number>();
  /**
   * Processes a fork is making, with the forking thread: no step of theirs runs until the fork returns
   * (kernel_clone() wakes the new task, wake_up_new_task(), only after copy_process()), lockless ones included.
   */
  readonly newborn = new Map<string, string>();

  add(map: Map<string, number>, mm: string, d: number): void {
    const v = (map.get(mm) ?? 0) + d;
    if (v) map.set(mm, v);
    else map.delete(mm);
  }
  /** Can a thread take mmap_lock for read (and fault) in mm? */
  canRead(mm: string): boolean {
    return !this.writer.has(mm) && !this.migrating.has(mm);
  }
  /** Can a thread take mmap_lock for write in mm? */
  canWrite(mm: string): boolean {
    return this.canRead(mm) && !this.readers.has(mm) && !this.ptl.has(mm);
  }
  /** Whether a step acts as a process a fork is still making (its proc or target). */
  unborn(step: object): boolean {
    if (this.newborn.size === 0) return false;
    const s = step as { proc?: string; target?: string };
    return (s.proc !== undefined && this.newborn.has(s.proc)) || (s.target !== undefined && this.newborn.has(s.target));
  }
  /** Can a fault run in mm under an mmap_lock the thread already holds (no migration entry to wait on)? */
  canFault(mm: string): boolean {
    return !this.migrating.has(mm);
  }
  /** Every map, in a fixed order (the state hash and the journal walk them). */
  readonly all: readonly Map<string, string | number>[] = [
    this.writer,
    this.readers,
    this.irqsOff,
    this.ptl,
    this.migrating,
    this.newborn,
  ];
}
