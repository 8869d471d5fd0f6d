// migrate_pages() of one folio as the race explorer runs it (mm/migrate.c migrate_pages_batch()):
// folio_isolate_lru(), the unmap that replaces every mapping by a migration entry (try_to_migrate(), where
// folio_try_share_anon_rmap_pte() refuses a maybe-pinned page), the refcount check and freeze against the
// expected count (__folio_migrate_mapping()), then the move to a new folio or the restore of the old one
// (remove_migration_ptes()). A fault on a migration entry waits (migration_entry_wait()).

import { NO_FOLIO, PAGE_SIZE } from '../../mm/memmap.js';
import { lru_add_drain } from '../../mm/swap.js';
import {
  folioIsolateLru,
  tryToMigrate,
  migrateFreeze,
  migrateMove,
  migrateRestore,
  type MigrationHit,
} from '../../mm/migrate.js';
import { EAGAIN, EBUSY, EFAULT, ENOMEM, errnoName } from '../../uapi/errno.js';
import { Footprint, MM_PT, NO_SLOT, R_FRAMES, mmRes } from './footprint.js';
import { Op, mappedPfn, type PointRecord, type World } from './op.js';
import type { Hash } from './state_hash.js';
import { NO_PFN } from '../../mm/memmap.js';
import { hex } from '../../mm/hex.js';

const M_ISOLATE = 0;
const M_UNMAP = 1;
const M_FREEZE = 2;
const M_MOVE = 3;
const M_RESTORE = 4;

export class MigrateOp extends Op {
  phase = M_ISOLATE;
  folio = NO_FOLIO;
  hits: MigrationHit[] = [];
  /** The processes whose mms got migration entries. */
  mms: string[] = [];
  frozen = false;

  private get s(): { proc: string; region: string; page?: number } {
    return this.step as { proc: string; region: string; page?: number };
  }
  enabled(w: World): boolean {
    if (this.phase !== M_UNMAP) return true;
    // try_to_migrate_one() takes each mapping's page-table lock.
    return w.locks.ptl.size === 0 && w.locks.writer.size === 0;
  }
  override structural(w: World): boolean {
    // A caller not made yet is made by the first point (ctx.proc(), as the scenario runner makes it).
    return this.phase === M_ISOLATE && !w.ctx.m.process(this.s.proc);
  }
  override footprint(w: World, fp: Footprint): void {
    const s = w.slot(this.s.proc);
    if (s === NO_SLOT || this.structural(w)) return fp.any();
    if (this.phase === M_ISOLATE) return fp.set(mmRes(s, MM_PT) | R_FRAMES, R_FRAMES);
    if (this.phase === M_FREEZE) return fp.set(R_FRAMES, R_FRAMES);
    fp.any(); // every mapping of the folio, and their locks
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    switch (this.phase) {
      case M_ISOLATE: {
        const r = w.ctx.regions.get(this.s.region)!;
        const pfn = mappedPfn(w.ctx.proc(this.s.proc), r.addr + (this.s.page ?? 0) * PAGE_SIZE);
        const folio = pfn === NO_PFN ? NO_FOLIO : m.mem.page_folio(pfn);
        // do_pages_move(): lru_cache_disable() drains the per-CPU LRU batches before isolating.
        lru_add_drain(m);
        if (folio === NO_FOLIO || m.mem.folio_test_hugetlb(folio) || !folioIsolateLru(m, folio)) {
          this.done = true;
          this.ret = pfn === NO_PFN ? -EFAULT : -EBUSY;
          return { fn: 'folio_isolate_lru', what: `nothing to isolate: ${errnoName(this.ret)}` };
        }
        this.folio = folio;
        this.phase = M_UNMAP;
        return { fn: 'folio_isolate_lru', what: `folio ${hex(folio)} isolated (one more reference)` };
      }
      case M_UNMAP: {
        const ok = tryToMigrate(m, this.folio, this.hits);
        this.mms = this.hits.map((h) => procOf(w, h));
        for (const mm of this.mms) w.locks.add(w.locks.migrating, mm, 1);
        this.phase = ok ? M_FREEZE : M_RESTORE;
        return {
          fn: 'try_to_migrate',
          what: ok
            ? `${this.hits.length} entr${this.hits.length === 1 ? 'y' : 'ies'} replaced by migration entries`
            : 'folio_try_share_anon_rmap_pte() refused a maybe-pinned page: the entry is put back',
        };
      }
      case M_FREEZE: {
        const rc = m.mem.refcount[this.folio]!;
        const ok = migrateFreeze(m, this.folio);
        this.frozen = ok;
        this.phase = ok ? M_MOVE : M_RESTORE;
        return {
          fn: 'folio_migrate_mapping',
          what: ok
            ? `refcount ${rc} is the expected count: the folio moves`
            : `refcount ${rc}: an extra reference, -EAGAIN`,
        };
      }
      case M_MOVE: {
        const dst = migrateMove(m, this.folio, this.hits);
        if (dst === NO_FOLIO) {
          this.phase = M_RESTORE;
          return { fn: 'migrate_folio_move', what: 'no memory for the new folio: -ENOMEM' };
        }
        this.release(w);
        return { fn: 'remove_migration_ptes', what: `moved to ${hex(dst)}; the entries map it; the old folio put` };
      }
      default: {
        migrateRestore(m, this.folio, this.hits, this.frozen);
        this.release(w);
        this.ret = this.frozen ? -ENOMEM : -EAGAIN;
        return { fn: 'remove_migration_ptes', what: 'failed: the entries map the old folio again, back on the LRU' };
      }
    }
  }
  private release(w: World): void {
    for (const mm of this.mms) w.locks.add(w.locks.migrating, mm, -1);
    this.done = true;
  }
  override hashLive(h: Hash): void {
    super.hashLive(h);
    if (this.done) return;
    h.word(this.phase);
    h.num(this.folio);
    h.word(this.frozen ? 1 : 0);
    for (const x of this.hits) {
      h.num(x.addr);
      h.num(x.pfn);
    }
  }
}

/** The process whose mm a migration entry is in. */
function procOf(w: World, hit: MigrationHit): string {
  for (const p of w.ctx.m.processes.values()) if (p.mm === hit.vma.mm) return p.name;
  throw new Error('gupsim bug: a migration entry in an mm of no process');
}
