// A VM as the probe engine's ProbeSystem (../system.ts): its counters, files, zones and kernel log,
// all asked of the helper's supervisor inside the VM. The VM has no other tenant, so no idle
// windows are needed; its memory layout is the scenario's, so zones compare with the model's.

import { ProbeError } from '../errors.js';
import type { Helper } from '../helper.js';
import { HUGEPAGES, HUGETLB_DIRS, hugetlbCounterValue, type Counters } from '../host.js';
import { HUGETLB_COUNTERS } from '../../scenario/schema.js';
import { readZones, zoneOfPfn, type ZoneSpan } from '../kpage.js';
import type { FileContents, HugetlbCounters, ProbeSystem } from '../system.js';
import { GUEST_DISK_DIR, GUEST_TMPFS_DIR } from './initramfs.js';

let runs = 0;

export class VmSystem implements ProbeSystem {
  readonly root = true;
  readonly idleMs = 0;
  readonly scenarioLayout = true;
  private zones: ZoneSpan[] = [];
  /** The hugetlb sizes this kernel has (their sysfs directories), found once. */
  private hugetlbSizes: string[] = [];
  /** File names carry the run's number: one VM may serve several scenarios. */
  private readonly run = ++runs;

  constructor(
    private readonly helper: Helper,
    readonly kernel: string,
    private readonly hasDisk: boolean,
  ) {}

  /** Read what does not change during a run (the zones, the hugetlb sizes). */
  async init(): Promise<void> {
    const r = await this.helper.supervisorCommand('readfile path=/proc/zoneinfo');
    if (r.ret >= 0 && typeof r.text === 'string') this.zones = readZones(r.text);
    for (const [size, dir] of Object.entries(HUGETLB_DIRS)) {
      const h = await this.helper.supervisorCommand(`readfile path=${HUGEPAGES}/${dir}/nr_hugepages`);
      if (h.ret >= 0 && typeof h.text === 'string') this.hugetlbSizes.push(size);
    }
  }

  async counters(): Promise<Counters> {
    const r = await this.helper.supervisorCommand('vmstat');
    if (r.ret < 0 || typeof r.counters !== 'object' || !r.counters)
      throw new ProbeError('ERR_PROBE_HELPER', `reading the VM's /proc/vmstat failed: ${r.errno}`);
    return r.counters as Counters;
  }

  /** Counters once the pin counters stop moving (io_uring teardown runs from a workqueue). */
  async settle(maxMs = 3000): Promise<Counters> {
    let last = await this.counters();
    let quiet = 0;
    const until = Date.now() + maxMs;
    while (quiet < 3 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 25));
      const now = await this.counters();
      quiet =
        now.nr_foll_pin_acquired === last.nr_foll_pin_acquired && now.nr_foll_pin_released === last.nr_foll_pin_released
          ? quiet + 1
          : 0;
      last = now;
    }
    return last;
  }

  async vmstatText(): Promise<string> {
    const r = await this.helper.supervisorCommand('readfile path=/proc/vmstat');
    return typeof r.text === 'string' ? r.text : '';
  }

  async createFile(name: string, size: number, fs: 'tmpfs' | 'disk', contents: FileContents): Promise<string> {
    if (fs === 'disk' && !this.hasDisk)
      throw new ProbeError('ERR_PROBE_UNSUPPORTED', "the VM has no ext4 disk (its kernel's disk modules are missing)");
    const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
    const path = `${fs === 'tmpfs' ? GUEST_TMPFS_DIR : GUEST_DISK_DIR}/run${this.run}-${safe}`;
    const r = await this.helper.supervisorCommand(
      `mkfile path=${path} size=${size} vstep=${contents.step}` +
        (contents.value !== undefined ? ` value=${contents.value}` : ''),
      30_000 + Math.ceil(size / (16 << 20)) * 1000,
    );
    if (r.ret < 0) throw new ProbeError('ERR_PROBE_UNSUPPORTED', `creating ${path} in the VM failed: ${r.errno}`);
    return path;
  }

  removeFiles(): void {
    // The VM is thrown away (or its next scenario's files have other names).
  }

  zoneOf(pfn: number): string | null {
    return zoneOfPfn(pfn, this.zones);
  }

  /** The guest's /sys/kernel/mm/hugepages counters, a readfile per file (asked only where a scenario uses hugetlb). */
  async hugetlbCounters(): Promise<HugetlbCounters> {
    const out: HugetlbCounters = {};
    for (const size of this.hugetlbSizes) {
      const c: Record<string, number> = {};
      for (const f of HUGETLB_COUNTERS) {
        const r = await this.helper.supervisorCommand(`readfile path=${HUGEPAGES}/${HUGETLB_DIRS[size]}/${f}`);
        if (r.ret < 0 || typeof r.text !== 'string')
          throw new ProbeError('ERR_PROBE_HELPER', `reading the VM's hugetlb ${size} ${f} failed: ${r.errno}`);
        c[f] = hugetlbCounterValue(r.text);
      }
      out[size] = c;
    }
    return out;
  }

  async kmsg(): Promise<string[] | undefined> {
    const r = await this.helper.supervisorCommand('kmsg');
    return r.ret >= 0 && Array.isArray(r.lines) ? (r.lines as string[]) : undefined;
  }
}
