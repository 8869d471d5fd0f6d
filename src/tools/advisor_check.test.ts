// The advisor checked by the model: every recommendation is run (map, fault, call, release) in every
// memory setup its answers allow, and wherever the model refuses it the advice says so first, with the
// kernel rule, and offers alternatives the model accepts.
import { describe, expect, it } from 'vitest';
import { advise, inputError, MEMORY_KINDS, setupsFor, type AdvisorInput } from './advisor.js';
import { AdviceChecker, adviseChecked, checkMachine, runAdvisedCall } from './advisor_check.js';
import { LINUX_6_18 } from '../mm/profile.js';
import { do_mmap } from '../mm/mmap.js';
import { userAccess } from '../mm/user_access.js';
import { pin_user_pages, pin_user_pages_fast } from '../mm/gup.js';
import { FOLL_LONGTERM } from '../mm/foll_flags.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { EOPNOTSUPP } from '../uapi/errno.js';

const NONE: AdvisorInput = {
  dma: false,
  longLived: false,
  writesData: false,
  mmuNotifier: false,
  structPageOnly: false,
};
const q = (o: Partial<AdvisorInput>): AdvisorInput => ({ ...NONE, ...o });

/** Every combination of answers the advisor accepts (what `gupsim advise` takes as flags or answers). */
function acceptedInputs(): AdvisorInput[] {
  const out: AdvisorInput[] = [];
  const bools = [false, true];
  for (const dma of bools)
    for (const longLived of bools)
      for (const writesData of bools)
        for (const mmuNotifier of bools)
          for (const structPageOnly of bools)
            for (const memory of [undefined, ...MEMORY_KINDS])
              for (const shared of [undefined, false, true])
                for (const deviceFaults of [undefined, false, true]) {
                  const input = q({ dma, longLived, writesData, mmuNotifier, structPageOnly });
                  if (memory) input.memory = memory;
                  if (shared !== undefined) input.shared = shared;
                  if (deviceFaults !== undefined) input.deviceFaults = deviceFaults;
                  if (!inputError(input)) out.push(input);
                }
  return out;
}

describe('adviseChecked: the issue (gupsim advise --dma --long-lived --writes --memory file-disk)', () => {
  const input = q({ dma: true, longLived: true, writesData: true, memory: 'file-disk', shared: true });

  it('runs the recommended call on the model, which refuses it with -EFAULT from check_vma_flags()', () => {
    const a = adviseChecked(input);
    expect(a.checked.kernel).toBe('model of Linux 6.18');
    expect(a.checked.ok).toBe(false);
    expect(a.checked.runs).toEqual([
      {
        memory: 'file-disk',
        shared: true,
        call: 'pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)',
        nr_pages: 16,
        ret: -14,
        errno: 'EFAULT',
        why: { fn: 'check_vma_flags', rule: expect.stringContaining('writable_file_mapping_allowed') },
        done: 0,
        released: true,
        warnings: [],
        misuse: [],
        ok: false,
      },
    ]);
  });

  it('says so, with the rule, and offers alternatives each run on the model and accepted', () => {
    const a = adviseChecked(input);
    expect(a.refusals).toHaveLength(1);
    const r = a.refusals[0]!;
    expect(r.id).toBe('dirty-tracked-file-longterm-write');
    expect(r.runs).toEqual([a.checked.runs[0]]);
    expect(r.alternatives.map((x) => [x.id, x.case, x.call])).toEqual([
      ['shmem-memory', 2, 'pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)'],
      ['hugetlb-memory', 2, 'pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)'],
      ['anon-memory', 2, 'pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)'],
      ['private-mapping', 2, 'pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)'],
      ['short-term', 1, 'pin_user_pages_fast(FOLL_WRITE)'],
      ['case-3', 3, 'hmm_range_fault(HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE) or get_user_pages_fast(FOLL_WRITE)'],
    ]);
    for (const alt of r.alternatives) {
      expect(alt.checked.ok).toBe(true);
      for (const run of alt.checked.runs) expect(run.done).toBe(run.nr_pages);
    }
    const shmem = r.alternatives[0]!.checked.runs;
    expect(shmem.map((x) => [x.memory, x.shared])).toEqual([['shmem', true]]);
    // The short-term pin of the same MAP_SHARED file is allowed: never an invented refusal.
    expect(r.alternatives[4]!.checked.runs.map((x) => [x.memory, x.shared, x.ok])).toEqual([['file-disk', true, true]]);
  });
});

describe('adviseChecked: every combination the advisor accepts', () => {
  const checker = new AdviceChecker();
  const inputs = acceptedInputs();

  it('runs the recommended calls in every setup the answers allow', () => {
    for (const input of inputs.filter((_, i) => i % 37 === 0)) {
      const a = adviseChecked(input, checker);
      expect(a.checked.runs.map((r) => [r.memory, r.shared, r.call])).toEqual(
        setupsFor(input).flatMap((s) =>
          a.calls.map((c) => [s.memory, s.shared, `${c.fn}(${c.flags.join(' | ') || '0'})`]),
        ),
      );
    }
  });

  it('never recommends a call the model refuses without saying so, with the rule and an accepted alternative', () => {
    let withRefusals = 0;
    for (const input of inputs) {
      const a = adviseChecked(input, checker);
      const predicted = advise(input).refusals;
      const where = JSON.stringify(input);
      // Every run the model refused is covered by a refusal the advisor's rules predicted.
      for (const run of a.checked.runs.filter((r) => !r.ok)) {
        const r = a.refusals.find((x) => x.runs.includes(run));
        expect(r, `${where}: ${run.call} on ${run.memory}/${run.shared} refused silently`).toBeDefined();
        expect(r!.id, where).not.toBe('model-refusal');
        expect(r!.errno).toBe(run.errno);
        expect(r!.text).toContain(`-${run.errno}`);
        expect(r!.text).toContain(`${run.why!.fn}()`);
      }
      // Every refusal the rules predict is one the model makes (none invented), and keeps all its
      // alternatives: each one's advice is run on the model and accepted.
      expect(
        a.refusals.map((r) => r.id),
        where,
      ).toEqual(predicted.map((r) => r.id));
      for (const [i, r] of a.refusals.entries()) {
        expect(r.runs.length, where).toBeGreaterThan(0);
        expect(
          r.alternatives.map((x) => x.id),
          where,
        ).toEqual(predicted[i]!.alternatives.map((x) => x.id));
        expect(r.alternatives.length).toBeGreaterThan(0);
        for (const alt of r.alternatives) expect(alt.checked.ok, `${where} ${alt.id}`).toBe(true);
      }
      expect(a.why[0]).not.toMatch(/^The advisor's rules expect/);
      if (a.refusals.length) withRefusals++;
    }
    expect(inputs.length).toBeGreaterThan(1500);
    expect(withRefusals).toBeGreaterThan(100);
  });
});

describe('runAdvisedCall: the check can fail', () => {
  const anon = { memory: 'anon', shared: false } as const;

  it('a pin released with put_page() leaves the pin behind (released: false)', () => {
    const r = runAdvisedCall(checkMachine(anon), anon, {
      fn: 'pin_user_pages_fast',
      flags: [],
      release: 'put_page',
      notifier: false,
    });
    expect(r).toMatchObject({ ret: 16, done: 16, released: false, ok: false });
  });

  it('get_user_pages_fast(FOLL_LONGTERM) is refused with a WARN from is_valid_gup_args()', () => {
    const r = runAdvisedCall(checkMachine(anon), anon, {
      fn: 'get_user_pages_fast',
      flags: ['FOLL_LONGTERM'],
      release: 'put_page',
      notifier: false,
    });
    expect(r).toMatchObject({ errno: 'EINVAL', ok: false, why: { fn: 'is_valid_gup_args' } });
    expect(r.warnings).toEqual(['is_valid_gup_args: (gup_flags & FOLL_LONGTERM) && !(gup_flags & FOLL_PIN)']);
  });

  it('hmm_range_fault() under a notifier mirrors every page and takes no reference', () => {
    const r = runAdvisedCall(checkMachine(anon), anon, {
      fn: 'hmm_range_fault',
      flags: ['HMM_PFN_REQ_FAULT', 'HMM_PFN_REQ_WRITE'],
      release: 'nothing',
      notifier: true,
    });
    expect(r).toMatchObject({ ret: 0, done: 16, released: true, ok: true });
  });
});

describe('adviseChecked on another machine or profile', () => {
  it('names the profile the runs used', () => {
    const checker = new AdviceChecker((s) => checkMachine(s, { ...LINUX_6_18, release: '6.18-test' }));
    expect(adviseChecked(q({ dma: true }), checker).checked.kernel).toBe('model of Linux 6.18-test');
  });

  it("reports a refusal its rules do not predict, from the model's why, with alternatives the model accepts", () => {
    // Kernel memory exhausted: a long-term pin of ZONE_MOVABLE pages has nowhere to migrate them.
    const checker = new AdviceChecker((s) => {
      const m = checkMachine(s);
      if (s.memory === 'movable') while (m.alloc.allocBlock(0, { movable: false }) >= 0);
      return m;
    });
    const a = adviseChecked(q({ dma: true, longLived: true, writesData: true, memory: 'movable' }), checker);
    expect(a.refusals).toHaveLength(1);
    const r = a.refusals[0]!;
    expect(r).toMatchObject({ id: 'model-refusal', errno: 'ENOMEM', fn: 'migrate_longterm_unpinnable_folios' });
    expect(r.text).toMatch(/fails with -ENOMEM: migrate_longterm_unpinnable_folios\(\): .*did not predict this/);
    expect(r.alternatives.map((x) => [x.id, x.checked.ok])).toEqual([
      ['short-term', true],
      ['case-3', true],
    ]);
  });
});

describe('the fsdax MAP_PRIVATE warning is what the model does (GUP-fast skips check_vma_flags)', () => {
  const setup = { memory: 'fsdax', shared: false } as const;
  const pin = (written: number, fast: boolean) => {
    const m = checkMachine(setup);
    const p = m.spawn('app');
    const addr = do_mmap(m, p, { size: 16 * PAGE_SIZE, type: 'fsdax', shared: false });
    if (written) expect(userAccess(m, p, addr, written * PAGE_SIZE, true)).toBe(0);
    const pages = new Int32Array(16);
    return (fast ? pin_user_pages_fast : pin_user_pages)(m, p, addr, 16, FOLL_LONGTERM, pages);
  };

  it('pin_user_pages_fast(): all written -> all pinned; half written -> a short count; none -> -EOPNOTSUPP', () => {
    expect(pin(16, true)).toBe(16);
    expect(pin(8, true)).toBe(8);
    expect(pin(0, true)).toBe(-EOPNOTSUPP);
  });

  it('pin_user_pages() always goes through check_vma_flags(): -EOPNOTSUPP', () => {
    expect(pin(16, false)).toBe(-EOPNOTSUPP);
  });
});
