// io_uring fixed buffers as the race explorer runs them (io_uring/rsrc.c): IORING_REGISTER_BUFFERS as its
// checks (one point, with io_uring_setup() of a new ring), then per buffer the pin through GUP's own
// points (io_pin_pages(): pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM), GUP-fast then the slow path;
// 6.1: pin_user_pages() under mmap_read_lock) and the install of its bvecs and memlock charge (one
// point); IORING_UNREGISTER_BUFFERS one point per buffer unpinned (io_buffer_unmap()).

import type { Step } from '../../scenario/schema.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { gupFastEntryFlags, gupFastEntryRet, gupSlowEntryFlags } from '../../mm/gup.js';
import {
  IoRing,
  io_uring_setup,
  io_release_ubuf,
  ioBuffersRegisterBegin,
  ioBuffersRegisterFail,
  ioBufferPages,
  ioBufferInstall,
  ioPinPagesDone,
  ioPinPages6_1Done,
  IO_PIN_FLAGS,
  IO_SPARSE,
  type AcctState,
} from '../../consumers/io_uring.js';
import { EBADF, ENXIO, errnoName } from '../../uapi/errno.js';
import { Footprint } from './footprint.js';
import { Op, type PointRecord, type World } from './op.js';
import { fastWalk, SlowWalk, unmappedReturn, type FastWalk } from './gup_points.js';
import type { Hash } from './state_hash.js';

interface RegisterStep {
  proc: string;
  as: string;
  entries?: number;
  region?: string;
  regions?: string[];
}

/** IORING_REGISTER_BUFFERS. */
export class IoUringRegisterOp extends Op {
  ring: IoRing | undefined = undefined;
  iovecs: { base: number; len: number }[] = [];
  acct: AcctState | undefined = undefined;
  /** The buffer being registered, and its pin. */
  vi = 0;
  walk: FastWalk | SlowWalk | undefined = undefined;
  seen: Uint8Array = new Uint8Array(0);

  private get s(): RegisterStep {
    return this.step as unknown as RegisterStep;
  }
  enabled(w: World): boolean {
    return !this.walk || this.walk.done || this.walk.enabled(w);
  }
  override structural(w: World): boolean {
    return !this.walk || this.walk.done || this.walk.structural(w);
  }
  override footprint(w: World, fp: Footprint): void {
    if (this.structural(w)) return fp.any();
    this.walk!.footprint(w, fp);
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    if (!this.ring) return this.begin(w);
    const walk = this.walk!;
    if (!walk.done) return walk.point(w);
    // The pin of this buffer returned: io_pin_pages()'s end, then the bvecs and the charge.
    const iov = this.iovecs[this.vi]!;
    const base = iov.base - (iov.base % PAGE_SIZE);
    const nr = walk.pages.length;
    const sixOne = m.profile.ioUringPin === 'pin_user_pages';
    const pinned = sixOne ? walk.ret : gupFastEntryRet(m, 'pin_user_pages_fast', walk.ret);
    const violation = unmappedReturn('io_pin_pages', w.ctx.proc(this.s.proc), base, walk.pages, this.seen, pinned);
    const r = sixOne
      ? ioPinPages6_1Done(m, this.ring, iov.base, nr, walk.pages, pinned)
      : ioPinPagesDone(m, nr, walk.pages, pinned);
    const b = r < 0 ? r : ioBufferInstall(m, this.ring, iov.base, iov.len, walk.pages, this.acct!);
    this.walk = undefined;
    let rec: PointRecord;
    if (typeof b === 'number') {
      this.finish(ioBuffersRegisterFail(m, this.ring, b));
      rec = { fn: 'io_sqe_buffer_register', what: `buffer ${this.vi}: ${errnoName(b)}; the table is unregistered` };
    } else {
      this.ring.bufs.push(b);
      rec = {
        fn: 'io_sqe_buffer_register',
        what: `buffer ${this.vi}: ${b.bvecPages.length} bvec(s), ${b.acctPages} page(s) accounted`,
      };
      this.vi++;
      this.next(w);
    }
    if (violation) rec.violation = violation;
    return rec;
  }
  /** io_uring_setup() of a new ring, io_sqe_buffers_register()'s checks, the first buffer's start. */
  private begin(w: World): PointRecord {
    const ctx = w.ctx;
    const m = ctx.m;
    const s = this.s;
    m.why = undefined;
    const p = ctx.live(s.proc);
    if (typeof p === 'number') return this.finishRec(p, 'the process has exited');
    const existing = ctx.objects.get(s.as);
    if (existing instanceof IoRing && !existing.closed) this.ring = existing;
    else {
      const r = io_uring_setup(m, s.as, p, s.entries);
      if (typeof r === 'number') return this.finishRec(r, 'io_uring_setup failed');
      this.ring = r;
      ctx.register(r);
    }
    this.iovecs = s.regions
      ? s.regions.map((r) => ({ base: ctx.regions.get(r)!.addr, len: ctx.regions.get(r)!.len }))
      : [(({ addr, len }) => ({ base: addr, len }))(ctx.range(this.step as Step))];
    const a = ioBuffersRegisterBegin(m, this.ring, this.iovecs.length);
    if (typeof a === 'number') return this.finishRec(a, 'io_sqe_buffers_register refused');
    this.acct = a;
    this.vi = 0;
    this.next(w);
    return { fn: 'io_sqe_buffers_register', what: `${this.iovecs.length} buffer(s) to register` };
  }
  /** Start the pin of buffer vi (sparse slots take none), or end the registration after the last. */
  private next(w: World): void {
    const m = w.ctx.m;
    for (; this.vi < this.iovecs.length; this.vi++) {
      const iov = this.iovecs[this.vi]!;
      const nr = ioBufferPages(m, iov.base, iov.len);
      if (nr === IO_SPARSE) continue;
      if (nr < 0) return this.finish(ioBuffersRegisterFail(m, this.ring!, nr));
      const base = iov.base - (iov.base % PAGE_SIZE);
      const pages = new Int32Array(nr);
      this.seen = new Uint8Array(nr);
      if (m.profile.ioUringPin === 'pin_user_pages') {
        const e = gupSlowEntryFlags(m, 'pin_user_pages', IO_PIN_FLAGS, pages);
        if (e.bad) return this.finish(ioBuffersRegisterFail(m, this.ring!, e.ret));
        this.walk = new SlowWalk(this.s.proc, base, nr, e.flags, pages, 0, this.seen);
      } else {
        const f = gupFastEntryFlags(m, 'pin_user_pages_fast', IO_PIN_FLAGS, pages);
        this.walk = fastWalk(m, this.s.proc, base, nr, f!);
        this.seen = this.walk.seen;
      }
      return;
    }
    this.ring!.slots = this.iovecs.length;
    this.finish(0);
  }
  private finish(ret: number): void {
    this.ret = ret;
    this.done = true;
  }
  private finishRec(ret: number, what: string): PointRecord {
    this.finish(ret);
    return { fn: 'io_uring_register', what: `${what}: ${errnoName(ret)}` };
  }
  override hashLive(h: Hash): void {
    super.hashLive(h);
    if (this.done) return;
    h.word(this.ring ? 1 : 0);
    h.word(this.vi);
    if (this.walk) this.walk.hashLive(h);
  }
}

/** IORING_UNREGISTER_BUFFERS: one point per buffer unpinned, the table gone with the last. */
export class IoUringUnregisterOp extends Op {
  /** Its checks ran. */
  checked = false;
  next = 0;
  private get ring(): string {
    return (this.step as { ring: string }).ring;
  }
  enabled(): boolean {
    return true;
  }
  point(w: World): PointRecord {
    const ring = w.ctx.objects.get(this.ring);
    if (!this.checked) {
      this.checked = true;
      if (!(ring instanceof IoRing) || ring.closed) return this.end(-EBADF, `"${this.ring}" is not an open ring`);
      if (ring.bufs.length === 0 && ring.slots === 0) return this.end(-ENXIO, 'no buffers are registered');
    }
    const r = ring as IoRing;
    if (this.next < r.bufs.length) {
      io_release_ubuf(w.ctx.m, r, r.bufs[this.next]!);
      this.next++;
      if (this.next < r.bufs.length) return { fn: 'io_buffer_unmap', what: `buffer ${this.next - 1} unpinned` };
    }
    r.bufs.length = 0;
    r.slots = 0;
    return this.end(0, this.next ? `buffer ${this.next - 1} unpinned; the table is gone` : 'the table is gone');
  }
  private end(ret: number, what: string): PointRecord {
    this.ret = ret;
    this.done = true;
    return { fn: 'io_sqe_buffers_unregister', what: ret < 0 ? `${what}: ${errnoName(ret)}` : what };
  }
  override hashLive(h: Hash): void {
    super.hashLive(h);
    h.word(this.checked ? 1 : 0);
    h.word(this.next);
  }
}
