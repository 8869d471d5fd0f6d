// Runs the advisor's recommendation on the model: for each memory setup the answers allow, a tiny
// machine with that memory (mm/mmap.c do_mmap(), MAP_SHARED or MAP_PRIVATE), the buffer faulted in as a
// process fills it (a write to every page), then the recommended entry point of mm/gup.c (or
// mm/hmm.c hmm_range_fault() under an mmu_interval_notifier) with the recommended flags, and the
// recommended release. The model's verdict (ret, errno, the refusing kernel check) is reported with
// the advice; where the model refuses, the advice says so first and offers alternatives that the
// model accepts (each run the same way). A refusal the advisor's rules did not predict is still
// reported, from the model's own `why`, so the advisor never recommends a call silently refused.

import {
  advise,
  callText,
  setupsFor,
  setupText,
  SHARING_KINDS,
  type Advice,
  type AdvisedCall,
  type AdvisorInput,
  type Alternative,
  type MemorySetup,
  type Refusal,
} from './advisor.js';
import { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { LINUX_6_18, type KernelProfile } from '../mm/profile.js';
import { do_mmap, type MmapArgs } from '../mm/mmap.js';
import { userAccess } from '../mm/user_access.js';
import { filemapWriteNewFile } from '../mm/filemap.js';
import { PAGE_SIZE, PMD_ORDER, PMD_SIZE } from '../mm/memmap.js';
import { parseFollFlags } from '../mm/foll_flags.js';
import { lru_add_drain } from '../mm/swap.js';
import {
  get_user_pages_fast,
  pin_user_pages,
  pin_user_pages_fast,
  put_page,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
} from '../mm/gup.js';
import { hmm_range_fault, mmu_interval_notifier_insert, mmu_interval_notifier_remove } from '../consumers/hmm.js';
import { errnoName } from '../uapi/errno.js';

const MiB = 1 << 20;
/** The buffer: 16 base pages, or one 2 MiB huge page for hugetlb. */
const BUFFER_PAGES = 16;
/** A file written (and cached) in 1 MiB write(2) calls, as the scenario runner's create_file does. */
const FILE_WRITE_CHUNK = MiB;

/** Makes the machine a setup runs on (a profile's machine, later a `--kernel` one). */
export type MachineFor = (setup: MemorySetup) => Machine;

/**
 * A 64 MiB machine with what the memory kind needs: 4 MiB of fsdax pmem, two 2 MiB huge pages in the
 * hugetlb pool, or (movable) most of its RAM in ZONE_MOVABLE so that user pages land there.
 */
export function checkMachine(setup: MemorySetup, profile: KernelProfile = LINUX_6_18): Machine {
  return new Machine(
    {
      memory: 64 * MiB,
      movable: setup.memory === 'movable' ? 48 * MiB : 0,
      pmem: setup.memory === 'fsdax' ? 4 * MiB : 0,
      hugetlb: setup.memory === 'hugetlb' ? { '2M': 2 } : {},
    },
    profile,
  );
}

/** The model's verdict on one recommended call in one memory setup. */
export interface CheckRun {
  memory: MemorySetup['memory'];
  shared: boolean;
  /** The call, as text ("pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)"). */
  call: string;
  /** Pages asked for. */
  nr_pages: number;
  /** What the call returned: pages pinned or referenced, 0 for hmm_range_fault(), or a negative errno. */
  ret: number;
  errno: string | null;
  /** The kernel check that refused, as the model recorded it (m.refuse()). */
  why: { fn: string; rule: string } | null;
  /** Pages the call handed out (for hmm_range_fault(): mirrored). */
  done: number;
  /**
   * After the recommended release: no pin left (nr_foll_pin_acquired == nr_foll_pin_released) and every
   * reference the call took given back (the machine's refcounts add up to what they were before it).
   */
  released: boolean;
  /** WARNs the call or its release fired (a misuse the advisor must never recommend). */
  warnings: string[];
  /** gupsim's misuse records of the call or its release (what a wrong release does to the counts). */
  misuse: string[];
  /** The whole buffer was handed out and released cleanly, with no WARN and no misuse. */
  ok: boolean;
}

/** The verdict on every call in every setup: `ok` when the model accepts them all. */
export interface Checked {
  kernel: string;
  ok: boolean;
  runs: CheckRun[];
}

/** A way around a refusal, with its advice run on the model. */
export interface CheckedAlternative extends Alternative {
  /** The call(s) the alternative's advice recommends ("a or b" when either will do). */
  call: string;
  /** The case the alternative's advice is. */
  case: number;
  checked: Checked;
}

/** A refusal the model confirmed (or found on its own), the runs it refused, and what works instead. */
export interface CheckedRefusal extends Omit<Refusal, 'id' | 'alternatives' | 'errno' | 'fn'> {
  /** A RefusalId, or 'model-refusal' for a refusal the advisor's rules did not predict. */
  id: string;
  /** The errno by name; null when the call did not fail but came short (partial, leak, WARN). */
  errno: string | null;
  /** The kernel function that refused, when the model recorded one. */
  fn: string | null;
  runs: CheckRun[];
  /** Only alternatives the model accepts. */
  alternatives: CheckedAlternative[];
}

/** Advice with the model's verdict: `refusals` replaced by those the model confirmed. */
export interface CheckedAdvice extends Omit<Advice, 'refusals'> {
  refusals: CheckedRefusal[];
  checked: Checked;
}

function sumRefcounts(m: Machine): number {
  let s = 0;
  for (const r of m.mem.refcount) s += r;
  return s;
}

function outstandingPins(m: Machine): number {
  return m.vmstat.get('nr_foll_pin_acquired') - m.vmstat.get('nr_foll_pin_released');
}

/** mmap the buffer the way the setup says, with its file where it needs one, and write every page. */
function mapBuffer(m: Machine, p: Process, setup: MemorySetup): { addr: number; len: number } {
  const len = setup.memory === 'hugetlb' ? PMD_SIZE : BUFFER_PAGES * PAGE_SIZE;
  let args: MmapArgs;
  switch (setup.memory) {
    case 'anon':
    case 'movable':
      args = { size: len, type: 'anon' };
      break;
    case 'shmem':
      args = { size: len, type: 'memfd', shared: setup.shared };
      break;
    case 'file-disk': {
      const file = m.newFile('disk', 'data', len / PAGE_SIZE);
      file.users++; // the process keeps its fd open
      filemapWriteNewFile(m, file, len, FILE_WRITE_CHUNK);
      args = { size: len, type: 'file', file, shared: setup.shared };
      break;
    }
    case 'fsdax':
      args = { size: len, type: 'fsdax', shared: setup.shared };
      break;
    case 'hugetlb':
      args = { size: len, type: 'hugetlb', shared: setup.shared, hugeOrder: PMD_ORDER };
      break;
  }
  const addr = do_mmap(m, p, args);
  if (addr < 0) throw new Error(`gupsim bug: advisor check cannot map ${setupText(setup)}: ${errnoName(addr)}`);
  const r = userAccess(m, p, addr, len, true);
  if (r < 0) throw new Error(`gupsim bug: advisor check cannot fault in ${setupText(setup)}: ${errnoName(r)}`);
  return { addr, len };
}

/**
 * Run one recommended call on a fresh machine `m` (a process `app` is created) with the buffer of
 * `setup`: map, fault, call, release as recommended, then check that nothing is left behind.
 */
export function runAdvisedCall(m: Machine, setup: MemorySetup, call: AdvisedCall): CheckRun {
  const p = m.spawn('app');
  const { addr, len } = mapBuffer(m, p, setup);
  const nr = len / PAGE_SIZE;
  const pages = new Int32Array(nr);
  const warnsBefore = m.warns.records.length;
  const misuseBefore = m.misuse.records.length;
  const pinsBefore = outstandingPins(m);
  // The buffer's new folios wait in the LRU batch: count as after lru_add_drain_all(), as below.
  lru_add_drain(m);
  const refsBefore = sumRefcounts(m);
  const notifier = call.notifier || call.fn === 'hmm_range_fault';
  const mirror = notifier ? mmu_interval_notifier_insert(m, 'driver', p, addr, addr + len) : undefined;
  let ret: number;
  let done = 0;
  if (call.fn === 'hmm_range_fault') {
    ret = hmm_range_fault(m, mirror!, call.flags.includes('HMM_PFN_REQ_WRITE')).ret;
    done = mirror!.mirrored;
  } else {
    const flags = parseFollFlags(call.flags, m.profile);
    if (call.fn === 'pin_user_pages_fast') ret = pin_user_pages_fast(m, p, addr, nr, flags, pages);
    else if (call.fn === 'pin_user_pages') ret = pin_user_pages(m, p, addr, nr, flags, pages);
    else ret = get_user_pages_fast(m, p, addr, nr, flags, pages);
    done = Math.max(ret, 0);
  }
  const why = ret < 0 || done < nr ? (m.why ?? null) : null;
  // The recommended release, of what was handed out.
  if (call.release === 'unpin_user_pages_dirty_lock') unpin_user_pages_dirty_lock(m, pages, done, true);
  else if (call.release === 'unpin_user_pages') unpin_user_pages(m, pages, done);
  else if (call.release === 'put_page') for (let i = 0; i < done; i++) put_page(m, pages[i]!);
  if (mirror) mmu_interval_notifier_remove(m, mirror);
  // References the per-CPU LRU batches took (new folios, the classic LRU's activation) are the
  // kernel's, not the caller's: count after lru_add_drain(), as lru_add_drain_all() would leave it.
  lru_add_drain(m);
  const released = outstandingPins(m) === pinsBefore && sumRefcounts(m) === refsBefore;
  const warnings = m.warns.records.slice(warnsBefore).map((w) => `${w.fn}: ${w.condition}`);
  const misuse = m.misuse.records.slice(misuseBefore).map((r) => r.what);
  return {
    memory: setup.memory,
    shared: setup.shared,
    call: callText(call),
    nr_pages: nr,
    ret,
    errno: ret < 0 ? errnoName(ret) : null,
    why: why ? { fn: why.fn, rule: why.rule } : null,
    done,
    released,
    warnings,
    misuse,
    ok: ret >= 0 && done === nr && released && warnings.length === 0 && misuse.length === 0,
  };
}

/**
 * Runs recommended calls in memory setups, each on a fresh machine from `machineFor`. Runs are
 * deterministic (a fresh machine each time), so one checker remembers them: the same call in the same
 * setup is run once.
 */
export class AdviceChecker {
  private readonly memo = new Map<string, CheckRun>();
  /** "model of Linux 6.18": the release of the machines the runs used. */
  kernel = '';

  constructor(readonly machineFor: MachineFor = (s) => checkMachine(s)) {}

  run(setup: MemorySetup, call: AdvisedCall): CheckRun {
    const key = `${setup.memory}/${setup.shared}/${callText(call)}/${call.release}/${call.notifier}`;
    let r = this.memo.get(key);
    if (!r) {
      const m = this.machineFor(setup);
      this.kernel = `model of Linux ${m.profile.release}`;
      r = runAdvisedCall(m, setup, call);
      this.memo.set(key, r);
    }
    return r;
  }

  /** Every recommended call of `adv` in every setup the answers allow. */
  check(input: AdvisorInput, adv: Advice = advise(input)): Checked {
    const runs: CheckRun[] = [];
    for (const setup of setupsFor(input)) for (const call of adv.calls) runs.push(this.run(setup, call));
    return { kernel: this.kernel, ok: runs.every((r) => r.ok), runs };
  }
}

function covers(r: Refusal, run: CheckRun): boolean {
  return r.memory === run.memory && r.shared === run.shared;
}

/** Alternatives for a refusal the advisor's rules did not predict: a short-term pin, Case 3, other memory. */
function fallbackAlternatives(input: AdvisorInput, run: CheckRun): Alternative[] {
  const base: AdvisorInput = { ...input, memory: run.memory };
  if (SHARING_KINDS.includes(run.memory)) base.shared = run.shared;
  const out: Alternative[] = [];
  if (input.longLived && !input.mmuNotifier) {
    const text = 'Pin for each I/O only (no FOLL_LONGTERM), unpinning when it completes.';
    out.push({ id: 'short-term', text, input: { ...base, longLived: false } });
  }
  if (!input.mmuNotifier) {
    out.push({
      id: 'case-3',
      text:
        'Do not pin (Case 3): an mmu_interval_notifier with hmm_range_fault(), or FOLL_GET references ' +
        'dropped in the invalidate callback.',
      input: { ...base, mmuNotifier: true },
    });
  }
  // (Movable memory is anonymous memory already: only where it sits differs.)
  if (run.memory !== 'anon' && run.memory !== 'movable') {
    const anon: AdvisorInput = { ...base, memory: 'anon' };
    delete anon.shared;
    out.push({ id: 'anon-memory', text: 'Private anonymous memory (MAP_PRIVATE | MAP_ANONYMOUS).', input: anon });
  }
  return out;
}

/**
 * advise() checked on the model: the advice, `checked` (every recommended call in every setup the
 * answers allow), and `refusals` as the model confirms them: each predicted refusal with the runs it
 * refused, a refusal the rules did not predict from the model's own `why`, and for each only the
 * alternatives whose advice the model accepts. A predicted refusal the model does not confirm (a
 * profile whose rules differ) is dropped, with a note first in `why`.
 */
export function adviseChecked(input: AdvisorInput, checker: AdviceChecker = new AdviceChecker()): CheckedAdvice {
  const adv = advise(input);
  const checked = checker.check(input, adv);
  const refused = checked.runs.filter((r) => !r.ok);
  const why = [...adv.why];
  const refusals: CheckedRefusal[] = [];
  const offer = (alts: Alternative[]): CheckedAlternative[] =>
    alts
      .map((alt) => {
        const a2 = advise(alt.input);
        const call = a2.calls.map(callText).join(' or ');
        return { ...alt, call, case: a2.case, checked: checker.check(alt.input, a2) };
      })
      .filter((alt) => alt.checked.ok);
  for (const r of adv.refusals) {
    const runs = refused.filter((run) => covers(r, run) && run.errno === r.errno);
    if (!runs.length) {
      const other = refused.find((run) => covers(r, run));
      why.unshift(
        `The advisor's rules expect ${r.fn}() to refuse ${r.call} with -${r.errno} on ${r.where}, but on the ` +
          `${checked.kernel} it ${other ? 'fails otherwise (see the refusal above)' : 'is accepted'}.`,
      );
      continue;
    }
    refusals.push({ ...r, runs, alternatives: offer(r.alternatives) });
  }
  for (const run of refused) {
    if (refusals.some((r) => r.runs.includes(run))) continue;
    const what =
      run.ret < 0
        ? `fails with -${run.errno}`
        : run.done < run.nr_pages
          ? `returns only ${run.done} of ${run.nr_pages} pages`
          : !run.released
            ? 'leaves pins or references behind after the recommended release'
            : run.warnings.length
              ? `fires a WARN (${run.warnings.join('; ')})`
              : `misuses the release (${run.misuse.join('; ')})`;
    refusals.push({
      id: 'model-refusal',
      memory: run.memory,
      shared: run.shared,
      conditional: input.memory === undefined || (input.shared === undefined && SHARING_KINDS.includes(run.memory)),
      where: setupText(run),
      call: run.call,
      errno: run.errno,
      fn: run.why?.fn ?? null,
      text:
        `On the ${checked.kernel}, ${run.call} on ${setupText(run)} ${what}` +
        (run.why ? `: ${run.why.fn}(): ${run.why.rule}` : '') +
        ". The advisor's rules did not predict this.",
      runs: [run],
      alternatives: offer(fallbackAlternatives(input, run)),
    });
  }
  return { ...adv, why, refusals, checked };
}
