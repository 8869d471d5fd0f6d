// `gupsim probe FILE [--json] [--kernel 6.1|6.12]`: run a scenario on the host kernel (src/probe/engine.ts)
// or on Debian's kernel of another release in a throwaway qemu VM (src/probe/vm/), and print the
// same result JSON as `gupsim run`, with engine "kernel", or the same step table plus what the probe
// changed on the host (restored) and could not apply.

import type { Command } from 'commander';
import { basename } from 'node:path';
import { readScenario } from './scenario_file.js';
import { formatRun } from './run.js';
import { UserError } from './errors.js';
import { probeScenario, type KernelRunResult } from '../probe/engine.js';
import { vmProgress } from './vm_progress.js';
import { VM_RELEASES } from '../probe/vm/releases.js';
import { ProbeError } from '../probe/errors.js';
import type { RunResult } from '../scenario/result.js';

/** Run fn, turning the probe's host errors into UserErrors (exit 2, no stack trace). */
export async function withProbeErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ProbeError) throw new UserError(e.code, e.message);
    throw e;
  }
}

export function scenarioName(file: string): string {
  return basename(file).replace(/\.(ya?ml|json)$/, '');
}

/** The step table of formatRun, then the host settings changed and the notes. */
export function formatProbe(res: KernelRunResult): string {
  const out = [formatRun(res as unknown as RunResult, false).trimEnd()];
  const where = res.vm ? 'the VM' : 'this host';
  if (res.vm)
    out.push(
      `VM: Debian's ${res.vm.kver} (${res.vm.package}), ${res.vm.memory_mib} MiB, booted (${res.vm.booted}) in ` +
        `${res.vm.boot_seconds} s; kernel command line: ${res.vm.cmdline}`,
    );
  if (res.settings.length) {
    out.push(res.vm ? 'VM settings changed for the run:' : 'host settings changed for the run (restored):');
    for (const s of res.settings) out.push(`  ${s.what}: ${s.from} -> ${s.to}`);
  }
  const unsupported = res.steps.filter((s) => s.unsupported !== undefined).length;
  if (unsupported) out.push(`${unsupported} step(s) not run on ${where} (see "unsupported" above)`);
  if (res.noise)
    out.push(
      'host noise: the pin counters moved while the probe was idle (other activity on the machine); re-run, or use ' +
        '`gupsim diff`',
    );
  for (const n of res.notes) out.push(`note: ${n}`);
  if (res.error) out.push(`error: ${res.error}`);
  return out.join('\n') + '\n';
}

export const KERNEL_OPTION_HELP =
  "run on Debian's Linux 6.1 or 6.12 in a throwaway qemu VM (downloaded and cached on first use) instead of this " +
  'host\'s kernel (the default; also "host" or its own release)';

/** --timeout in ms; the VM default is longer (emulation). */
export function parseTimeout(value: string | undefined, vm: boolean): number | undefined {
  if (value === undefined) return vm ? undefined : 10_000;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new UserError('ERR_USAGE', `--timeout: expected milliseconds, got "${value}"`);
  return ms;
}

export function registerProbe(program: Command, setCode: (c: number) => void): void {
  program
    .command('probe')
    .description(
      "run a scenario on a live kernel with real system calls: the host's (Linux; builds a C helper; root for " +
        "some steps) or, with --kernel, Debian's 6.1/6.12 in a qemu VM",
    )
    .argument('<file>', 'scenario file (YAML or JSON)')
    .option('--json', 'print the result JSON (as `gupsim run --json`, engine "kernel")')
    .option('--kernel <release>', KERNEL_OPTION_HELP)
    .option(
      '--timeout <ms>',
      'time a helper command may take before the helpers are killed (default 10000; 30000 in a VM)',
    )
    .action(async (file: string, o: { json?: boolean; timeout?: string; kernel?: string }) => {
      const sc = readScenario(file);
      const timeoutMs = parseTimeout(o.timeout, (VM_RELEASES as readonly string[]).includes(o.kernel ?? ''));
      const res = await withProbeErrors(() =>
        probeScenario(sc, { name: scenarioName(file), timeoutMs, kernel: o.kernel, progress: vmProgress() }),
      );
      process.stdout.write(o.json ? JSON.stringify(res, null, 2) + '\n' : formatProbe(res));
      setCode(res.ok && !res.error ? 0 : 1);
    });
}
