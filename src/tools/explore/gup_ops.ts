// The GUP steps of a concurrent block as the race explorer runs them (tools/explore): the *_fast entry
// points (pin_user_pages_fast, get_user_pages_fast(_only)) through the fast walk and its fallback, and
// pin_user_pages / get_user_pages through the slow path, one atomic point at a time (gup_points.ts). The
// pages go to the step's handle when the call returns, and GUP's own property is checked there.

import { PinHandle } from '../../scenario/context.js';
import type { Step } from '../../scenario/schema.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { parseFollFlags } from '../../mm/foll_flags.js';
import { gupFastEntryFlags, gupFastEntryRet, gupSlowEntryFlags, type FastApi, type SlowApi } from '../../mm/gup.js';
import type { Process } from '../../mm/task.js';
import { EINVAL, errnoName } from '../../uapi/errno.js';
import { Footprint, R_HANDLES } from './footprint.js';
import { Op, type PointRecord, type World } from './op.js';
import { fastWalk, SlowWalk, unmappedReturn, type FastWalk } from './gup_points.js';
import type { Hash } from './state_hash.js';

interface GupStep {
  op: string;
  proc: string;
  flags?: string[] | number;
  as?: string;
  pages?: number;
}

/** The range, the caller and its flags (the parse may fail: -EINVAL). */
function gupArgs(w: World, step: GupStep): { p: Process; start: number; nr: number; flags: number | undefined } {
  const ctx = w.ctx;
  const { addr, len } = ctx.range(step as Step);
  let flags: number | undefined;
  try {
    flags = parseFollFlags(step.flags ?? [], ctx.m.profile);
  } catch {
    flags = undefined;
  }
  const start = addr - (addr % PAGE_SIZE);
  return { p: ctx.proc(step.proc), start, nr: step.pages ?? Math.ceil(len / PAGE_SIZE), flags };
}

/** The call's return: pages to the handle (`as`, or one named after the step), GUP's property checked. */
function gupReturn(
  w: World,
  thread: string,
  step: GupStep,
  start: number,
  ret: number,
  pages: Int32Array,
  seen: Uint8Array,
): PointRecord {
  const p = w.ctx.proc(step.proc);
  if (ret > 0) {
    const name = step.as ?? `${step.op}@${thread}`;
    let h = w.ctx.objects.get(name);
    if (!(h instanceof PinHandle)) {
      h = new PinHandle(name, p, step.op.startsWith('pin') ? 'pin' : 'get', p);
      w.ctx.register(h);
    }
    for (let i = 0; i < ret; i++) {
      (h as PinHandle).entries.push(pages[i]!);
      (h as PinHandle).addrs.push(start + i * PAGE_SIZE);
    }
  }
  const rec: PointRecord = { fn: step.op, what: `returns ${ret}${ret < 0 ? ` (${errnoName(ret)})` : ''}` };
  const v = unmappedReturn(step.op, p, start, pages, seen, ret);
  if (v) rec.violation = v;
  return rec;
}

/** What a GUP op needs of its walk (gup_points.ts: the fast walk and its fallback, or the slow path). */
interface GupWalk {
  done: boolean;
  structural(w: World): boolean;
  footprint(w: World, fp: Footprint): void;
  hashLive(h: Hash): void;
}

/** A GUP step: its walk, once the first point has checked the arguments, and the range's start. */
abstract class GupOp<W extends GupWalk> extends Op {
  walk: W | undefined = undefined;
  start = 0;
  protected get s(): GupStep {
    return this.step as GupStep;
  }
  override structural(w: World): boolean {
    // The slow path's faults and migrations change anything (the end's handle is in the journal's state).
    return !!this.walk && !this.walk.done && this.walk.structural(w);
  }
  override footprint(w: World, fp: Footprint): void {
    if (!this.walk) return fp.any();
    if (this.walk.done) return fp.set(0, R_HANDLES);
    this.walk.footprint(w, fp);
  }
  override hashLive(h: Hash): void {
    super.hashLive(h);
    if (this.done || !this.walk) return;
    h.num(this.start);
    this.walk.hashLive(h);
  }
}

/** pin_user_pages_fast, get_user_pages_fast, get_user_pages_fast_only. */
export class GupFastOp extends GupOp<FastWalk> {
  override footprint(w: World, fp: Footprint): void {
    super.footprint(w, fp);
    // The first point checks the arguments (a WARN) and is the fast walk's start: no page state, no table.
    if (!this.walk && fp.forJournal && w.ctx.m.process(this.s.proc)) {
      fp.namesFrames();
      fp.namesTables();
    }
  }
  enabled(w: World): boolean {
    return !this.walk || this.walk.done || this.walk.enabled(w);
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const api = this.s.op as FastApi;
    if (!this.walk) {
      m.why = undefined;
      const a = gupArgs(w, this.s);
      this.start = a.start;
      const f = a.flags === undefined ? undefined : gupFastEntryFlags(m, api, a.flags, new Int32Array(0));
      if (f === undefined) {
        this.ret = -EINVAL;
        this.done = true;
        return { fn: api, what: 'bad arguments: -EINVAL' };
      }
      this.walk = fastWalk(m, this.s.proc, a.start, Math.max(a.nr, 0), f);
      return this.walk.point(w);
    }
    if (!this.walk.done) return this.walk.point(w);
    this.ret = gupFastEntryRet(m, api, this.walk.ret);
    this.done = true;
    return gupReturn(w, this.thread, this.s, this.start, this.ret, this.walk.pages, this.walk.seen);
  }
}

/** pin_user_pages and get_user_pages (the caller's mmap_lock taken for the walk). */
export class GupSlowOp extends GupOp<SlowWalk> {
  seen = new Uint8Array(0);
  enabled(w: World): boolean {
    if (!this.walk) return w.locks.canRead(this.s.proc);
    return this.walk.done || this.walk.enabled(w);
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    if (!this.walk) {
      const a = gupArgs(w, this.s);
      this.start = a.start;
      const nr = Math.max(a.nr, 0);
      const pages = new Int32Array(nr);
      const e =
        a.flags === undefined
          ? { ret: -EINVAL, bad: true as const }
          : gupSlowEntryFlags(m, this.s.op as SlowApi, a.flags, pages);
      if (e.bad) {
        this.ret = e.ret;
        this.done = true;
        return { fn: this.s.op, what: `bad arguments: ${this.ret}` };
      }
      this.seen = new Uint8Array(nr);
      this.walk = new SlowWalk(this.s.proc, a.start, nr, e.flags, pages, 0, this.seen);
      if (this.walk.done) return { fn: this.s.op, what: 'nothing to take' };
      return this.walk.point(w);
    }
    if (!this.walk.done) return this.walk.point(w);
    this.ret = this.walk.ret;
    this.done = true;
    return gupReturn(w, this.thread, this.s, this.start, this.ret, this.walk.pages, this.seen);
  }
  override hashLive(h: Hash): void {
    super.hashLive(h);
    if (this.done || !this.walk) return;
    for (let i = 0; i < this.walk.nrPages; i++) {
      h.num(this.walk.pages[i]!);
      h.word(this.seen[i]!);
    }
  }
}
