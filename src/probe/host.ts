// The host side of the live-kernel engine: the pin counters of /proc/vmstat (refreshed through
// /proc/sys/vm/stat_refresh, see ../shared/oracle/FACTS.md), the machine settings a scenario needs
// (THP and mTHP policies, the huge zero page, shmem THP, hugetlb pools) and their restoration, and a
// host-wide lock so two probes never change settings or pin memory at the same time.
//
// Every setting changed is first written to a journal (the lock file); the original values are put
// back when the run ends, on error, on SIGINT/SIGTERM, and - should a run have been killed outright -
// by the next probe that finds the stale journal.

import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HUGETLB_COUNTERS as HUGETLB_COUNTER_FILES, type Scenario } from '../scenario/schema.js';
import { ProbeError } from './errors.js';
import { sleep } from './helper.js';

export const VMSTAT = '/proc/vmstat';
export const STAT_REFRESH = '/proc/sys/vm/stat_refresh';
const THP = '/sys/kernel/mm/transparent_hugepage';
export const HUGEPAGES = '/sys/kernel/mm/hugepages';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** /proc/vmstat as numbers. */
export type Counters = Record<string, number>;

/**
 * Read /proc/vmstat after folding the per-CPU batches into the global counters (writing 1 to
 * /proc/sys/vm/stat_refresh needs root; without it the counters may lag by a batch per CPU).
 */
export function readCounters(refresh = true): Counters {
  if (refresh) {
    try {
      writeFileSync(STAT_REFRESH, '1');
    } catch {
      /* not root, or an EINVAL for a transiently negative counter: read anyway */
    }
  }
  const out: Counters = {};
  for (const line of readFileSync(VMSTAT, 'utf8').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

export function pinCounters(c: Counters): { nr_foll_pin_acquired: number; nr_foll_pin_released: number } {
  return { nr_foll_pin_acquired: c.nr_foll_pin_acquired ?? 0, nr_foll_pin_released: c.nr_foll_pin_released ?? 0 };
}

export function samePins(a: Counters, b: Counters): boolean {
  return a.nr_foll_pin_acquired === b.nr_foll_pin_acquired && a.nr_foll_pin_released === b.nr_foll_pin_released;
}

/** Wait until the pin counters stop moving (asynchronous releases: io_uring ring teardown). */
export async function settleCounters(maxMs = 3000, quietReads = 3, stepMs = 25): Promise<Counters> {
  let last = readCounters();
  let quiet = 0;
  const until = Date.now() + maxMs;
  while (quiet < quietReads && Date.now() < until) {
    await sleep(stepMs);
    const now = readCounters();
    quiet = samePins(now, last) ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

/** The sysfs directory of each hugetlb size the model knows. */
export const HUGETLB_DIRS: Record<string, string> = { '2M': 'hugepages-2048kB', '1G': 'hugepages-1048576kB' };

/**
 * A hugetlb counter file's value. The counters are unsigned longs: read as signed 64-bit, a transient
 * underflow of resv_hugepages (18446744073709551615) is -1, as the model reports it.
 */
export function hugetlbCounterValue(text: string): number {
  return Number(BigInt.asIntN(64, BigInt(text.trim())));
}

/**
 * The hugetlb pool counters (the files of /sys/kernel/mm/hugepages/hugepages-*kB/) by size. Sizes the
 * host lacks are left out.
 */
export function readHugetlbCounters(): Partial<Record<string, Record<string, number>>> {
  const out: Partial<Record<string, Record<string, number>>> = {};
  for (const [size, dir] of Object.entries(HUGETLB_DIRS)) {
    const c: Record<string, number> = {};
    try {
      for (const f of HUGETLB_COUNTER_FILES)
        c[f] = hugetlbCounterValue(readFileSync(`${HUGEPAGES}/${dir}/${f}`, 'utf8'));
    } catch {
      continue;
    }
    out[size] = c;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Machine settings

/** One host setting the scenario needs: a sysfs/procfs file and the value it must hold. */
export interface HostSetting {
  /** What it is, for messages: "THP enabled", "mTHP 64K", "hugetlb 2M pool". */
  what: string;
  path: string;
  want: string;
  /** Selector files show "always [madvise] never"; counts are plain numbers. */
  kind: 'selector' | 'number';
  /**
   * What a kernel without this file does, when that is a value of it: a kernel older than mTHP
   * (6.8) has no per-size files and behaves as if every size but the PMD one were "never" and the
   * PMD one "inherit"; a kernel without a hugetlb page size has an empty pool of it.
   */
  absent?: string;
}

/** mTHP sizes the model knows, with their sysfs directory names. */
const MTHP_DIRS: Record<string, string> = {
  '16K': 'hugepages-16kB',
  '32K': 'hugepages-32kB',
  '64K': 'hugepages-64kB',
  '128K': 'hugepages-128kB',
  '256K': 'hugepages-256kB',
  '512K': 'hugepages-512kB',
  '1M': 'hugepages-1024kB',
  '2M': 'hugepages-2048kB',
};

/**
 * The settings a scenario runs under, with the model's defaults for those it leaves out (THP
 * madvise, 2M inherit and the other mTHP sizes never, use_zero_page on, shmem THP never), so both
 * engines see the same machine. hugetlb pools are set only when the scenario names them. Also the
 * machine fields a live host cannot change, as notes.
 */
export function planSettings(sc: Scenario): { settings: HostSetting[]; notes: string[] } {
  const mc = sc.machine ?? {};
  const settings: HostSetting[] = [];
  const notes: string[] = [];
  settings.push({ what: 'THP enabled', path: `${THP}/enabled`, want: mc.thp ?? 'madvise', kind: 'selector' });
  for (const [size, dir] of Object.entries(MTHP_DIRS)) {
    const want = (mc.mthp as Record<string, string> | undefined)?.[size] ?? (size === '2M' ? 'inherit' : 'never');
    const absent = size === '2M' ? 'inherit' : 'never';
    settings.push({ what: `mTHP ${size}`, path: `${THP}/${dir}/enabled`, want, kind: 'selector', absent });
  }
  settings.push({
    what: 'THP use_zero_page',
    path: `${THP}/use_zero_page`,
    want: mc.use_zero_page === false ? '0' : '1',
    kind: 'number',
  });
  settings.push({ what: 'shmem THP', path: `${THP}/shmem_enabled`, want: mc.shmem_thp ?? 'never', kind: 'selector' });
  for (const [size, dir] of Object.entries(HUGETLB_DIRS)) {
    const pool = mc.hugetlb?.[size as '2M' | '1G'];
    const overcommit = mc.hugetlb_overcommit?.[size as '2M' | '1G'];
    if (pool !== undefined)
      settings.push({
        what: `hugetlb ${size} pool`,
        path: `${HUGEPAGES}/${dir}/nr_hugepages`,
        want: String(pool),
        kind: 'number',
        absent: '0',
      });
    // A size the scenario sets up gets the model's overcommit too (0 unless named).
    if (pool !== undefined || overcommit !== undefined)
      settings.push({
        what: `hugetlb ${size} overcommit`,
        path: `${HUGEPAGES}/${dir}/nr_overcommit_hugepages`,
        want: String(overcommit ?? 0),
        kind: 'number',
        absent: '0',
      });
  }
  for (const k of ['memory', 'movable', 'cma', 'pmem'] as const) {
    if (mc[k] !== undefined)
      notes.push(`machine.${k} not applied: a live host's memory layout cannot be changed (the host's is used)`);
  }
  return { settings, notes };
}

/** The current value of a setting file ("madvise" for "always [madvise] never"). */
export function readSetting(path: string, kind: HostSetting['kind']): string {
  const text = readFileSync(path, 'utf8').trim();
  if (kind === 'selector') {
    const m = /\[([^\]]+)\]/.exec(text);
    return m ? m[1]! : text;
  }
  return text;
}

/**
 * Why this host cannot give a setting the value the scenario wants (its file is missing on this kernel,
 * or it differs and cannot be written here), or undefined when it can: only a hugetlb pool may still
 * fall short when applied (free memory decides; see isPoolShortfall).
 */
export function settingUnavailable(s: HostSetting, root = isRoot()): string | undefined {
  if (!existsSync(s.path)) {
    if (s.absent !== undefined && s.want === s.absent) return undefined;
    return `${s.what}: ${s.path} does not exist on this kernel`;
  }
  let cur: string;
  try {
    cur = readSetting(s.path, s.kind);
  } catch (e) {
    return `${s.what}: cannot read ${s.path}: ${(e as Error).message}`;
  }
  if (cur === s.want) return undefined;
  if (!root) return `${s.what} is ${cur}, the scenario needs ${s.want}: changing it needs root`;
  try {
    accessSync(s.path, constants.W_OK);
  } catch (e) {
    return `${s.what} is ${cur}, the scenario needs ${s.want}: ${s.path} cannot be written (${(e as Error).message})`;
  }
  return undefined;
}

/** The problem HostSession.apply reports when the kernel gave another value than the one written. */
function shortfall(s: HostSetting, got: string): string {
  return `${s.what}: asked for ${s.want}, the kernel gave ${got}`;
}

/**
 * Whether a problem of HostSession.apply is a hugetlb pool the kernel could not fill: the host lacked
 * free (contiguous) memory at the time, a limit of the host rather than of the probe.
 */
export function isPoolShortfall(problem: string): boolean {
  return /^hugetlb \S+ pool: asked for \d+, the kernel gave \d+$/.test(problem);
}

const NOT_APPLIED = 'host settings could not be applied: ';

/** The scenario-wide "not compared" reason for the problems of HostSession.apply. */
export function settingsNotApplied(problems: readonly string[]): string {
  return NOT_APPLIED + problems.join('; ');
}

/**
 * Whether a "not compared" reason is a limit of the host at the time rather than a failure of the
 * probe: only hugetlb pools the kernel could not fill.
 */
export function onlyPoolShortfalls(reason: string): boolean {
  return reason.startsWith(NOT_APPLIED) && reason.slice(NOT_APPLIED.length).split('; ').every(isPoolShortfall);
}

/** The settings journal / lock: one probe at a time changes the host. */
interface Journal {
  pid: number;
  token: string;
  /** Original values of the settings changed so far, in the order they were changed. */
  saved: Array<{ path: string; value: string }>;
}

export function lockPath(): string {
  return join(tmpdir(), 'gupsim-probe.lock');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Write back saved values, last changed first. Returns the ones that could not be restored. */
function restoreSaved(saved: Journal['saved']): string[] {
  const failed: string[] = [];
  for (const s of [...saved].reverse()) {
    try {
      writeFileSync(s.path, s.value);
    } catch (e) {
      failed.push(`${s.path}: ${(e as Error).message}`);
    }
  }
  return failed;
}

/**
 * Holds the host for one probe run: the lock, the settings it changed and how to put them back.
 * restore() is synchronous so it can run from signal and exit handlers.
 */
export class HostSession {
  private journal: Journal;
  private restored = false;
  private readonly cleanups: Array<() => void> = [];
  readonly notes: string[] = [];
  /** Settings changed, for the result: { what, from, to }. */
  readonly changed: Array<{ what: string; path: string; from: string; to: string }> = [];

  private constructor(
    journal: Journal,
    private readonly lockFile: string,
  ) {
    this.journal = journal;
  }

  /**
   * Take the host-wide lock (waiting up to waitMs for another probe), restoring the settings of a
   * probe that died holding it.
   */
  static async acquire(waitMs = 10 * 60_000, path = lockPath()): Promise<HostSession> {
    const token = randomBytes(8).toString('hex');
    const until = Date.now() + waitMs;
    for (;;) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        const journal: Journal = { pid: process.pid, token, saved: [] };
        writeSync(fd, JSON.stringify(journal));
        closeSync(fd);
        return new HostSession(journal, path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new ProbeError(
            'ERR_PROBE_UNSUPPORTED',
            `cannot create the probe lock ${path}: ${(e as Error).message}`,
          );
      }
      let other: Journal | undefined;
      try {
        other = JSON.parse(readFileSync(path, 'utf8')) as Journal;
      } catch {
        /* being written, or garbage: judged below */
      }
      if (other && !pidAlive(other.pid)) {
        // A probe died without restoring: put its settings back, then take over.
        restoreSaved(other.saved ?? []);
        rmSync(path, { force: true });
        continue;
      }
      if (!other) {
        await sleep(50);
        try {
          JSON.parse(readFileSync(path, 'utf8'));
        } catch {
          rmSync(path, { force: true });
          continue;
        }
      }
      if (Date.now() > until)
        throw new ProbeError('ERR_PROBE_UNSUPPORTED', `another probe (pid ${other?.pid}) holds ${path}`);
      await sleep(20 + Math.random() * 30);
    }
  }

  private writeJournal(): void {
    writeFileSync(this.lockFile, JSON.stringify(this.journal));
  }

  /**
   * Apply the settings, changing only what differs from what the host has. Returns the reasons the
   * scenario cannot run faithfully (a setting that could not be applied), empty when all is set.
   */
  apply(settings: HostSetting[]): string[] {
    const problems: string[] = [];
    for (const s of settings) {
      const why = settingUnavailable(s);
      if (why) {
        problems.push(why);
        continue;
      }
      if (!existsSync(s.path)) continue; // absent, and the kernel behaves as the scenario wants
      const cur = readSetting(s.path, s.kind);
      if (cur === s.want) continue;
      this.journal.saved.push({ path: s.path, value: cur });
      this.writeJournal();
      try {
        writeFileSync(s.path, s.want);
      } catch (e) {
        problems.push(`${s.what}: writing ${s.want} to ${s.path} failed: ${(e as Error).message}`);
        continue;
      }
      const now = readSetting(s.path, s.kind);
      this.changed.push({ what: s.what, path: s.path, from: cur, to: now });
      if (now !== s.want) problems.push(shortfall(s, now));
    }
    return problems;
  }

  /** Run fn at restore time (before the settings are put back): kill helpers, remove files. */
  onRestore(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** Undo everything and release the lock. Synchronous and idempotent. */
  restore(): string[] {
    if (this.restored) return [];
    this.restored = true;
    for (const fn of this.cleanups.reverse()) {
      try {
        fn();
      } catch {
        /* keep restoring */
      }
    }
    const failed = restoreSaved(this.journal.saved);
    try {
      const cur = JSON.parse(readFileSync(this.lockFile, 'utf8')) as Journal;
      if (cur.token === this.journal.token) rmSync(this.lockFile, { force: true });
    } catch {
      /* already gone */
    }
    return failed;
  }
}
