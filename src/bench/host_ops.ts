// The host kernel's side of the per-path benchmark (ops.ts): the C helper host_ops.c runs the same
// syscalls (touch pages, fork, munmap, exit, IORING_(UN)REGISTER_BUFFERS) on base pages, THPs and
// 64 KiB mTHPs, timing CPU time. The mTHP rows need /sys/kernel/mm/transparent_hugepage settings
// (top level madvise, 2M inherit, 64K always): they are changed under the probe's host lock and put
// back afterwards, as the probe does (src/probe/host.ts HostSession).
//
// Nothing here throws for a host that cannot measure: rows it cannot give are left out, with the reason.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildHostHelper, errorText } from './host.js';
import { median } from './pin.js';
import { OPS, MTHP_BENCH_SIZE, type OpBacking, type OpTimes } from './ops.js';
import { HostSession, type HostSetting } from '../probe/host.js';

const MiB = 1 << 20;
const THP = '/sys/kernel/mm/transparent_hugepage';

export interface HostOpRow {
  backing: OpBacking;
  bytes: number;
  ns_per_page: OpTimes;
  /** Timed runs (after one warm-up run). */
  runs: number;
}

export interface HostOpsResult {
  kernel: string;
  rows: HostOpRow[];
  /** Backings or sizes the host could not measure, with why. */
  skipped: string[];
}

/** The THP settings the rows run under: the model's machine (thp madvise, 2M inherit, 64K always). */
export const HOST_OP_SETTINGS: HostSetting[] = [
  { what: 'THP enabled', path: `${THP}/enabled`, want: 'madvise', kind: 'selector' },
  { what: 'mTHP 2M', path: `${THP}/hugepages-2048kB/enabled`, want: 'inherit', kind: 'selector' },
  {
    what: `mTHP ${MTHP_BENCH_SIZE}`,
    path: `${THP}/hugepages-64kB/enabled`,
    want: 'always',
    kind: 'selector',
  },
];

function hostRuns(bytes: number): number {
  if (bytes >= 1 << 30) return 3;
  if (bytes >= 64 * MiB) return 5;
  // A small region's exit is a few tens of microseconds, the difference of two process exits whose
  // noise on this kind of machine is as large: many runs, so that the median of the differences holds.
  return 31;
}

function kernelRelease(): string {
  try {
    return `Linux ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`;
  } catch {
    return 'Linux (unknown release)';
  }
}

type HelperRow = { backing: OpBacking; bytes: number } & Record<string, number[]>;

/** Run the helper for these rows; per-page medians (warm-up run dropped). */
function runHelper(path: string, specs: { backing: OpBacking; bytes: number }[]): HostOpRow[] | string {
  const args: string[] = [];
  for (const s of specs) args.push(s.backing, String(s.bytes / MiB), String(hostRuns(s.bytes) + 1));
  let out: string;
  try {
    out = execFileSync(path, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 900_000 });
  } catch (e) {
    return `host_ops failed: ${errorText(e)}`;
  }
  let parsed: { page_size: number; rows: HelperRow[] };
  try {
    parsed = JSON.parse(out);
  } catch {
    return `host_ops printed something unexpected: ${out.slice(0, 200)}`;
  }
  return parsed.rows.map((r) => {
    const pages = r.bytes / parsed.page_size;
    const per = (xs: number[]) => Math.round((median(xs.slice(1)) / pages) * 100) / 100;
    const ns = {} as OpTimes;
    for (const o of OPS) ns[o] = o === 'exit' ? 0 : per(r[o]!);
    // Exit: the region's share, the least exit of a worker with it less the least exit of one without.
    // An exit's CPU time is its work plus noise that only adds; at 1 MiB the share (10-60 us) is as small
    // as that noise, so run-by-run differences (and their median) could come out anywhere from 0 up.
    const least = (xs: number[]) => Math.min(...xs.slice(1));
    const share = Math.max(0, least(r.exit!) - least(r.exit_empty!));
    ns.exit = Math.round((share / pages) * 100) / 100;
    return { backing: r.backing, bytes: r.bytes, ns_per_page: ns, runs: r.fault!.length - 1 };
  });
}

/** Measure the host for each backing and size (whole MiB). */
export async function measureHostOps(
  backings: readonly OpBacking[],
  sizes: readonly number[],
): Promise<{ result: HostOpsResult | null; skipped?: string }> {
  if (process.platform !== 'linux') return { result: null, skipped: `not Linux (${process.platform})` };
  const usable = sizes.filter((b) => b > 0 && b % MiB === 0);
  if (usable.length === 0) return { result: null, skipped: 'no size is a whole number of MiB' };
  const built = buildHostHelper('host_ops.c');
  if ('error' in built) return { result: null, skipped: built.error };
  const skipped: string[] = [];
  let session: HostSession | undefined;
  let wanted = [...backings];
  // Base pages (MADV_NOHUGEPAGE) need no THP settings: no lock, nothing changed.
  if (wanted.some((b) => b !== 'base'))
    try {
      session = await HostSession.acquire(60_000);
      const problems = session.apply(HOST_OP_SETTINGS);
      if (problems.length) {
        // Without the settings only the base rows are the same machine as the model's.
        skipped.push(`thp and mthp rows: ${problems.join('; ')}`);
        wanted = wanted.filter((b) => b === 'base');
      }
    } catch (e) {
      skipped.push(`thp and mthp rows: ${(e as Error).message}`);
      wanted = wanted.filter((b) => b === 'base');
    }
  try {
    const specs = wanted.flatMap((backing) => usable.map((bytes) => ({ backing, bytes })));
    if (specs.length === 0) return { result: null, skipped: skipped.join('; ') };
    const rows = runHelper(built.path, specs);
    if (typeof rows === 'string') return { result: null, skipped: rows };
    return { result: { kernel: kernelRelease(), rows, skipped } };
  } finally {
    session?.restore();
  }
}
