// Property test of the race explorer's journal (journal.ts) on random small scenarios: in verify mode every
// atomic point is checked against a compare of the whole machine (a page word or PTE-table word written outside
// what the point's footprint named throws "gupsim bug: ..."), and every step back against a full snapshot. The
// footprints name as little as they can for speed (op.ts nameStepWrites() and the fault/folio namers,
// gup_points.ts, fork_op.ts, munmap_op.ts), so random races of faults, GUP-fast, the slow path, fork, munmap,
// MADV_DONTNEED, migration and unpins over anon, THP and private hugetlb memory look for a point that writes
// more than it said. The verified search must also find what the plain one finds: the same states, the same end
// states' pages, the same violated properties.
//
// Scenarios are built as YAML from raw numbers (so every one is valid and shrinks towards small ones) and loaded
// with loadScenario(), as a user's file would be; a failure prints the scenario. Bounded: each search stops at
// MAX_STATES (both searches stop at the same state: the search order is fixed).
// Long hunts: GUPSIM_EXPLORE_FUZZ_RUNS, GUPSIM_EXPLORE_FUZZ_SEED, GUPSIM_EXPLORE_FUZZ_STATES.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';
import { explore } from '../src/tools/explore/explorer.js';

const PAGE_KIB = 4;
/** Anon region sizes, in pages (4 KiB .. 2 MiB; 2 MiB twice as often: with align and thp: always, a THP). */
const ANON_PAGES = [1, 2, 3, 4, 8, 16, 64, 512, 512];
/** A private hugetlb region: one 2 MiB huge page. */
const HUGE_PAGES = 512;
/** Pages a GUP step in a thread takes at most (each page is a point of the slow walk). */
const GUP_MAX_PAGES = 4;
/** RawRegion.huge draws this for a private hugetlb mapping (anon otherwise: 0, what cases shrink to). */
const HUGETLB_DRAW = 4;
/** RawCase.mthp draws from this up for an mTHP setting (none below). */
const MTHP_DRAWS = 3;
const MTHP = ['{ 16K: always }', '{ 64K: always }', '{ 16K: always, 64K: always }'];
/** What a thread's step does, by RawStep.kind (past UNPIN_PRE: an unpin of the thread's own pin first). */
const K = {
  WRITE: 0,
  READ: 1,
  PIN_FAST: 2,
  GET_FAST: 3,
  /** pin_user_pages, or get_user_pages when RawStep.flag is SLOW_GET. */
  SLOW: 4,
  FORK: 5,
  MUNMAP: 6,
  DONTNEED: 7,
  MIGRATE: 8,
  UNPIN_PRE: 9,
  LAST: 11,
} as const;
const SLOW_GET = 5;
/** Before the block, RawStep.kind % PRE_KINDS: PRE_READ a load, PRE_FORK a fork (the first only), else a store. */
const PRE_KINDS = 4;
const PRE_READ = 1;
const PRE_FORK = 3;

const RUNS = Number(process.env.GUPSIM_EXPLORE_FUZZ_RUNS ?? 120);
const SEED = Number(process.env.GUPSIM_EXPLORE_FUZZ_SEED ?? 20250614);
const MAX_STATES = Number(process.env.GUPSIM_EXPLORE_FUZZ_STATES ?? 600);
const TIMEOUT = Math.max(120_000, RUNS * 3_000);

// ---------------------------------------------------------------------------------------------
// Raw cases: small numbers that build() turns into a valid scenario.

interface RawRegion {
  size: number;
  align: boolean;
  huge: number;
}
interface RawStep {
  kind: number;
  proc: number;
  region: number;
  off: number;
  len: number;
  flag: number;
}
interface RawCase {
  memory: number;
  thp: boolean;
  mthp: number;
  movable: boolean;
  pool: number;
  procs: RawRegion[][];
  pre: RawStep[];
  prePins: RawStep[];
  threads: RawStep[][];
  afterWrite: RawStep | null;
  assertBalanced: boolean;
}

const rawRegion: fc.Arbitrary<RawRegion> = fc.record({
  size: fc.nat(ANON_PAGES.length - 1),
  align: fc.boolean(),
  huge: fc.nat(HUGETLB_DRAW),
});
/** Small numbers more often: the threads then race on one region of one process. */
const often0 = (max: number) =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat(max) });
const rawStep: fc.Arbitrary<RawStep> = fc.record({
  kind: fc.nat(K.LAST),
  proc: often0(5),
  region: often0(3),
  off: fc.nat(HUGE_PAGES - 1),
  len: fc.nat(HUGE_PAGES - 1),
  flag: fc.nat(SLOW_GET),
});
const rawCase: fc.Arbitrary<RawCase> = fc.record({
  memory: fc.nat(1),
  thp: fc.boolean(),
  mthp: fc.nat(MTHP_DRAWS + MTHP.length - 1),
  movable: fc.boolean(),
  pool: fc.nat(2),
  procs: fc.array(fc.array(rawRegion, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }),
  pre: fc.array(rawStep, { maxLength: 3 }),
  prePins: fc.array(rawStep, { maxLength: 2 }),
  threads: fc.array(fc.array(rawStep, { minLength: 1, maxLength: 2 }), { minLength: 2, maxLength: 3 }),
  afterWrite: fc.option(rawStep, { nil: null }),
  assertBalanced: fc.boolean(),
});

// ---------------------------------------------------------------------------------------------
// Building the scenario

interface Region {
  name: string;
  owner: string;
  pages: number;
  huge: boolean;
}

type Value = string | number | boolean | string[];

/** A step as one YAML flow mapping. */
function flow(step: Record<string, Value>): string {
  const v = (x: Value) => (Array.isArray(x) ? `[${x.join(', ')}]` : String(x));
  return `{ ${Object.entries(step)
    .map(([k, x]) => `${k}: ${v(x)}`)
    .join(', ')} }`;
}

const kib = (pages: number) => `${pages * PAGE_KIB}KiB`;

/** The scenario YAML of a raw case. */
function build(c: RawCase): string {
  const regions: Region[] = [];
  const procs = c.procs.map((_, i) => `p${i}`);
  const mmaps: string[] = [];
  c.procs.forEach((rs, i) =>
    rs.forEach((r) => {
      const name = `r${regions.length}`;
      const huge = r.huge === HUGETLB_DRAW;
      const pages = huge ? HUGE_PAGES : ANON_PAGES[r.size]!;
      regions.push({ name, owner: procs[i]!, pages, huge });
      const s: Record<string, Value> = { op: 'mmap', proc: procs[i]!, as: name, size: kib(pages) };
      if (huge) Object.assign(s, { type: 'hugetlb', hugepage: '2M', shared: false });
      else {
        s.type = 'anon';
        if (r.align) s.align = '2MiB';
      }
      mmaps.push(flow(s));
    }),
  );
  const anyHuge = regions.some((r) => r.huge);
  const memory = c.memory ? 32 : 16;
  const machine: string[] = [`memory: ${memory}MiB`, `thp: ${c.thp ? 'always' : 'never'}`];
  // mTHP: a fault maps an aligned block of small pages (do_anonymous_page()), in a table it may allocate.
  const mthp = MTHP[c.mthp - MTHP_DRAWS];
  if (mthp) machine.push(`mthp: ${mthp}`);
  if (c.movable && memory === 32) machine.push('movable: 16MiB');
  if (anyHuge) machine.push(`hugetlb: { 2M: ${1 + c.pool} }`);

  /** Children by parent: forks before the block and in it. */
  const children = new Map<string, string[]>();
  const addChild = (parent: string, child: string) => children.set(parent, [...(children.get(parent) ?? []), child]);
  let forks = 0;
  const region = (s: RawStep) => regions[s.region % regions.length]!;
  /** Who acts on a region: its owner, one of the owner's children, or another process. */
  const actor = (s: RawStep, r: Region) => {
    const cands = [r.owner, ...(children.get(r.owner) ?? []), ...procs.filter((p) => p !== r.owner)];
    return cands[s.proc % cands.length]!;
  };
  /** A range of pages inside the region: offset and pages (at most `max`). */
  const range = (s: RawStep, r: Region, max: number) => {
    const off = s.off % r.pages;
    return { offset: kib(off), pages: 1 + (s.len % Math.min(max, r.pages - off)) };
  };
  const access = (s: RawStep, op: 'write' | 'read', proc?: string): string => {
    const r = region(s);
    return flow({ op, proc: proc ?? actor(s, r), region: r.name, ...range(s, r, r.pages) });
  };

  // Before the block: loads and stores by the owners, perhaps a fork, then the pins a thread may release.
  const pre: string[] = [];
  for (const s of c.pre) {
    const what = s.kind % PRE_KINDS;
    if (what === PRE_FORK && forks === 0) {
      const parent = procs[s.proc % procs.length]!;
      const child = `k${forks++}`;
      addChild(parent, child);
      pre.push(flow({ op: 'fork', proc: parent, child }));
    } else pre.push(access(s, what === PRE_READ ? 'read' : 'write', region(s).owner));
  }
  const preHandles: string[] = [];
  for (const s of c.prePins) {
    const r = region(s);
    const as = `pre${preHandles.length}`;
    preHandles.push(as);
    const flags = s.flag % 3 === 1 ? ['FOLL_WRITE', 'FOLL_LONGTERM'] : ['FOLL_WRITE'];
    pre.push(flow({ op: 'pin_user_pages', proc: r.owner, region: r.name, ...range(s, r, 2), flags, as }));
  }

  // The block.
  const released = new Set<string>();
  /** Handles the block's GUP steps make, and whether each is a pin (else FOLL_GET references). */
  const made: { as: string; pin: boolean }[] = [];
  const threads: string[] = [];
  c.threads.forEach((steps, ti) => {
    const out: string[] = [];
    const mine: string[] = [];
    steps.forEach((s, si) => {
      const r = region(s);
      const proc = actor(s, r);
      const kind = s.kind;
      if (kind === K.WRITE || kind === K.READ) return out.push(access(s, kind === K.WRITE ? 'write' : 'read'));
      if (kind === K.PIN_FAST || kind === K.GET_FAST || kind === K.SLOW) {
        const as = `h${ti}${si}`;
        const slowGet = kind === K.SLOW && s.flag === SLOW_GET;
        const pin = kind !== K.GET_FAST && !slowGet;
        let op = kind === K.PIN_FAST ? 'pin_user_pages_fast' : 'get_user_pages_fast';
        if (kind === K.SLOW) op = slowGet ? 'get_user_pages' : 'pin_user_pages';
        let flags: string[];
        if (pin) flags = [['FOLL_WRITE'], ['FOLL_WRITE', 'FOLL_LONGTERM'], []][s.flag % 3]!;
        else flags = s.flag % 2 ? [] : ['FOLL_WRITE'];
        const step: Record<string, Value> = { op, proc, region: r.name, ...range(s, r, GUP_MAX_PAGES) };
        if (flags.length) step.flags = flags;
        step.as = as;
        made.push({ as, pin });
        if (pin) mine.push(as);
        return out.push(flow(step));
      }
      if (kind === K.FORK) {
        const bases = [...procs, ...(children.get('p0') ?? [])];
        const parent = bases[s.proc % bases.length]!;
        const child = `c${forks++}`;
        addChild(parent, child);
        return out.push(flow({ op: 'fork', proc: parent, child }));
      }
      if (kind === K.MUNMAP || kind === K.DONTNEED) {
        // The whole region, its first half or its second half.
        const half = Math.floor(r.pages / 2);
        const part = half === 0 ? 0 : s.off % 3;
        const where: Record<string, Value> =
          part === 1 ? { length: kib(half) } : part === 2 ? { offset: kib(half) } : {};
        const step: Record<string, Value> =
          kind === K.MUNMAP
            ? { op: 'munmap', proc, region: r.name, ...where }
            : { op: 'madvise', proc, region: r.name, ...where, advice: 'dontneed' };
        return out.push(flow(step));
      }
      if (kind === K.MIGRATE)
        return out.push(flow({ op: 'migrate_pages', proc, region: r.name, page: s.off % r.pages }));
      // An unpin: of a pin made before the block nobody released yet, else of this thread's own earlier pin.
      const pre = preHandles.find((h, i) => i >= s.flag % Math.max(1, preHandles.length) && !released.has(h));
      const own = mine.find((h) => !released.has(h));
      const h = kind === K.UNPIN_PRE ? (pre ?? own) : (own ?? pre);
      if (h === undefined) return out.push(access(s, 'write'));
      released.add(h);
      return out.push(flow({ op: 'unpin_user_pages', pins: h }));
    });
    threads.push(`      t${ti}:`, ...out.map((l) => `        - ${l}`));
  });

  // After the block: a store, the releases of what is still held, the pin balance.
  const after: string[] = [];
  if (c.afterWrite) after.push(access(c.afterWrite, 'write'));
  for (const m of made)
    if (!released.has(m.as)) after.push(flow({ op: m.pin ? 'unpin_user_pages' : 'put_page', pins: m.as }));
  for (const h of preHandles) if (!released.has(h)) after.push(flow({ op: 'unpin_user_pages', pins: h }));
  if (c.assertBalanced) after.push(flow({ op: 'assert', that: 'vmstat_balanced' }));

  return [
    'name: verify-fuzz',
    `machine: { ${machine.join(', ')} }`,
    'steps:',
    ...[...mmaps, ...pre].map((l) => `  - ${l}`),
    '  - op: concurrent',
    '    threads:',
    ...threads,
    ...after.map((l) => `  - ${l}`),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The property

const endPages = (r: ReturnType<typeof explore>) => r.ends.map((e) => e.pages.join('|')).sort();

/** The verified search throws nothing and finds what the plain search finds. */
function verifyAgrees(yaml: string, maxStates = MAX_STATES): void {
  try {
    const sc = loadScenario(yaml, 'verify-fuzz.yaml');
    // The scenario runs as `gupsim run` has it (the threads one after the other): the generator's scenarios
    // are ones the runner takes.
    runScenario(sc);
    const checked = explore(sc, { verify: true, examples: 0, maxStates });
    const plain = explore(sc, { examples: 0, maxStates });
    expect(checked.states).toBe(plain.states);
    expect(checked.truncated).toBe(plain.truncated);
    expect(endPages(checked)).toEqual(endPages(plain));
    expect(checked.violations.map((v) => v.property).sort()).toEqual(plain.violations.map((v) => v.property).sort());
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    err.message = `${err.message}\n--- scenario (maxStates ${maxStates}) ---\n${yaml}`;
    throw err;
  }
}

describe('gupsim explore: the journal in verify mode on random races', () => {
  it('every generated scenario loads, and names what the generator meant', () => {
    fc.assert(
      fc.property(rawCase, (c) => {
        const sc = loadScenario(build(c), 'verify-fuzz.yaml');
        const block = sc.steps.find((s) => s.op === 'concurrent');
        expect(block?.op === 'concurrent' && Object.keys(block.threads).length).toBe(c.threads.length);
        // Every handle a GUP step makes has a name of its own.
        const names = sc.steps
          .flatMap((s) => (s.op === 'concurrent' ? Object.values(s.threads).flat() : [s]))
          .flatMap((s) => ('as' in s && s.op !== 'mmap' && s.as !== undefined ? [s.as] : []));
        expect(new Set(names).size).toBe(names.length);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it(
    'no point writes outside its footprint, every step back is exact, and the search finds what it finds unverified',
    () => {
      fc.assert(
        fc.property(rawCase, (c) => verifyAgrees(build(c))),
        { numRuns: RUNS, seed: SEED },
      );
    },
    TIMEOUT,
  );
});
