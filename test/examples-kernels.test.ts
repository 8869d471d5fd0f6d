// Every example through `gupsim diff` on three real kernels: the host's (6.18) and Debian's 6.1 and
// 6.12 in qemu VMs, each against the model with that release's profile. An example must be compared
// and agree: a step that differs, is flaky or unverified fails, and so does a step skipped for any
// reason but one the target truly cannot run (the host: raw GUP without CONFIG_GUP_TEST, devices,
// as capability.ts says; a VM: an RDMA, VFIO or HMM device). What is not run is said, with the reason:
// - the host cannot run the scenario at all (hostCannotCompare()): skipped, the reason printed;
// - a release lacks a setting the scenario needs (6.1 has no mTHP sizes): skipped, the reason printed;
// - steps that follow a step the target cannot run, and differ, cannot be verified: skipped, printed;
// - no qemu, compiler or kernel packages (cached or in the apt lists): the VM part is skipped, printed.
// The VMs boot once per machine layout (memory, hugetlb pools, movable zone, THP mode; about 7 boots
// per release for the 55 examples), and each example runs in the VM of its layout with the WARN_ONCEs
// re-armed. GUPSIM_SKIP_VM=1 skips the VM part.

import { describe, it, expect, afterAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import type { Scenario } from '../src/scenario/schema.js';
import { kernelProblems } from '../src/scenario/kernel.js';
import { profileByName } from '../src/mm/profile.js';
import { diffScenario, formatDiff, formatSummary, type DiffResult } from '../src/probe/diff.js';
import { scenarioUnsupportedReason, type ProbeOptions } from '../src/probe/engine.js';
import { hostCannotCompare, hostCapabilities } from '../src/probe/capability.js';
import { onlyPoolShortfalls } from '../src/probe/host.js';
import { bootConfig, type BootConfig } from '../src/probe/vm/cmdline.js';
import { probeScenarioInVm, VmSession } from '../src/probe/vm/probe.js';
import { vmUnavailableReason } from '../src/probe/vm/availability.js';
import { VM_RELEASES } from '../src/probe/vm/releases.js';

const dir = join(import.meta.dirname, '..', 'examples');
const all = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((file) => ({ file, sc: loadScenario(readFileSync(join(dir, file), 'utf8'), file) }));
// A race (a concurrent block) is gupsim explore's: no kernel lets a test choose the interleaving.
const races = all.filter((e) => e.sc.steps.some((s) => s.op === 'concurrent'));
if (races.length)
  console.log(`${races.map((e) => e.file).join(', ')} not run on kernels: gupsim explore runs their interleavings`);
const examples = all.filter((e) => !races.includes(e));

const stepsWith = (d: DiffResult, status: string) => d.steps.filter((s) => s.status === status);

/**
 * A step the VM cannot run whatever it has: an RDMA, VFIO or HMM device (the engine knows it before
 * running), or fsdax memory (no pmem device: the engine finds out when it maps it). Its reason, or
 * undefined.
 */
function vmCannotRun(sc: Scenario, index: number): string | undefined {
  const step = sc.steps[index];
  if (!step) return undefined;
  if (step.op === 'mmap' && step.type === 'fsdax') return 'fsdax needs a DAX-capable device (pmem)';
  // (The reason names the step as step 0 of the one-step scenario asked about: keep the reason only.)
  return scenarioUnsupportedReason({ ...sc, steps: [step] }, { root: true, gupModule: true })?.replace(
    /^step 0 \([^)]*\): /,
    '',
  );
}

/**
 * The skipped steps a target truly cannot run, by index, with why: those `cannotRun` names, and the
 * steps that only use what one of them would have made (the engine: 'depends on "mr" from step 2').
 */
function unrunnable(d: DiffResult, cannotRun: (index: number) => string | undefined): Map<number, string> {
  const out = new Map<number, string>();
  for (const s of stepsWith(d, 'skipped')) {
    const why = cannotRun(s.index);
    if (why) {
      out.set(s.index, why);
      continue;
    }
    const from = /depends on .* from step (\d+), which did not run/.exec(s.reason ?? '');
    if (from && out.has(Number(from[1]))) out.set(s.index, out.get(Number(from[1]))!);
  }
  return out;
}

/**
 * Check a diff. Returns a reason to skip the example (printed by the caller) when the only steps
 * not agreeing are ones that follow steps the target cannot run; fails on anything else that is not
 * agreement.
 */
function judge(d: DiffResult, cannotRun: (index: number) => string | undefined): string | undefined {
  const report = formatDiff(d);
  expect(d.summary.notCompared, report).toBeUndefined();
  expect(d.model_error, report).toBeUndefined();
  expect(d.kernel_error, report).toBeUndefined();
  // Skipped steps: only expect checks of values the kernel does not expose, and steps the target
  // cannot run at all.
  const devices = unrunnable(d, cannotRun);
  const skipped = stepsWith(d, 'skipped').filter((s) => s.op !== 'expect' && !devices.has(s.index));
  expect(
    skipped.map((s) => `step ${s.index} (${s.op}): ${s.reason}`),
    report,
  ).toEqual([]);
  expect(
    stepsWith(d, 'differs').map((s) => s.index),
    report,
  ).toEqual([]);
  expect(
    stepsWith(d, 'flaky').map((s) => s.index),
    report,
  ).toEqual([]);
  expect(d.summary.compared, report).toBeGreaterThan(0);
  const unverified = stepsWith(d, 'unverified');
  if (unverified.length) {
    // A step can only be unverified after a step the target did not run; here those must be the
    // device steps (anything else the target skipped failed above).
    expect(devices.size, report).toBeGreaterThan(0);
    const reasons = [...new Set(devices.values())].join('; ');
    return (
      `step(s) ${unverified.map((s) => s.index).join(', ')} cannot be verified: they follow step(s) ` +
      `${[...devices.keys()].join(', ')}, which the target cannot run (${reasons})`
    );
  }
  expect(d.agree, formatSummary(d)).toBe(true);
  return undefined;
}

const caps = await hostCapabilities();
const hostReason = caps.probe ?? (caps.root ? undefined : 'not root (the probe needs root for exact counters)');

describe('every example on the host kernel', () => {
  if (hostReason) console.log(`examples on the host skipped: ${hostReason}`);
  for (const { file, sc } of examples) {
    const why = hostReason ?? hostCannotCompare(sc, caps);
    if (why && !hostReason) console.log(`${file} on the host skipped: ${why}`);
    it.skipIf(why !== undefined)(
      `${file}: the model and the host's kernel agree`,
      async (ctx) => {
        const name = file.replace(/\.ya?ml$/, '');
        let d = await diffScenario(sc, { name });
        // The host is shared: a step the host's own activity made unmeasurable, or a difference seen
        // in one run only, is measured again once when it may be quieter.
        if (d.summary.noisy || d.summary.flaky) d = await diffScenario(sc, { name });
        const notCompared = d.summary.notCompared;
        if (notCompared !== undefined && onlyPoolShortfalls(notCompared)) {
          console.log(`${file} on the host: skipped, the host could not fill a hugetlb pool: ${notCompared}`);
          ctx.skip();
        }
        const unverifiable = judge(d, () => undefined);
        if (d.summary.noisy) {
          console.log(
            `${file} on the host: skipped, too noisy to measure steps ${stepsWith(d, 'noisy').map((s) => s.index)}`,
          );
          ctx.skip();
        }
        expect(unverifiable, formatDiff(d)).toBeUndefined();
      },
      300_000,
    );
  }
});

/** The machine layout a VM boots with, whatever disk it has: examples with the same key share a boot. */
const layoutKey = (b: BootConfig) => `${b.memoryMiB} ${b.cmdline.replace(/ gupsim\.disk=1/, '')}`;

for (const release of VM_RELEASES) {
  const why = vmUnavailableReason(release);
  if (why) console.log(`examples on Linux ${release} in a VM skipped: ${why}`);
  const profile = profileByName(release)!;

  describe.skipIf(why !== undefined)(`every example on Linux ${release} in a VM`, () => {
    // Examples grouped by machine layout, each group in one boot, with a disk as large as its
    // largest needs. One VM at a time: the previous group's is stopped when the next one boots.
    const groups = new Map<string, BootConfig>();
    for (const { sc } of examples) {
      const b = bootConfig(sc);
      const have = groups.get(layoutKey(b));
      if (!have || b.diskBytes > have.diskBytes) groups.set(layoutKey(b), b);
    }
    const ordered = [...examples].sort((a, b) =>
      layoutKey(bootConfig(a.sc)).localeCompare(layoutKey(bootConfig(b.sc))),
    );
    let session: VmSession | undefined;
    let sessionKey = '';

    async function sessionFor(sc: Scenario): Promise<VmSession> {
      const key = layoutKey(bootConfig(sc));
      if (session && (sessionKey !== key || !session.vm.running)) {
        await session.close();
        session = undefined;
      }
      if (!session) {
        // First use downloads the kernel packages (about 100 MB) and builds the module and helper.
        session = await VmSession.open(release, groups.get(key)!, { bootTimeoutMs: 180_000 });
        sessionKey = key;
      }
      return session;
    }

    afterAll(async () => {
      await session?.close();
    });

    for (const { file, sc } of ordered) {
      const lacks = kernelProblems(sc, profile);
      if (lacks.length) console.log(`${file} on Linux ${release} skipped: the release lacks ${lacks.join('; ')}`);
      it.skipIf(lacks.length > 0)(
        `${file}: the model of ${release} and Debian's ${release} agree`,
        async (ctx) => {
          const s = await sessionFor(sc);
          const probe = (x: Scenario, o: ProbeOptions) => probeScenarioInVm(x, release, { ...o, session: s });
          const name = file.replace(/\.ya?ml$/, '');
          let d = await diffScenario(sc, { name, kernel: release, probe });
          // The guest kernel has background work of its own (kworkers draining the per-CPU LRU batches,
          // the flusher): a difference is measured again once, in a new run, and only one seen in both
          // runs counts (the model's answer is the same every time).
          if (d.summary.differ || d.summary.flaky) {
            console.log(`${file} on Linux ${release}: a step differed; measured again`);
            d = await diffScenario(sc, { name, kernel: release, probe });
          }
          const unverifiable = judge(d, (i) => vmCannotRun(sc, i));
          if (unverifiable) {
            console.log(`${file} on Linux ${release}: skipped, ${unverifiable}`);
            ctx.skip();
          }
        },
        20 * 60_000,
      );
    }
  });
}
