// `gupsim bench [--json] [--quick] [--sizes 1M,64M] [--no-host]`: the model's pin/unpin cost per page,
// its metadata per page, the 64 GiB machine, the invariant checker's cost on a 1 GiB machine, and the
// host kernel's io_uring registration cost measured in the same run (DESIGN.md "Benchmark JSON",
// "Performance targets"). Prints a table, or the JSON.

import type { Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  benchPin,
  benchBig,
  metadataBytesPerPage,
  pgtableBytesPerPage,
  DEFAULT_SIZES,
  type Backing,
  type BigResult,
  type PinRow,
} from '../bench/pin.js';
import { measureHost, type HostResult } from '../bench/host.js';
import { OPS, OP_BACKINGS, type ModelOpRow, type OpBacking, type OpName, type OpTimes } from '../bench/ops.js';
import { benchOpsIsolated } from '../bench/ops_process.js';
import { measureHostOps, type HostOpRow, type HostOpsResult } from '../bench/host_ops.js';
import { benchSnapshot, type SnapshotResult } from '../bench/snapshot.js';
import { benchCliStart, type CliStartResult } from '../bench/cli_start.js';
import { benchInvariants, type InvariantsResult } from '../tools/invariants_bench.js';
import { UserError } from './errors.js';
import { PAGE_SIZE } from '../mm/memmap.js';

export interface BenchOptions {
  /** Skip the 1 GiB rows, the big machine and the invariant checker's figure. */
  quick?: boolean;
  /** Buffer sizes in bytes (default 1 MiB, 64 MiB, 1 GiB). */
  sizes?: readonly number[];
  /** Measure the host kernel too (default true). */
  host?: boolean;
  /** Build the 64 GiB machine (default: unless quick). */
  big?: boolean;
}

export interface BenchResult {
  schemaVersion: 1;
  pin: PinRow[];
  /** The model's struct page, in bytes per simulated 4 KiB page (the kernel's is 64). */
  metadata_bytes_per_page: number;
  /** The same once page contents are in use (a scenario that stores values: MemMap.data). */
  metadata_bytes_per_page_with_data: number;
  /** PTE-table bytes per mapped base page (the kernel's PTEs are 8 bytes). */
  pgtable_bytes_per_page: number;
  big: BigResult | null;
  /** checkInvariants() of a 1 GiB machine with 256 MiB faulted in (null with --quick). */
  invariants: InvariantsResult | null;
  host: HostResult | null;
  host_skipped?: string;
  /** Every timed path, model beside host, per backing and size (ns per 4 KiB page, medians). */
  ops: OpsRow[];
  /** Which host kernel the ops rows were measured on, and what it could not measure (null: not measured). */
  ops_host: { kernel: string; skipped: string[] } | null;
  /** Machine snapshot and restore beside one memcpy of the same bytes (64 GiB machine; 256 MiB with --quick). */
  snapshot: SnapshotResult;
  /** CLI start beside `node -e 0` (null with --quick, or the reason it was not measured). */
  cli_start: CliStartResult | { skipped: string } | null;
}

/** One path of `ops`: the model's and the host kernel's cost per page, and model / host. */
export interface OpsRow {
  op: OpName;
  backing: OpBacking;
  bytes: number;
  model_ns_per_page: number;
  host_ns_per_page: number | null;
  ratio: number | null;
}

/** A row whose every path has the lower of two measurements' figures. */
function lowerOf<R extends { ns_per_page: OpTimes }>(a: R, b: R): R {
  const ns = {} as OpTimes;
  for (const op of OPS) ns[op] = Math.min(a.ns_per_page[op], b.ns_per_page[op]);
  return { ...a, ns_per_page: ns };
}

/** The ops rows: each path of benchOps() beside the host's figure for the same backing and size. */
export function opsRows(model: ModelOpRow[], host: HostOpsResult | null): OpsRow[] {
  const out: OpsRow[] = [];
  for (const r of model) {
    const h = host?.rows.find((x) => x.backing === r.backing && x.bytes === r.bytes);
    for (const op of OPS) {
      const mv = r.ns_per_page[op];
      const hv = h ? h.ns_per_page[op] : null;
      const ratio = hv !== null && hv > 0 ? Math.round((mv / hv) * 1000) / 1000 : null;
      out.push({ op, backing: r.backing, bytes: r.bytes, model_ns_per_page: mv, host_ns_per_page: hv, ratio });
    }
  }
  return out;
}

const GiB = 1 << 30;

/** Parse "1M,64M,1G" (K/M/G, KiB/MiB/GiB, or plain bytes) into byte counts. */
export function parseSizes(text: string): number[] {
  return text.split(',').map((part) => {
    const s = part.trim();
    const m = /^(\d+)\s*(?:([KMG])(?:i?B)?|B)?$/i.exec(s);
    if (!m) throw new UserError('ERR_USAGE', `--sizes: cannot read "${s}" (use e.g. 1M,64M,1G)`);
    const unit = m[2] ? { K: 1 << 10, M: 1 << 20, G: GiB }[m[2].toUpperCase() as 'K' | 'M' | 'G'] : 1;
    const bytes = Number(m[1]) * unit;
    if (bytes <= 0 || bytes % PAGE_SIZE !== 0)
      throw new UserError('ERR_USAGE', `--sizes: "${s}" is not a positive multiple of 4 KiB`);
    if (bytes > 4 * GiB) throw new UserError('ERR_USAGE', `--sizes: "${s}" is above the 4 GiB the benchmark allows`);
    return bytes;
  });
}

/** A full GC if the runtime lets us have one (--expose-gc, or exposed on demand through V8 flags). */
function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function heapNow(): number {
  const u = process.memoryUsage();
  return u.heapUsed + u.arrayBuffers;
}

/** Run the benchmark and return DESIGN.md's JSON object. Throws if the model gives a wrong answer. */
export async function runBench(opts: BenchOptions = {}): Promise<BenchResult> {
  let sizes = [...(opts.sizes ?? DEFAULT_SIZES)].sort((a, b) => a - b);
  if (opts.quick) sizes = sizes.filter((b) => b < GiB);
  const pin: PinRow[] = [];
  for (const backing of ['base', 'thp'] as Backing[]) for (const bytes of sizes) pin.push(benchPin(backing, bytes));
  const metadata = metadataBytesPerPage();
  const pgtable = pgtableBytesPerPage();
  const big = (opts.big ?? !opts.quick) ? benchBig({ heap: heapNow, gc: findGc() }) : null;
  const result: BenchResult = {
    schemaVersion: 1,
    pin,
    metadata_bytes_per_page: metadata,
    metadata_bytes_per_page_with_data: metadataBytesPerPage(true),
    pgtable_bytes_per_page: pgtable,
    big,
    invariants: opts.quick ? null : benchInvariants(),
    host: null,
    ops: [],
    ops_host: null,
    snapshot: opts.quick ? benchSnapshot({ memory: GiB / 4, faulted: GiB / 16, runs: 3 }) : benchSnapshot(),
    cli_start: opts.quick ? null : benchCliStart(),
  };
  const host = opts.host ?? true;
  if (host) {
    const h = measureHost(sizes);
    result.host = h.host;
    if (h.skipped !== undefined) result.host_skipped = h.skipped;
  } else {
    result.host_skipped = 'not requested (--no-host)';
  }
  // Each row's model and host figures one after the other, so that the load other users put on the
  // machine falls on both alike; twice over (model, host, model, host), each side keeping the lower of
  // its two medians per path, so that a burst of load during one of them does not decide the row.
  // --quick: once, fewer runs and a shorter warm-up (a smoke test of the paths, not figures to quote).
  const modelOps: ModelOpRow[] = [];
  const hostOps: HostOpsResult = { kernel: 'not measured', rows: [], skipped: [] };
  const rounds = opts.quick ? 1 : 2;
  for (const b of OP_BACKINGS)
    for (const bytes of sizes) {
      let model: ModelOpRow | undefined;
      let hostRow: HostOpRow | undefined;
      for (let r = 0; r < rounds; r++) {
        const mr = opts.quick ? benchOpsIsolated(b, bytes, 3, 1 << 16) : benchOpsIsolated(b, bytes);
        model = model ? lowerOf(model, mr) : mr;
        if (!host) continue;
        const ho = await measureHostOps([b], [bytes]);
        if (ho.result) {
          hostOps.kernel = ho.result.kernel;
          const hr = ho.result.rows[0];
          if (hr) hostRow = hostRow ? lowerOf(hostRow, hr) : hr;
        }
        for (const why of ho.result?.skipped ?? [ho.skipped ?? 'unknown reason'])
          if (!hostOps.skipped.includes(why)) hostOps.skipped.push(why);
      }
      modelOps.push(model!);
      if (hostRow) hostOps.rows.push(hostRow);
    }
  if (host) result.ops_host = { kernel: hostOps.kernel, skipped: hostOps.skipped };
  result.ops = opsRows(modelOps, host ? hostOps : null);
  return result;
}

function fmtBytes(b: number): string {
  if (b >= GiB && b % GiB === 0) return `${b / GiB} GiB`;
  if (b >= 1 << 20 && b % (1 << 20) === 0) return `${b / (1 << 20)} MiB`;
  if (b % 1024 === 0) return `${b / 1024} KiB`;
  return `${b} B`;
}

const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
const ns = (x: number) => x.toFixed(1);
const ns2 = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));

/** The human-readable report. */
export function formatBench(r: BenchResult): string {
  const out: string[] = [];
  out.push(
    'pin_user_pages_fast(FOLL_WRITE|FOLL_LONGTERM) + unpin_user_pages, pre-faulted private anon (ns per 4 KiB ' +
      'page, medians)',
  );
  out.push(
    `${pad('backing', 8)}${lpad('size', 9)}${lpad('pin', 9)}${lpad('unpin', 9)}${lpad('total', 9)}` +
      `${lpad('host', 9)}  runs`,
  );
  for (const row of r.pin) {
    const hostRow = row.backing === 'base' ? r.host?.rows.find((h) => h.bytes === row.bytes) : undefined;
    const host = hostRow ? ns(hostRow.register_ns_per_page + hostRow.unregister_ns_per_page) : '-';
    out.push(
      `${pad(row.backing, 8)}${lpad(fmtBytes(row.bytes), 9)}${lpad(ns(row.pin_ns_per_page), 9)}` +
        `${lpad(ns(row.unpin_ns_per_page), 9)}` +
        `${lpad(ns(row.pin_ns_per_page + row.unpin_ns_per_page), 9)}${lpad(host, 9)}  ${row.runs}`,
    );
  }
  out.push('');
  if (r.host) {
    out.push(
      `host (${r.host.kernel}): io_uring register + unregister of ${fmtBytes(r.host.bytes)} of base pages: ` +
        `${ns(r.host.register_ns_per_page)} + ${ns(r.host.unregister_ns_per_page)} ns per page`,
    );
  } else {
    out.push(`host: skipped (${r.host_skipped ?? 'unknown reason'})`);
  }
  out.push('');
  out.push('per path: model vs host kernel, ns per 4 KiB page (CPU time, medians); ratio = model / host');
  out.push(
    `${pad('path', 12)}${pad('backing', 8)}${lpad('size', 9)}` +
      `${lpad('model', 10)}${lpad('host', 10)}${lpad('ratio', 8)}`,
  );
  for (const o of r.ops) {
    out.push(
      `${pad(o.op, 12)}${pad(o.backing, 8)}${lpad(fmtBytes(o.bytes), 9)}${lpad(ns2(o.model_ns_per_page), 10)}` +
        `${lpad(o.host_ns_per_page === null ? '-' : ns2(o.host_ns_per_page), 10)}` +
        `${lpad(o.ratio === null ? '-' : o.ratio.toFixed(2), 8)}`,
    );
  }
  if (r.ops_host) {
    const missing = r.ops_host.skipped;
    out.push(`host: ${r.ops_host.kernel}${missing.length ? `; not measured: ${missing.join('; ')}` : ''}`);
  }
  const sn = r.snapshot;
  out.push('');
  out.push(
    `snapshot of a ${fmtBytes(sn.machine_bytes)} machine (${fmtBytes(sn.faulted_bytes)} faulted, ` +
      `${(sn.copied_bytes / (1 << 20)).toFixed(0)} MiB of page state and page tables), ns per simulated page:`,
  );
  out.push(
    `  snapshot ${ns2(sn.snapshot_ns_per_page)}, restore ${ns2(sn.restore_ns_per_page)}, one .set() of the same ` +
      `bytes ${ns2(sn.memcpy_ns_per_page)}: ` +
      `${sn.snapshot_ratio.toFixed(2)}x and ${sn.restore_ratio.toFixed(2)}x memcpy`,
  );
  out.push(
    `  ${fmtBytes(sn.small.machine_bytes)} machine: snapshot ${sn.small.snapshot_us} us, restore ` +
      `${sn.small.restore_us} us, ${sn.small.pairs_per_second} snapshot+restore pairs per second`,
  );
  const cs = r.cli_start;
  if (cs === null) out.push('cli start: skipped (--quick)');
  else if ('skipped' in cs) out.push(`cli start: skipped (${cs.skipped})`);
  else
    out.push(
      `cli start (wall ms / CPU ms, medians): node -e 0 ${cs.node_ms} / ${cs.node_cpu_ms}; gupsim --version ` +
        `${cs.version_ms} / ${cs.version_cpu_ms} (${cs.version_ratio}x / ${cs.version_cpu_ratio}x); gupsim run ` +
        `${cs.scenario} ${cs.run_ms} / ${cs.run_cpu_ms} (${cs.run_ratio}x / ${cs.run_cpu_ratio}x)`,
    );
  out.push('');
  out.push(
    `metadata: ${r.metadata_bytes_per_page} bytes per simulated page (kernel struct page: 64), ` +
      `${r.metadata_bytes_per_page_with_data} with page contents in use; page tables: ` +
      `${r.pgtable_bytes_per_page} bytes per mapped page (kernel: 8)`,
  );
  if (r.big) {
    const b = r.big;
    const heap =
      b.heap_bytes === null
        ? 'not measured'
        : `${(b.heap_bytes / (1 << 20)).toFixed(0)} MiB of ` +
          `heap${b.heap_after_gc ? '' : ' (no GC available: ' + 'includes garbage)'}`;
    out.push(
      `big: ${fmtBytes(b.machine_bytes)} machine, ${fmtBytes(b.faulted_bytes)} faulted in (base pages): ` +
        `${b.seconds.toFixed(2)} s, ${heap}`,
    );
  } else {
    out.push('big: skipped (--quick)');
  }
  const inv = r.invariants;
  out.push(
    inv
      ? `invariants: one checkInvariants() of a ${fmtBytes(inv.machine_bytes)} machine with ` +
          `${fmtBytes(inv.faulted_bytes)} faulted in: ${inv.seconds.toFixed(3)} s`
      : 'invariants: skipped (--quick)',
  );
  return out.join('\n') + '\n';
}

export function registerBench(program: Command, setCode: (c: number) => void): void {
  program
    .command('bench')
    .description('benchmark the model (pin/unpin cost, metadata, big machine) against the host kernel')
    .option('--json', 'JSON output')
    .option('--quick', 'skip the 1 GiB rows and the 64 GiB machine')
    .option('--sizes <list>', 'buffer sizes, comma-separated (default 1M,64M,1G)')
    .option('--no-host', 'do not measure the host kernel (io_uring)')
    .action(async (o: { json?: boolean; quick?: boolean; sizes?: string; host: boolean }) => {
      const sizes = o.sizes !== undefined ? parseSizes(o.sizes) : undefined;
      const r = await runBench({ quick: !!o.quick, sizes, host: o.host });
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatBench(r));
      setCode(0);
    });
}
