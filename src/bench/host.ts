// The host kernel's side of the benchmark: io_uring fixed-buffer registration (FOLL_WRITE |
// FOLL_LONGTERM pins of a pre-faulted MADV_NOHUGEPAGE buffer) timed by the C helper src/bench/host_ops.c
// (`host_ops iouring`), built with the system cc on first use and cached.
//
// Host-side code (Node APIs): the pure model benchmark is pin.ts. Nothing here throws for a host that
// cannot run the measurement; it returns the reason instead, so the report can say why it was skipped.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './pin.js';
import { cacheDirs, findCompiler, packageRoot } from '../probe/package.js';

export interface HostRow {
  bytes: number;
  register_ns_per_page: number;
  unregister_ns_per_page: number;
  runs: number;
}

/** The `host` object of the benchmark JSON: the headline figures plus one row per size measured. */
export interface HostResult {
  /** Buffer size of the headline figures (64 MiB when measured, else the largest size). */
  bytes: number;
  register_ns_per_page: number;
  unregister_ns_per_page: number;
  kernel: string;
  rows: HostRow[];
}

export type HostOutcome = { host: HostResult; skipped?: undefined } | { host: null; skipped: string };

const SOURCE_NAME = 'host_ops.c';

/** A helper's C source: read from src/ (a clone) or next to this module (if copied to dist). */
function findSource(name: string): string | undefined {
  const root = packageRoot();
  for (const p of [join(root, 'src', 'bench', name), join(dirname(fileURLToPath(import.meta.url)), name)]) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Compile a helper (src/bench/NAME.c) unless a binary built from the same source is cached. Returns its
 * path or why not.
 */
export function buildHostHelper(name = SOURCE_NAME): { path: string } | { error: string } {
  if (process.platform !== 'linux') return { error: `not Linux (${process.platform}): io_uring is Linux-only` };
  const CC = findCompiler();
  if (!CC) return { error: `no C compiler found (set CC, or install cc/gcc/clang): cannot build ${name}` };
  const src = findSource(name);
  if (!src) return { error: `${name} not found under ${packageRoot()}` };
  const text = readFileSync(src);
  const hash = createHash('sha256').update(text).update(process.arch).digest('hex').slice(0, 16);
  let lastError = '';
  for (const dir of cacheDirs()) {
    const bin = join(dir, `${name.replace(/\.c$/, '')}-${hash}`);
    if (existsSync(bin)) return { path: bin };
    try {
      mkdirSync(dir, { recursive: true });
      // Build under a private name, then rename: concurrent runs never see a half-written binary.
      const tmp = `${bin}.${process.pid}.tmp`;
      execFileSync(CC, ['-O2', '-o', tmp, src], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
      renameSync(tmp, bin);
      return { path: bin };
    } catch (e) {
      lastError = errorText(e);
      rmSync(`${bin}.${process.pid}.tmp`, { force: true });
    }
  }
  return { error: `building ${name} failed: ${lastError}` };
}

export function errorText(e: unknown): string {
  const err = e as { stderr?: Buffer | string; message?: string };
  const stderr = err.stderr ? String(err.stderr).trim() : '';
  return stderr || err.message || String(e);
}

/** Run counts that match the model's: many for small buffers, few for 1 GiB. */
function hostRuns(bytes: number): number {
  if (bytes >= 1 << 30) return 3;
  if (bytes >= 64 << 20) return 5;
  return 15;
}

/**
 * Time IORING_REGISTER_BUFFERS / IORING_UNREGISTER_BUFFERS on the host for each size (whole MiB,
 * at most 1 GiB: io_uring's limit for one fixed buffer). The first run of each size is a warm-up.
 */
export function measureHost(sizes: readonly number[]): HostOutcome {
  const usable = sizes.filter((b) => b % (1 << 20) === 0 && b > 0 && b <= 1 << 30);
  if (usable.length === 0) return { host: null, skipped: 'no size suits io_uring (whole MiB, at most 1 GiB)' };
  const built = buildHostHelper();
  if ('error' in built) return { host: null, skipped: built.error };
  const args: string[] = ['iouring'];
  for (const b of usable) args.push(String(b / (1 << 20)), String(hostRuns(b) + 1));
  let out: string;
  try {
    out = execFileSync(built.path, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (e) {
    return { host: null, skipped: `io_uring measurement failed: ${errorText(e)}` };
  }
  let parsed: { page_size: number; rows: { bytes: number; register_ns: number[]; unregister_ns: number[] }[] };
  try {
    parsed = JSON.parse(out);
  } catch {
    return { host: null, skipped: `io_uring helper printed something unexpected: ${out.slice(0, 200)}` };
  }
  const rows: HostRow[] = parsed.rows.map((r) => {
    const pages = r.bytes / parsed.page_size;
    const per = (ns: number[]) => Math.round((median(ns.slice(1)) / pages) * 10) / 10;
    return {
      bytes: r.bytes,
      register_ns_per_page: per(r.register_ns),
      unregister_ns_per_page: per(r.unregister_ns),
      runs: r.register_ns.length - 1,
    };
  });
  const head = rows.find((r) => r.bytes === 64 << 20) ?? rows.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  let kernel = 'unknown';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* keep unknown */
  }
  return {
    host: {
      bytes: head.bytes,
      register_ns_per_page: head.register_ns_per_page,
      unregister_ns_per_page: head.unregister_ns_per_page,
      kernel: `Linux ${kernel}`,
      rows,
    },
  };
}
