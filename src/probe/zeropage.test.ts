// The zero page on the kernel under the probe: the helper's `zeropage` check agrees with what
// inspect shows of a page a process read-faulted itself (on this host, when it can run the probe as
// root); a diff against a kernel without the zero page runs the model with machine.zero_page: false
// and says so, and a scenario that names zero_page is not compared on a kernel that does otherwise.

import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { loadScenario } from '../scenario/load.js';
import { runScenario } from '../scenario/run.js';
import type { PageInfo } from '../scenario/inspect.js';
import { diffScenario, formatDiff } from './diff.js';
import type { KernelRunResult, KernelStepResult } from './engine.js';
import { Helper } from './helper.js';
import { probeUnsupportedReason } from './build.js';
import { isRoot } from './host.js';
import type { HelperPage } from './kpage.js';
import { KPF_ZERO_PAGE } from './kpage.js';
import { measureZeroPage, withKernelZeroPage, zeroPageMismatch, zeroPageOptions } from './zeropage.js';

const sc = loadScenario(`
name: zp
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }
  - { op: read, proc: app, region: buf }
  - { op: inspect, proc: app, region: buf, page: 0, label: r }
  - { op: process_vm_readv, proc: peer, target: app, region: buf, label: pvm }
`);

/** A kernel run that is the model's run of `scenario`, reporting `zero_page`. */
function kernelOf(scenario: typeof sc, zero_page: boolean): KernelRunResult {
  const m = runScenario(scenario);
  const steps = JSON.parse(JSON.stringify(m.steps)) as KernelStepResult[];
  return { ...m, engine: 'kernel', kernel: 'test', steps, settings: [], notes: [], noise: false, zero_page };
}

const forbidding = { ...sc, machine: { ...sc.machine, zero_page: false } };

describe('the model follows a kernel without the zero page', () => {
  it('the model alone differs from such a kernel: a read maps real pages and process_vm_readv pins them', () => {
    const page = (r: ReturnType<typeof runScenario>) => (r.steps[2]!.pages as PageInfo[])[0]!;
    const plain = runScenario(sc);
    const without = runScenario(forbidding);
    expect(page(plain).zero_page).toBe(true);
    expect(page(without).zero_page).toBe(false);
    expect(page(without).mapcount).toBe(1);
    expect(plain.steps[3]!.vmstat.nr_foll_pin_acquired).toBe(0);
    expect(without.steps[3]!.vmstat.nr_foll_pin_acquired).toBe(16);
  });

  it('diff: the model runs with machine.zero_page: false, agrees, and a note says why', async () => {
    const d = await diffScenario(sc, { probe: async () => kernelOf(forbidding, false) });
    expect(d.agree, formatDiff(d)).toBe(true);
    expect(d.notes[0]).toMatch(/^read faults on this kernel do not map the zero page \(mm_forbids_zeropage\(\)/);
    expect(d.notes[0]).toMatch(/the model ran with machine\.zero_page: false$/);
  });

  it('diff: a kernel with the zero page leaves the model as it was (no note)', async () => {
    const d = await diffScenario(sc, { probe: async () => kernelOf(sc, true) });
    expect(d.agree, formatDiff(d)).toBe(true);
    expect(d.notes.some((n) => n.includes('zero page'))).toBe(false);
  });

  it('a scenario that names zero_page is compared only on a kernel that does the same', () => {
    expect(withKernelZeroPage(sc, false)?.machine?.zero_page).toBe(false);
    expect(withKernelZeroPage(sc, true)).toBeUndefined();
    expect(withKernelZeroPage(sc, undefined)).toBeUndefined();
    expect(withKernelZeroPage(forbidding, false)).toBeUndefined();
    expect(zeroPageMismatch(sc, false)).toBeUndefined();
    expect(zeroPageMismatch(forbidding, false)).toBeUndefined();
    expect(zeroPageMismatch(forbidding, undefined)).toBeUndefined();
    expect(zeroPageMismatch(forbidding, true)).toBe(
      'machine.zero_page: false cannot be had: read faults on this kernel map the zero page',
    );
    const wants = { ...sc, machine: { zero_page: true } };
    expect(zeroPageMismatch(wants, false)).toMatch(/^machine\.zero_page: true cannot be had/);
  });

  it('names the kernel command line options that speak of the zero page', () => {
    expect(zeroPageOptions('quiet pvm_no_zero_page=1 panic=1 nozeropage')).toEqual([
      'pvm_no_zero_page=1',
      'nozeropage',
    ]);
    expect(zeroPageOptions('console=ttyS0 quiet')).toEqual([]);
  });
});

const why =
  probeUnsupportedReason() ??
  (isRoot() ? undefined : 'not root: PFNs are hidden') ??
  (existsSync('/proc/kpageflags') ? undefined : '/proc/kpageflags does not exist');
if (why) console.log(`zero page check on this host skipped: ${why}`);

describe.skipIf(why !== undefined)('the helper sees the zero page as inspect does', () => {
  it('zeropage agrees with kpageflags of a page a process read-faulted', async () => {
    const h = new Helper();
    await h.start();
    try {
      const seen = await measureZeroPage(h);
      expect(typeof seen).toBe('boolean');
      const p = await h.spawn('app');
      const m = await h.send(p, 'mmap kind=anon shared=0 size=4096 prot=rw');
      expect(m.ret).toBe(0);
      expect((await h.send(p, `touch addr=${m.addr} len=4096 write=0`)).ret).toBe(0);
      const r = await h.supervisorCommand(`inspect pid=${p.pid} addr=${m.addr} pages=1`);
      const page = (r.pages as HelperPage[])[0]!;
      expect(page.present).toBe(true);
      const zero = ((BigInt(page.flags!) >> BigInt(KPF_ZERO_PAGE)) & 1n) === 1n;
      expect(seen).toBe(zero);
      // A page the model would say is mapped once when the zero page is forbidden.
      if (!zero) expect(page.mapcount).toBe(1);
    } finally {
      h.kill();
      await h.close();
    }
  });

  it('diff: asking for what this kernel does not do is not compared; leaving it out agrees', async () => {
    const h = new Helper();
    await h.start();
    const seen = await measureZeroPage(h);
    h.kill();
    await h.close();
    const other = await diffScenario({ ...sc, machine: { ...sc.machine, zero_page: !seen } });
    expect(other.summary.notCompared).toBe(zeroPageMismatch({ ...sc, machine: { zero_page: !seen } }, seen));
    const plain = await diffScenario(sc);
    expect(plain.agree, formatDiff(plain)).toBe(true);
    expect(plain.notes.some((n) => n.startsWith('read faults on this kernel do not map the zero page'))).toBe(!seen);
  }, 60_000);
});
