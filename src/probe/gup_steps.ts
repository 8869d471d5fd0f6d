// Raw GUP steps on a live kernel, through gupsim's GUP module (vm/module/gupsim_gup.c), which the
// VMs of `gupsim probe --kernel` load (a host has no such module: there these steps are
// unsupported). A scenario's pin handle (`as:`) is one of the module's numbered handles; the calls
// run in the scenario process that makes them (current->mm is its memory), *_remote on the target's
// mm; releases do exactly what the step says, double unpins and put_page() on pins included: the
// kernel's consequences are what the probe is for.

import type { StepOf } from '../scenario/schema.js';
import { FOLL_NAMES } from '../mm/foll_flags.js';
import type { Helper, HelperProcess, HelperReply } from './helper.js';
import type { Out } from './engine.js';

const PAGE_SIZE = 4096;
/** The module's handles are numbered 0..255; 0 is left unused. */
const MAX_HANDLES = 256;

type GupOp = 'get_user_pages' | 'get_user_pages_fast' | 'get_user_pages_fast_only' | 'get_user_pages_unlocked' |
  'get_user_pages_remote' | 'pin_user_pages' | 'pin_user_pages_fast' | 'pin_user_pages_unlocked' | 'pin_user_pages_remote';
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
  /** Entries the module's handle has (every page taken, released or not). */
  n: number;
}

/**
 * FOLL_* names as the kernel spells them ("write" -> "FOLL_WRITE"); a number is read with the
 * model's (6.18) values, which other releases do not share, so it is turned into names first.
 */
export function follNames(flags: readonly string[] | number | undefined): { names: string[]; note?: string } {
  if (flags === undefined) return { names: [] };
  if (typeof flags === 'number') {
    const names = Object.entries(FOLL_NAMES).filter(([, v]) => (flags & v) !== 0).map(([n]) => n);
    const known = names.reduce((m, n) => m | FOLL_NAMES[n]!, 0);
    const rest = (flags >>> 0) & ~known;
    return { names: rest ? [...names, `0x${rest.toString(16)}`] : names, note: `flags ${flags} read with Linux 6.18's FOLL_* values as ${names.join('|') || '0'}` };
  }
  return { names: flags.map((f) => { const k = f.toUpperCase(); return k.startsWith('FOLL_') ? k : `FOLL_${k}`; }) };
}

/** Why a reply of the module is not a result of the call (undefined: it is). */
function refusal(r: HelperReply, kernel: string): string | undefined {
  if (typeof r.error !== 'string') return undefined;
  if (typeof r.bad_flag === 'string') {
    return `${r.bad_flag} is not defined by the headers of Linux ${kernel} (flags internal to mm/ since 6.4, or newer than this release): the module cannot pass it`;
  }
  return `gupsim's GUP module refused the request: ${r.error} (${r.errno})`;
}

export class GupSteps {
  private readonly handles = new Map<string, Handle>();
  private nextId = 1;

  constructor(private readonly r: GupRunner) {}

  private handle(name: string, kind: Handle['kind']): Handle | undefined {
    let h = this.handles.get(name);
    if (!h) {
      if (this.nextId >= MAX_HANDLES) return undefined;
      h = { id: this.nextId++, kind, n: 0 };
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
    const h = this.handle(s.as ?? `${s.op}@${index}`, s.op.startsWith('pin') ? 'pin' : 'get');
    if (!h) return { ret: 0, unsupported: `the module keeps at most ${MAX_HANDLES - 1} handles` };
    const reply = await this.r.helper.send(p,
      `gup fn=${s.op} addr=${addr} nr=${nr} flags=${names.join(',')} handle=${h.id}${pid ? ` pid=${pid}` : ''}`, this.r.timeout(nr * PAGE_SIZE));
    const why = refusal(reply, this.r.sys.kernel);
    if (why) return { ret: 0, unsupported: why };
    if (reply.ret > 0) h.n = Number(reply.first) + reply.ret;
    return { ret: reply.ret, errno: reply.errno, extra: { gup_flags: `0x${Number(reply.gup_flags).toString(16)}` } };
  }

  /** unpin_user_pages*(), unpin_user_page(), put_page() of a handle's entries, as the step says. */
  async release(s: StepOf<ReleaseOp>): Promise<Out> {
    const h = this.handles.get(s.pins);
    if (!h) return { ret: 0, unsupported: `"${s.pins}" is not a GUP handle: no step took pages into it` };
    let index = 0;
    let count: number;
    switch (s.op) {
      case 'unpin_user_pages':
      case 'unpin_user_pages_dirty_lock':
        // A negative count is passed on: the kernel's IS_ERR_VALUE(npages) check answers it.
        count = s.count === undefined ? h.n : s.count < 0 ? s.count : Math.min(s.count, h.n);
        break;
      case 'unpin_user_page':
        index = s.index ?? 0;
        count = 1;
        if (index >= h.n) return { ret: 0, unsupported: `"${s.pins}" has no entry ${index} (its steps took ${h.n} pages)` };
        break;
      case 'put_page':
        index = s.index ?? 0;
        count = s.index !== undefined && s.count === undefined ? 1 : Math.max(0, Math.min(s.count ?? h.n - index, h.n - index));
        if (index > h.n) return { ret: 0, unsupported: `"${s.pins}" has no entry ${index} (its steps took ${h.n} pages)` };
        break;
    }
    const dirty = s.op === 'unpin_user_pages_dirty_lock' ? ((s.dirty ?? true) ? 1 : 0) : 0;
    const reply = await this.r.helper.supervisorCommand(`release fn=${s.op} handle=${h.id} index=${index} count=${count} dirty=${dirty}`, this.r.timeout(Math.max(0, count) * PAGE_SIZE));
    const why = refusal(reply, this.r.sys.kernel);
    if (why) return { ret: 0, unsupported: why };
    return { ret: 0 };
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
    const reply = await this.r.helper.supervisorCommand(`dump_page pfn=${page.pfn} reason=gupsim%20dump_page%20step`, this.r.timeout());
    const why = refusal(reply, this.r.sys.kernel);
    if (why) return { ret: 0, unsupported: why };
    return { ret: 0, extra: { pfn: page.pfn } };
  }
}
