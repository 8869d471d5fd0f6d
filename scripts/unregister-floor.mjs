// `node scripts/unregister-floor.mjs [MiB]`: what the bench's THP unregister row is made of (a measurement,
// never a test). The bench's pin worker registers a THP buffer, forks (the child copies the pinned buffer,
// then exits) and unregisters; this runs the same cycle and, in every other cycle, first only reads what
// the unpin of each folio reads (the head's flags, its refcount and the pincount beside it), then
// unregisters. The read pass alone is the floor of any unpin that must read those words; the unregister
// after it is the unpin's own work, with the words in cache. Medians of CPU time per 2 MiB folio, so at
// least 256 MiB (a smaller buffer's unregister is a few microseconds, too short for the CPU clock).
// Needs `npm run build` first.
import { opMachine } from '../dist/bench/ops.js';
import { do_mmap } from '../dist/mm/mmap.js';
import { do_madvise } from '../dist/mm/madvise.js';
import { userAccess } from '../dist/mm/user_access.js';
import { kernel_clone } from '../dist/kernel/fork.js';
import { do_exit } from '../dist/kernel/exit.js';
import { io_uring_setup, io_sqe_buffers_register, io_sqe_buffers_unregister } from '../dist/consumers/io_uring.js';
import { PMD_SIZE } from '../dist/mm/memmap.js';

const bytes = Number(process.argv[2] ?? 1024) << 20;
if (!(bytes >= 256 << 20 && bytes <= 1 << 30 && bytes % PMD_SIZE === 0)) {
  console.error('unregister-floor: the size is MiB, a multiple of 2 from 256 to 1024');
  process.exit(2);
}
const cycles = Math.max(32, Math.ceil(2 ** 34 / bytes));
const folios = bytes / PMD_SIZE;
const clock = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Read each entry's folio counts once; the sum is kept so the reads are not optimised away. */
let sink = 0;
function readCounts(m, pages) {
  const { flags, refcount } = m.mem;
  let x = 0;
  for (let k = 0; k < pages.length; k++) {
    const p = pages[k];
    x ^= flags[p] ^ refcount[p] ^ refcount[p + 1];
  }
  sink ^= x;
}

const m = opMachine(bytes);
const t = { unregister: [], read: [], unregisterAfterRead: [] };
for (let c = 0; c < 2 * cycles; c++) {
  const p = m.spawn('bench');
  const ring = io_uring_setup(m, 'bench-ring', p);
  const addr = do_mmap(m, p, { size: bytes, type: 'anon', align: PMD_SIZE });
  do_madvise(m, p, addr, bytes, 'hugepage');
  userAccess(m, p, addr, bytes, true);
  if (io_sqe_buffers_register(m, ring, [{ base: addr, len: bytes }]) !== 0) throw new Error('register failed');
  do_exit(m, kernel_clone(m, p, 'bench-child'));
  let t0 = clock();
  if (c % 2) {
    readCounts(m, ring.bufs[0].bvecPages);
    t.read.push(clock() - t0);
    t0 = clock();
  }
  io_sqe_buffers_unregister(m, ring);
  (c % 2 ? t.unregisterAfterRead : t.unregister).push(clock() - t0);
  do_exit(m, p);
}
const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
for (const [k, v] of Object.entries(t)) {
  const warm = v.slice(v.length >> 2); // the first quarter warms V8 up
  console.log(`${k}: ${((median(warm) * 1e6) / folios).toFixed(0)} ns per folio`);
}
if (sink === 0.5) console.log(sink);
