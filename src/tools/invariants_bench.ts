// What the invariant checker (invariants.ts) costs on a big machine: a figure for `gupsim bench`, since
// no test measures time. The checker walks every page table and every allocated folio, so the figure
// grows with the machine and with what is mapped; a 1 GiB machine with 256 MiB faulted in is the size
// the property tests' checks must stay cheap at.

import { Machine } from '../mm/machine.js';
import { do_mmap } from '../mm/mmap.js';
import { userAccess } from '../mm/user_access.js';
import { checkInvariants } from './invariants.js';

const MiB = 1 << 20;
const GiB = 1 << 30;

/** The `invariants` object of the benchmark JSON. */
export interface InvariantsResult {
  machine_bytes: number;
  faulted_bytes: number;
  /** Wall time of one checkInvariants() of the whole machine. */
  seconds: number;
}

/**
 * Time one checkInvariants() of a machine with one process that has `faulted` bytes of private anon
 * memory written. Throws if the checker finds anything wrong: the machine is sound, so that is a bug.
 */
export function benchInvariants(opts: { memory?: number; faulted?: number } = {}): InvariantsResult {
  const memory = opts.memory ?? GiB;
  const faulted = opts.faulted ?? 256 * MiB;
  const m = new Machine({ memory });
  const p = m.spawn('bench');
  const addr = do_mmap(m, p, { size: faulted, type: 'anon' });
  if (addr < 0) throw new Error(`benchInvariants: mmap of ${faulted} bytes failed (${addr})`);
  const faultRet = userAccess(m, p, addr, faulted, true);
  if (faultRet !== 0) throw new Error(`benchInvariants: faulting ${faulted} bytes in failed (${faultRet})`);
  const t0 = performance.now();
  const problems = checkInvariants(m);
  const seconds = (performance.now() - t0) / 1000;
  if (problems.length) throw new Error(`benchInvariants: a sound machine broke an invariant: ${problems[0]}`);
  return { machine_bytes: memory, faulted_bytes: faulted, seconds: Math.round(seconds * 1000) / 1000 };
}
