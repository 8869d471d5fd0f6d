// `gupsim bench`: the JSON shape of DESIGN.md "Benchmark JSON" in quick mode. Never asserts on speed:
// timings depend on the machine; only that they are positive numbers and the model checks passed. The
// host figures need Linux, a C compiler and io_uring: a host without them skips with the reason, and
// one that has them must give figures.

import { describe, it, expect, vi, afterEach } from 'vitest';
import { runBench, parseSizes, formatBench, opsRows } from './bench.js';
import { main } from './main.js';
import { benchPin, benchBig, metadataBytesPerPage, median, warmupFor, callsPerRun } from '../bench/pin.js';
import { measureHost } from '../bench/host.js';
import { benchOps, OPS, OP_BACKINGS } from '../bench/ops.js';
import { benchOpsIsolated } from '../bench/ops_process.js';
import { measureHostOps } from '../bench/host_ops.js';
import { benchSnapshot } from '../bench/snapshot.js';
import { benchCliStart } from '../bench/cli_start.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../probe/package.js';
import { MemMap } from '../mm/memmap.js';
import { benchInvariants } from '../tools/invariants_bench.js';
import { hostCapabilities } from '../probe/capability.js';

const MiB = 1 << 20;

const positive = (x: unknown) => {
  expect(typeof x).toBe('number');
  expect(Number.isFinite(x as number)).toBe(true);
  expect(x as number).toBeGreaterThan(0);
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('bench library', () => {
  it('quick mode: pin rows for each backing, metadata, no big machine', async () => {
    const r = await runBench({ quick: true, sizes: [MiB, 1 << 30], host: false });
    expect(r.schemaVersion).toBe(1);
    // --quick drops the 1 GiB rows.
    expect(r.pin.map((p) => [p.backing, p.bytes])).toEqual([
      ['base', MiB],
      ['thp', MiB],
    ]);
    for (const row of r.pin) {
      positive(row.pin_ns_per_page);
      positive(row.unpin_ns_per_page);
      expect(row.runs).toBeGreaterThan(0);
      expect(row.calls_per_run).toBe(64);
    }
    expect(r.metadata_bytes_per_page).toBe(MemMap.BYTES_PER_PAGE);
    expect(r.metadata_bytes_per_page).toBeLessThanOrEqual(16);
    // Page contents cost 4 bytes per page more, and only once a value is stored.
    expect(r.metadata_bytes_per_page_with_data).toBe(MemMap.BYTES_PER_PAGE + 4);
    expect(r.pgtable_bytes_per_page).toBe(4);
    expect(r.big).toBeNull();
    expect(r.invariants).toBeNull();
    expect(r.host).toBeNull();
    expect(typeof r.host_skipped).toBe('string');
    // Every path, for every backing, at each size kept; no host figures without the host.
    expect(r.ops.map((o) => `${o.op}/${o.backing}/${o.bytes}`)).toEqual(
      OP_BACKINGS.flatMap((b) => OPS.map((op) => `${op}/${b}/${MiB}`)),
    );
    for (const o of r.ops) {
      positive(o.model_ns_per_page);
      expect(o.host_ns_per_page).toBeNull();
      expect(o.ratio).toBeNull();
    }
    expect(r.snapshot.machine_bytes).toBe(256 * MiB);
    positive(r.snapshot.snapshot_ns_per_page);
    positive(r.snapshot.restore_ns_per_page);
    positive(r.snapshot.memcpy_ns_per_page);
    positive(r.snapshot.small.pairs_per_second);
    expect(r.snapshot.copied_bytes).toBeGreaterThanOrEqual(((256 * MiB) / 4096) * MemMap.BYTES_PER_PAGE);
    expect(r.cli_start).toBeNull();
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(formatBench(r)).toContain('host: skipped');
    expect(formatBench(r)).toContain('invariants: skipped (--quick)');
    expect(formatBench(r)).toContain('cli start: skipped (--quick)');
  });

  it('ops rows put the host figure beside the model and divide', () => {
    const model = [
      {
        backing: 'thp' as const,
        bytes: MiB,
        ns_per_page: { fault: 2, fork: 1, fork_pinned: 3, munmap: 4, exit: 5, register: 6, unregister: 7 },
        runs: 1,
        cycles_per_run: 1,
      },
    ];
    const host = {
      kernel: 'Linux x',
      skipped: [],
      rows: [
        {
          backing: 'thp' as const,
          bytes: MiB,
          runs: 1,
          ns_per_page: { fault: 8, fork: 4, fork_pinned: 0, munmap: 8, exit: 10, register: 12, unregister: 14 },
        },
      ],
    };
    const rows = opsRows(model, host);
    expect(rows.find((r) => r.op === 'fault')).toEqual({
      op: 'fault',
      backing: 'thp',
      bytes: MiB,
      model_ns_per_page: 2,
      host_ns_per_page: 8,
      ratio: 0.25,
    });
    // A host figure of 0 gives no ratio rather than Infinity.
    expect(rows.find((r) => r.op === 'fork_pinned')!.ratio).toBeNull();
    expect(opsRows(model, null).every((r) => r.host_ns_per_page === null)).toBe(true);
  });

  it('an ops row times every path on a small buffer and checks the model each cycle', () => {
    for (const backing of OP_BACKINGS) {
      const row = benchOps(backing, 256 << 10, 2, 4096);
      expect(row).toMatchObject({ backing, bytes: 256 << 10, runs: 2 });
      for (const op of OPS) positive(row.ns_per_page[op]);
    }
  });

  it('an ops row from the single-threaded child process (npm run build) has the same shape', () => {
    const row = benchOpsIsolated('mthp', 256 << 10, 2, 4096);
    expect(row).toMatchObject({ backing: 'mthp', bytes: 256 << 10, runs: 2 });
    for (const op of OPS) positive(row.ns_per_page[op]);
  });

  it('snapshot figures on a small machine', () => {
    const s = benchSnapshot({ memory: 64 * MiB, faulted: 8 * MiB, runs: 2 });
    expect(s).toMatchObject({ machine_bytes: 64 * MiB, faulted_bytes: 8 * MiB, runs: 2 });
    positive(s.snapshot_ratio);
    positive(s.restore_ratio);
  });

  it('invariants: the checker on a small machine stands in for the 1 GiB one', () => {
    const inv = benchInvariants({ memory: 64 * MiB, faulted: 8 * MiB });
    expect(inv).toMatchObject({ machine_bytes: 64 * MiB, faulted_bytes: 8 * MiB });
    expect(inv.seconds).toBeGreaterThanOrEqual(0);
    expect(() => benchInvariants({ memory: 16 * MiB, faulted: 64 * MiB })).toThrow(/failed/);
  });

  it('a pin row on a 64 KiB THP slice and on base pages checks the model each run', () => {
    for (const backing of ['base', 'thp'] as const) {
      const row = benchPin(backing, 64 << 10, 3, 1);
      expect(row).toMatchObject({ backing, bytes: 64 << 10, runs: 3, calls_per_run: 1024 });
      positive(row.pin_ns_per_page);
      positive(row.unpin_ns_per_page);
    }
  });

  it('big: a small machine stands in for the 64 GiB one', () => {
    let heap = 1000;
    const b = benchBig({ memory: 256 * MiB, faulted: 64 * MiB, heap: () => (heap += 4096), gc: () => {} });
    expect(b).toMatchObject({
      machine_bytes: 256 * MiB,
      faulted_bytes: 64 * MiB,
      heap_after_gc: true,
      pgtable_bytes: 64 * 1024,
    });
    positive(b.heap_bytes);
    expect(b.seconds).toBeGreaterThanOrEqual(0);
    expect(benchBig({ memory: 64 * MiB, faulted: 8 * MiB }).heap_bytes).toBeNull();
  });

  it('helpers', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
    expect(callsPerRun(MiB)).toBe(64);
    expect(callsPerRun(64 * MiB)).toBe(1);
    expect(warmupFor(MiB)).toBe(64);
    expect(warmupFor(1 << 30)).toBe(4);
    expect(metadataBytesPerPage()).toBe(16);
    expect(parseSizes('1M,64MiB, 1G,8K,4096')).toEqual([MiB, 64 * MiB, 1 << 30, 8192, 4096]);
    for (const bad of ['', '1X', '100', '-1M', '8G'])
      expect(() => parseSizes(bad)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });
});

const caps = await hostCapabilities();
const hostWhy = caps.probe ?? caps.ioUring;
if (hostWhy) console.log(`bench host figures test skipped: ${hostWhy}`);

describe('host measurement', () => {
  it.skipIf(hostWhy !== undefined)('gives io_uring figures on a host that has io_uring', () => {
    const h = measureHost([MiB]);
    expect(h.skipped).toBeUndefined();
    expect(h.host).not.toBeNull();
    expect(h.host!.bytes).toBe(MiB);
    positive(h.host!.register_ns_per_page);
    positive(h.host!.unregister_ns_per_page);
    expect(h.host!.rows).toHaveLength(1);
    expect(h.host!.kernel).toMatch(/^Linux /);
  });

  it.skipIf(hostWhy !== undefined)('gives per-path figures for base pages', async () => {
    const h = await measureHostOps(['base'], [MiB]);
    expect(h.skipped).toBeUndefined();
    expect(h.result!.rows).toHaveLength(1);
    const row = h.result!.rows[0]!;
    expect(row).toMatchObject({ backing: 'base', bytes: MiB });
    for (const op of OPS) expect(row.ns_per_page[op]).toBeGreaterThanOrEqual(0);
    positive(row.ns_per_page.fault);
  });

  it('says why when no size suits the helper', async () => {
    expect(await measureHostOps(['base'], [4096])).toEqual({ result: null, skipped: expect.stringContaining('MiB') });
  });

  const built = existsSync(join(packageRoot(), 'dist', 'cli', 'main.js'));
  if (!built) console.log('cli start test skipped: the CLI is not built (npm run build)');
  it.skipIf(!built)('times the CLI start beside node -e 0', () => {
    const c = benchCliStart(1);
    expect('skipped' in c).toBe(false);
    if ('skipped' in c) return;
    for (const k of ['node_ms', 'version_ms', 'run_ms', 'node_cpu_ms', 'version_cpu_ms', 'run_cpu_ms'] as const)
      positive(c[k]);
  });

  it('skips sizes io_uring cannot register', () => {
    expect(measureHost([2 << 30])).toEqual({ host: null, skipped: expect.stringContaining('at most 1 GiB') });
  });
});

describe('gupsim bench (CLI)', () => {
  it('--json --quick --sizes --no-host prints DESIGN.md JSON', async () => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out += String(s);
      return true;
    });
    expect(await main(['bench', '--json', '--quick', '--sizes', '1M', '--no-host'])).toBe(0);
    const r = JSON.parse(out);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['pin', 'metadata_bytes_per_page', 'big', 'host']));
    expect(r.pin).toHaveLength(2);
    expect(r.big).toBeNull();
    expect(r.host).toBeNull();
    expect(r.host_skipped).toContain('--no-host');
  });

  it('a bad --sizes is a usage error (exit 2)', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['bench', '--sizes', 'lots'])).toBe(2);
  });
});
