// Experiment 6: DMA buffers across fork. A process registers a buffer with a device (an RDMA MR:
// ib_umem_get(), an io_uring fixed buffer: io_sqe_buffers_register(), both FOLL_PIN | FOLL_LONGTERM;
// or an old-style driver holding get_user_pages_fast() references, FOLL_GET), with and without
// MADV_DONTFORK, then forks; parent and child then write to the buffer in some order, and the device
// writes a value of its own into every frame it holds. Where each device write lands is what parent
// and child then read at the buffer (page contents, highmem.ts); frame identity (frames.ts) is
// checked to agree. kernel/fork.c + mm/memory.c copy_present_page(): with MMF_HAS_PINNED, an exclusive
// anon page that folio_maybe_dma_pinned() reports is copied for the child at fork, so the parent
// keeps the pinned frame; VM_DONTCOPY (MADV_DONTFORK) leaves the range out of the child.

import { PAGE_SIZE, PMD_SIZE } from '../../mm/memmap.js';
import { do_madvise } from '../../mm/madvise.js';
import { userAccess } from '../../mm/user_access.js';
import { get_user_pages_fast } from '../../mm/gup.js';
import { FOLL_WRITE } from '../../mm/foll_flags.js';
import type { Machine } from '../../mm/machine.js';
import { memcpy_to_page, pageValue } from '../../mm/highmem.js';
import { kernel_clone } from '../../kernel/fork.js';
import { ib_umem_get } from '../../consumers/rdma.js';
import { io_uring_setup, io_sqe_buffers_register } from '../../consumers/io_uring.js';
import type { Process } from '../../mm/task.js';
import { buffer, kindInfo, type FolioKind } from './world.js';
import { deviceWriteReaches, mappedFrame, mrFrames, ubufFrames, type Reach } from './frames.js';
import { comparisonTable, pct } from './report.js';
import { fmtNumber } from './format.js';
import {
  defineExperiment,
  type Outcome,
  type Plot,
  type ReportBody,
  type ShardContext,
  type ShardSpec,
  type Table,
} from './types.js';
import type { KernelProfile } from '../../mm/profile.js';

export type Consumer = 'rdma' | 'io_uring' | 'get';
export type WriteOrder = 'none' | 'parent' | 'child' | 'child-then-parent';

const KINDS: FolioKind[] = ['small', 'thp'];
const BYTES: Record<string, number> = { small: 64 * PAGE_SIZE, thp: PMD_SIZE };
const CONSUMERS: Consumer[] = ['rdma', 'io_uring', 'get'];
export const ORDERS: WriteOrder[] = ['none', 'parent', 'child', 'child-then-parent'];

const CONSUMER_LABEL: Record<Consumer, string> = {
  rdma: 'RDMA MR (FOLL_PIN)',
  io_uring: 'io_uring buffer (FOLL_PIN)',
  get: 'get_user_pages (FOLL_GET)',
};
const ORDER_LABEL: Record<WriteOrder, string> = {
  none: 'nobody writes',
  parent: 'parent writes',
  child: 'child writes',
  'child-then-parent': 'child, then parent writes',
};

interface Params {
  kind: FolioKind;
}

export interface CaseResult {
  consumer: Consumer;
  dontfork: boolean;
  order: WriteOrder;
  pages: number;
  copiedAtFork: number;
  /** The child's write faulted (SIGSEGV): no mapping there after MADV_DONTFORK. */
  childSegv: boolean;
  reach: Record<Reach, number>;
  /** Every page's answer by data is the one frame identity gives (deviceWriteReaches()). */
  framesAgree: boolean;
}

interface Result {
  kind: FolioKind;
  cases: CaseResult[];
}

/** The frames the device writes to, after registering the buffer as `consumer`. */
function register(m: Machine, p: Process, c: Consumer, addr: number, bytes: number): Int32Array {
  if (c === 'rdma') {
    const mr = ib_umem_get(m, p, 'mr', addr, bytes, true);
    if (typeof mr === 'number') throw new Error(`gupsim experiment: ib_umem_get returned ${mr}`);
    return mrFrames(mr);
  }
  if (c === 'io_uring') {
    const ring = io_uring_setup(m, 'ring', p);
    if (typeof ring === 'number') throw new Error(`gupsim experiment: io_uring_setup returned ${ring}`);
    const r = io_sqe_buffers_register(m, ring, [{ base: addr, len: bytes }]);
    if (r !== 0) throw new Error(`gupsim experiment: io_uring register returned ${r}`);
    return ubufFrames(ring.bufs[0]!);
  }
  const pages = new Int32Array(bytes / PAGE_SIZE);
  const r = get_user_pages_fast(m, p, addr, pages.length, FOLL_WRITE, pages);
  if (r !== pages.length) throw new Error(`gupsim experiment: get_user_pages_fast returned ${r}`);
  return pages;
}

/** What parent and child store, and the device's values (DEVICE_VALUE + page index). */
const PARENT_VALUE = 0x11111111;
const CHILD_VALUE = 0x22222222;
const DEVICE_VALUE = 0x40000000;

/** What `who` reads at `a` (a load: it may fault the page in), or null when the load faults (SIGSEGV). */
function readValue(m: Machine, who: Process, a: number): number | null {
  if (!who.alive) return null;
  let v: number | null = null;
  return userAccess(m, who, a, PAGE_SIZE, false, (pfn) => (v = pageValue(m, pfn))) === 0 ? v : null;
}

/** Which processes saw the device's value. */
function reachOf(parent: boolean, child: boolean): Reach {
  return parent && child ? 'both' : parent ? 'parent' : child ? 'child' : 'nobody';
}

function runCase(
  kind: FolioKind,
  consumer: Consumer,
  dontfork: boolean,
  order: WriteOrder,
  profile: KernelProfile,
): CaseResult {
  const bytes = BYTES[kind]!;
  const pages = bytes / PAGE_SIZE;
  const { m, p, addr } = buffer(kind, bytes, { spare: 64 * 2 ** 20, profile });
  if (dontfork && do_madvise(m, p, addr, bytes, 'dontfork') !== 0)
    throw new Error('gupsim experiment: MADV_DONTFORK failed');
  const device = register(m, p, consumer, addr, bytes);
  const child = kernel_clone(m, p, 'child');
  if (typeof child === 'number') throw new Error(`gupsim experiment: fork returned ${child}`);
  let copiedAtFork = 0;
  for (let i = 0; i < pages; i++) {
    const c = mappedFrame(child, addr + i * PAGE_SIZE);
    if (c !== null && c !== mappedFrame(p, addr + i * PAGE_SIZE)) copiedAtFork++;
  }
  let childSegv = false;
  /** A store of `value` over the whole buffer by `who` (a value per writer, so a read says whose it is). */
  const write = (who: Process, value: number) => {
    const r = userAccess(m, who, addr, bytes, true, (pfn) => memcpy_to_page(m, pfn, value));
    if (r !== 0) {
      if (who !== child) throw new Error(`gupsim experiment: the parent's write returned ${r}`);
      childSegv = true;
    }
  };
  if (order === 'parent') write(p, PARENT_VALUE);
  if (order === 'child' || order === 'child-then-parent') write(child, CHILD_VALUE);
  if (order === 'child-then-parent') write(p, PARENT_VALUE);
  // The device writes a value of its own into each frame it holds; then each process reads its buffer.
  for (let i = 0; i < pages; i++) memcpy_to_page(m, device[i]!, DEVICE_VALUE + i);
  const reach: Record<Reach, number> = { parent: 0, child: 0, both: 0, nobody: 0 };
  let framesAgree = true;
  for (let i = 0; i < pages; i++) {
    const a = addr + i * PAGE_SIZE;
    const seen = (who: Process) => readValue(m, who, a) === DEVICE_VALUE + i;
    const r = reachOf(seen(p), seen(child));
    reach[r]++;
    framesAgree &&= r === deviceWriteReaches(device[i]!, mappedFrame(p, a), mappedFrame(child, a));
  }
  return { consumer, dontfork, order, pages, copiedAtFork, childSegv, reach, framesAgree };
}

function run(kind: FolioKind, ctx: ShardContext): Result {
  const cases: CaseResult[] = [];
  const total = CONSUMERS.length * 2 * ORDERS.length;
  for (const consumer of CONSUMERS)
    for (const dontfork of [false, true])
      for (const order of ORDERS) {
        cases.push(runCase(kind, consumer, dontfork, order, ctx.profile));
        ctx.progress(cases.length, total);
      }
  return { kind, cases };
}

/** "parent 64" or "child 32, nobody 32": where the device's writes went. */
export function reachText(c: CaseResult): string {
  const parts = (['parent', 'both', 'child', 'nobody'] as Reach[])
    .filter((r) => c.reach[r] > 0)
    .map((r) => `${r === 'both' ? 'both' : r} ${c.reach[r]}`);
  return parts.join(', ') + (c.childSegv ? ' (child: SIGSEGV)' : '');
}

/** Device writes the parent sees (alone or with the child). */
const toParent = (c: CaseResult) => c.reach.parent + c.reach.both;

/** The verdict from the data: exported for the test that checks it follows from the data. */
export function verdictOf(f: {
  pinAlwaysParent: boolean;
  getLosesSomewhere: boolean;
  getDontforkAlwaysParent: boolean;
}): Outcome {
  // "just calling get_user_pages() will not suffice; a new set of functions, pin_user_page() and related, must be used"
  if (!f.pinAlwaysParent || !f.getLosesSomewhere) return 'does not hold';
  // MADV_DONTFORK makes FOLL_GET references safe across fork too (what libibverbs' ibv_fork_init() relied on).
  return f.getDontforkAlwaysParent ? 'holds with a caveat' : 'holds';
}

function setupName(c: CaseResult): string {
  return `${CONSUMER_LABEL[c.consumer]}${c.dontfork ? ' + MADV_DONTFORK' : ''}`;
}

function report(results: Result[]): ReportBody {
  const all = results.flatMap((r) => r.cases);
  const isPin = (c: CaseResult) => c.consumer !== 'get';
  const facts = {
    pinAlwaysParent: all.filter(isPin).every((c) => toParent(c) === c.pages),
    getLosesSomewhere: all.filter((c) => c.consumer === 'get' && !c.dontfork).some((c) => toParent(c) < c.pages),
    getDontforkAlwaysParent: all
      .filter((c) => c.consumer === 'get' && c.dontfork)
      .every((c) => toParent(c) === c.pages),
    pinCopiedAtForkSmall: results[0]!.cases.find((c) => isPin(c) && !c.dontfork)!.copiedAtFork,
    pinCopiedAtForkThp: results[1]!.cases.find((c) => isPin(c) && !c.dontfork)!.copiedAtFork,
    getParentWritesToChild: all
      .filter((c) => c.consumer === 'get' && !c.dontfork && c.order === 'parent')
      .every((c) => c.reach.child === c.pages),
    getBothWriteToNobody: all
      .filter((c) => c.consumer === 'get' && !c.dontfork && c.order === 'child-then-parent')
      .every((c) => c.reach.nobody === c.pages),
    dataAgreesWithFrames: all.every((c) => c.framesAgree),
  };
  const outcome = verdictOf(facts);
  const tables: Table[] = results.map((r) => {
    const info = kindInfo(r.kind);
    const setups = CONSUMERS.flatMap((consumer) => [false, true].map((dontfork) => ({ consumer, dontfork })));
    return comparisonTable(
      `${info.label} buffer (${fmtNumber(r.cases[0]!.pages)} pages): where the device's writes land`,
      'setup',
      [{ label: 'pages copied at fork' }, ...ORDERS.map((o) => ({ label: ORDER_LABEL[o] }))],
      setups.map((s) => {
        const cs = ORDERS.map((o) =>
          r.cases.find((c) => c.consumer === s.consumer && c.dontfork === s.dontfork && c.order === o)!,
        );
        return { name: setupName(cs[0]!), values: [cs[0]!.copiedAtFork, ...cs.map(reachText)] };
      }),
      [
        "Each cell: how many of the buffer's pages a device write reaches in the parent, the child, both (the " +
          'same frame mapped by both, no copy yet) or nobody (the device holds a frame no process maps any more).',
      ],
    );
  });
  const plots: Plot[] = results.map((r) => ({
    id: `reach-${r.kind}`,
    title: `${kindInfo(r.kind).label} buffer: device writes the parent sees, by what happens after fork`,
    x: { label: 'after fork', categories: ORDERS.map((o) => ORDER_LABEL[o]) },
    y: { label: 'device writes seen by the parent (% of pages)', min: 0, max: 100 },
    series: CONSUMERS.flatMap((consumer) =>
      [false, true].map((dontfork) => ({
        name: setupName({ consumer, dontfork } as CaseResult),
        style: 'points' as const,
        points: ORDERS.map((o, i): [number, number] => {
          const c = r.cases.find((x) => x.consumer === consumer && x.dontfork === dontfork && x.order === o)!;
          return [i, pct(toParent(c), c.pages, 1)];
        }),
      })),
    ),
    caption:
      "Each point: the share of the buffer's pages whose device write the parent sees, for one setup (marker) " +
      'and one sequence after fork (column).',
  }));
  const buffers = KINDS.map((k) => `${fmtNumber(BYTES[k]! / PAGE_SIZE)} pages of ${kindInfo(k).label}`).join(', and ');
  return {
    method: [
      `A private anonymous buffer (${buffers}), ` +
        `written, then registered with a device: an RDMA MR (ib_umem_get), an io_uring fixed buffer ` +
        `(IORING_REGISTER_BUFFERS), both FOLL_PIN | FOLL_LONGTERM, or an old-style driver holding ` +
        `get_user_pages_fast() references (FOLL_GET); with and without MADV_DONTFORK on the buffer. Then fork, ` +
        `then one of: nobody writes, the parent writes the whole buffer, the child does, the child and then the ` +
        `parent. Every case starts from a fresh machine.`,
      'Parent and child store values of their own; then the device writes a value of its own into every ' +
        'frame it holds, and each process reads its buffer: a device write reaches a process if it reads the ' +
        "device's value there (a load that faults, the child's after MADV_DONTFORK, reads nothing). Frame " +
        "identity (does the process map the device's frame?) gives the same answer for every page: " +
        `${facts.dataAgreesWithFrames ? 'checked, it does' : 'checked, and it does NOT (a gupsim bug)'}. "Pages ` +
        'copied at fork": pages the child maps at a different frame than the parent right after fork.',
    ],
    tables,
    plots,
    verdict: {
      outcome,
      text:
        `With FOLL_PIN (RDMA, io_uring) every device write reaches the parent in every order, because fork ` +
        `copies the pinned pages for the child (${facts.pinCopiedAtForkSmall} small pages, ` +
        `${facts.pinCopiedAtForkThp} pages of the THP). With FOLL_GET references and no MADV_DONTFORK, once ` +
        `the parent writes, the device's writes go to the child ` +
        `(${facts.getParentWritesToChild ? 'every page' : 'some pages'}), and after both write to nobody. ` +
        (facts.getDontforkAlwaysParent
          ? 'MADV_DONTFORK alone also keeps FOLL_GET buffers in the parent: the child never maps them.'
          : ''),
    },
    findings: [
      'Without writes nothing is lost in any setup: until someone writes, parent and child share the frame (COW) ' +
        'and a device write is seen by both.',
      'MADV_DONTFORK costs the child its view of the buffer (its write is a SIGSEGV) but no copy; FOLL_PIN costs ' +
        'a copy of every pinned page at fork, THP included (the PMD is split and its 512 pages are copied).',
    ],
    limits: [
      'A page holds one value (page-granular contents): a write of part of a page is not modelled. Shared ' +
        '(MAP_SHARED) buffers are not covered: fork shares them, so every write is seen by both.',
    ],
    facts,
  };
}

export const forkPins = defineExperiment<Params, Result>({
  number: 6,
  name: 'fork',
  title: 'Fork and pins: where device writes land',
  question:
    'An RDMA or io_uring buffer is pinned, then the process forks and parent or child write to it: which ' +
    "process sees the device's writes, with and without MADV_DONTFORK, and with FOLL_GET references instead " +
    'of pins? How many pages does fork copy?',
  claims: [
    {
      section: 'Tracking dma-pinned pages',
      quote:
        'Callers must specifically request "dma-pinned tracking of pages". In other words, just calling ' +
        'get_user_pages() will not suffice; a new set of functions, pin_user_page() and related, must be used.',
    },
  ],
  shards(): ShardSpec<Params>[] {
    return KINDS.map((kind) => ({ label: `fork with a ${kindInfo(kind).label} buffer`, params: { kind }, cost: 0.3 }));
  },
  runShard: (params, ctx) => run(params.kind, ctx),
  report: (results) => report(results),
});
