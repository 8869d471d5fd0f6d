// Raw GUP steps on a live kernel, through gupsim's GUP module (vm/module/gupsim_gup.c), which the
// VMs of `gupsim probe --kernel` load (a host has no such module: there these steps are
// unsupported). A scenario's pin handle (`as:`) is one of the module's numbered handles; the calls
// run in the scenario process that makes them (current->mm is its memory), *_remote on the target's
// mm. A release takes the entries the model's does: every entry in the range the step names, as a
// driver's pages[] array holds them, released ones included; a double unpin, or an API that does not
// match how the pages were taken (put_page() on pins), is performed as asked: its consequences are
// what the probe is for.

import type { StepOf } from '../scenario/schema.js';
import { FOLL_NAMES } from '../mm/foll_flags.js';
import type { Helper, HelperProcess, HelperReply } from './helper.js';
import type { Out } from './engine.js';

const PAGE_SIZE = 4096;

type GupOp =
  | 'get_user_pages'
  | 'get_user_pages_fast'
  | 'get_user_pages_fast_only'
  | 'get_user_pages_unlocked'
  | 'get_user_pages_remote'
  | 'pin_user_pages'
  | 'pin_user_pages_fast'
  | 'pin_user_pages_unlocked'
  | 'pin_user_pages_remote';
type ReleaseOp = 'unpin_user_pages' | 'unpin_user_pages_dirty_lock' | 'unpin_user_page' | 'put_page';

/** What GupSteps needs of the engine's Runner. */
export interface GupRunner {
  readonly helper: Helper;
  readonly sys: { readonly kernel: string };
  readonly procs: Map<string, HelperProcess>;
  readonly regions: Map<string, { addr: number; len: number }>;
  readonly notes: string[];
  live(name: string): Promise<HelperProcess | undefined>;
  range(s: { region?: string; offset?: number; length?: number; pages?: number }): { addr: number; len: number };
  timeout(len?: number): number;
}

interface Handle {
  id: number;
  kind: 'pin' | 'get';
  /** Per entry of the module's handle (every page taken): whether a release has been made of it. */
  released: boolean[];
}

/** Runs of consecutive indices: [[start, count], ...]. */
export function runsOf(indices: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const i of indices) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else out.push([i, 1]);
  }
  return out;
}

/**
 * The entries a release of [from, end) works on: all of them, as the model takes them (a stale pages[]
 * array still holds the released ones); `again` when some were released already (a double release).
 */
export function selectEntries(released: boolean[], from: number, end: number): { indices: number[]; again: boolean } {
  const range: number[] = [];
  for (let i = from; i < Math.min(end, released.length); i++) range.push(i);
  return { indices: range, again: range.some((i) => released[i]) };
}

/**
 * FOLL_* names as the kernel spells them ("write" -> "FOLL_WRITE"); a number is read with the
 * model's (6.18) values, which other releases do not share, so it is turned into names first.
 */
export function follNames(flags: readonly string[] | number | undefined): { names: string[]; note?: string } {
  if (flags === undefined) return { names: [] };
  if (typeof flags === 'number') {
    const names = Object.entries(FOLL_NAMES)
      .filter(([, v]) => (flags & v) !== 0)
      .map(([n]) => n);
    const known = names.reduce((m, n) => m | FOLL_NAMES[n]!, 0);
    const rest = (flags >>> 0) & ~known;
    return {
      names: rest ? [...names, `0x${rest.toString(16)}`] : names,
      note: `flags ${flags} read with Linux 6.18's FOLL_* values as ${names.join('|') || '0'}`,
    };
  }
  return {
    names: flags.map((f) => {
      const k = f.toUpperCase();
      return k.startsWith('FOLL_') ? k : `FOLL_${k}`;
    }),
  };
}

/** Why a reply of the module is not a result of the call (undefined: it is). */
function refusal(r: HelperReply, kernel: string): string | undefined {
  if (typeof r.error !== 'string') return undefined;
  if (typeof r.bad_flag === 'string') {
    return (
      `${r.bad_flag} is not defined by the headers of Linux ${kernel} (flags internal to mm/ since 6.4, or newer ` +
      'than this release): the module cannot pass it'
    );
  }
  return `gupsim's GUP module refused the request: ${r.error} (${r.errno})`;
}

export class GupSteps {
  private readonly handles = new Map<string, Handle>();

  constructor(private readonly r: GupRunner) {}

  /** The scenario handle's module handle: a fresh one (never used in this boot) on first use. */
  private async handle(name: string, kind: Handle['kind']): Promise<Handle | string> {
    let h = this.handles.get(name);
    if (!h) {
      const r = await this.r.helper.supervisorCommand('newhandle', this.r.timeout());
      if (r.ret <= 0) return refusal(r, this.r.sys.kernel) ?? `the module gave no handle (${r.errno})`;
      h = { id: r.ret, kind, released: [] };
      this.handles.set(name, h);
    }
    return h;
  }

  /** get_user_pages*() / pin_user_pages*() on the step's range, the pages kept in its handle. */
  async call(s: StepOf<GupOp>, index: number): Promise<Out> {
    const p = await this.r.live(s.proc);
    if (!p) return { ret: -3, errno: 'ESRCH', extra: { note: `process ${s.proc} has exited: no call made` } };
    let pid = 0;
    if ('target' in s) {
      const t = await this.r.live(s.target);
      if (!t) return { ret: -3, errno: 'ESRCH', extra: { note: `process ${s.target} has exited: no call made` } };
      pid = t.pid;
    }
    const { names, note } = follNames(s.flags);
    if (note) this.r.notes.push(`step ${index}: ${note}`);
    const bad = names.find((n) => !/^FOLL_[A-Z0-9_]+$/.test(n));
    if (bad) return { ret: 0, unsupported: `flag ${bad} has no name in Linux 6.18 and cannot be passed by name` };
    const { addr, len } = this.r.range(s);
    const nr = s.pages ?? Math.ceil(len / PAGE_SIZE);
    const h = await this.handle(s.as ?? `${s.op}@${index}`, s.op.startsWith('pin') ? 'pin' : 'get');
    if (typeof h === 'string') return { ret: 0, unsupported: h };
    const reply = await this.r.helper.send(
      p,
      `gup fn=${s.op} addr=${addr} nr=${nr} flags=${names.join(',')} handle=${h.id}${pid ? ` pid=${pid}` : ''}`,
      this.r.timeout(nr * PAGE_SIZE),
    );
    const why = refusal(reply, this.r.sys.kernel);
    if (why) return { ret: 0, unsupported: why };
    if (reply.ret > 0) for (let i = 0; i < reply.ret; i++) h.released[Number(reply.first) + i] = false;
    return { ret: reply.ret, errno: reply.errno, extra: { gup_flags: `0x${Number(reply.gup_flags).toString(16)}` } };
  }

  /** unpin_user_pages*(), unpin_user_page(), put_page() of a handle's entries, as the step says. */
  async release(s: StepOf<ReleaseOp>): Promise<Out> {
    const h = this.handles.get(s.pins);
    if (!h) return { ret: 0, unsupported: `"${s.pins}" is not a GUP handle: no step took pages into it` };
    const n = h.released.length;
    const dirty = s.op === 'unpin_user_pages_dirty_lock' ? ((s.dirty ?? true) ? 1 : 0) : 0;
    const notes: string[] = [];
    if ((h.kind === 'get') !== (s.op === 'put_page'))
      notes.push(
        `the pages of "${s.pins}" were taken with ${h.kind === 'pin' ? 'FOLL_PIN' : 'FOLL_GET'}: ` +
          `${s.op} was made as asked`,
      );
    let sel: { indices: number[]; again: boolean };
    if (
      (s.op === 'unpin_user_pages' || s.op === 'unpin_user_pages_dirty_lock') &&
      s.count !== undefined &&
      s.count < 0
    ) {
      // An errno passed as the page count goes to the kernel as is: its IS_ERR_VALUE(npages) check answers.
      const r = await this.send(`release fn=${s.op} handle=${h.id} index=0 count=${s.count} dirty=${dirty}`, 0);
      return r ?? { ret: 0 };
    }
    if (s.op === 'unpin_user_page') {
      const i = s.index ?? 0;
      if (i >= n) return { ret: 0, unsupported: `"${s.pins}" has no entry ${i} (its steps took ${n} pages)` };
      sel = { indices: [i], again: h.released[i]! };
    } else if (s.op === 'put_page') {
      const from = s.index ?? 0;
      const count = s.index !== undefined && s.count === undefined ? 1 : s.count;
      if (from >= n) return { ret: 0, unsupported: `"${s.pins}" has no entry ${from} (its steps took ${n} pages)` };
      sel = selectEntries(h.released, from, count === undefined ? n : from + Math.max(0, count));
    } else {
      const from = s.index ?? 0;
      sel = selectEntries(h.released, from, s.count === undefined ? n : from + s.count);
    }
    if (sel.again)
      notes.push(
        `entries ${describe(sel.indices.filter((i) => h.released[i]))} of "${s.pins}" were already released: ` +
          'released again, as asked',
      );
    for (const [index, count] of runsOf(sel.indices)) {
      const fn = s.op === 'unpin_user_page' ? 'unpin_user_page' : s.op;
      const r = await this.send(`release fn=${fn} handle=${h.id} index=${index} count=${count} dirty=${dirty}`, count);
      if (r) return r;
      for (let i = index; i < index + count; i++) h.released[i] = true;
    }
    return { ret: 0, ...(notes.length ? { extra: { note: notes.join('; ') } } : {}) };
  }

  /**
   * A device access through a handle's pages (dma_write / dma_read): the module's dma ioctl, which
   * writes the value over each page through kmap_local_page() or reads a page's first word. Entries
   * already released are not touched (the device would reach memory the driver gave back).
   */
  async dma(s: StepOf<'dma_write'> | StepOf<'dma_read'>, value: number | undefined): Promise<Out> {
    const h = this.handles.get(s.handle);
    if (!h) return { ret: 0, unsupported: `"${s.handle}" is not a GUP handle: the probe has no device behind it` };
    const n = h.released.length;
    const first = Math.floor((s.offset ?? 0) / PAGE_SIZE);
    const count = s.length === undefined ? n - first : Math.ceil(((s.offset ?? 0) + s.length) / PAGE_SIZE) - first;
    const indices = Array.from({ length: Math.max(0, count) }, (_, k) => first + k);
    const bad = indices.find((i) => i >= n || h.released[i]);
    if (bad !== undefined)
      return {
        ret: 0,
        unsupported: `entry ${bad} of "${s.handle}" is not held: the device would reach memory the driver gave back`,
      };
    if (value !== undefined) {
      for (const [index, c] of runsOf(indices)) {
        const r = await this.r.helper.supervisorCommand(
          `dma handle=${h.id} index=${index} count=${c} value=${value} write=1`,
          this.r.timeout(c * PAGE_SIZE),
        );
        const why = refusal(r, this.r.sys.kernel);
        if (why) return { ret: 0, unsupported: why };
      }
      return { ret: indices.length * PAGE_SIZE, extra: { value } };
    }
    const data: number[] = [];
    for (const i of indices) {
      const r = await this.r.helper.supervisorCommand(`dma handle=${h.id} index=${i} count=1 write=0`);
      const why = refusal(r, this.r.sys.kernel);
      if (why) return { ret: 0, unsupported: why };
      data.push(Number(r.value));
    }
    return { ret: indices.length * PAGE_SIZE, extra: { data } };
  }

  /** A release command to the supervisor: undefined when done, else the step's outcome (the module refused). */
  private async send(line: string, pages: number): Promise<Out | undefined> {
    const reply = await this.r.helper.supervisorCommand(line, this.r.timeout(Math.max(0, pages) * PAGE_SIZE));
    const why = refusal(reply, this.r.sys.kernel);
    return why ? { ret: 0, unsupported: why } : undefined;
  }

  /** dump_page() of the page mapped at the step's address, into the kernel log (read by the engine). */
  async dumpPage(s: StepOf<'dump_page'>): Promise<Out> {
    const p = this.r.procs.get(s.proc);
    const region = this.r.regions.get(s.region)!;
    const addr = region.addr + (s.page ?? 0) * PAGE_SIZE;
    const noPage = { ret: -14, errno: 'EFAULT', extra: { why: { fn: 'dump_page', rule: 'no page is mapped there' } } };
    if (!p || !p.alive) return noPage;
    const at = await this.r.helper.supervisorCommand(`inspect pid=${p.pid} addr=${addr} pages=1`, this.r.timeout());
    const page = (at.pages as Array<{ present: boolean; pfn?: number | null }> | undefined)?.[0];
    if (at.ret < 0 || !page?.present || !page.pfn) return noPage;
    const reply = await this.r.helper.supervisorCommand(
      `dump_page pfn=${page.pfn} reason=gupsim%20dump_page%20step`,
      this.r.timeout(),
    );
    const why = refusal(reply, this.r.sys.kernel);
    if (why) return { ret: 0, unsupported: why };
    return { ret: 0, extra: { pfn: page.pfn } };
  }
}

function describe(indices: number[]): string {
  return runsOf(indices)
    .map(([a, c]) => (c === 1 ? `${a}` : `${a}-${a + c - 1}`))
    .join(', ');
}
