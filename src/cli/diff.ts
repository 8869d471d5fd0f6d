// `gupsim diff FILE [--json] [--runs N] [--kernel 6.1|6.12]`: run a scenario on the model and on a
// live kernel (the host's, or Debian's of another release in a qemu VM) and print, step by step,
// where ret, errno, the pin counters' per-step increments and the inspectable page fields differ
// (src/probe/diff.ts), ending with one summary line. Exit 0 only when they agree (the summary's
// verdict: something compared, nothing differs, is flaky, unverified or noisy); exit 1 otherwise, a
// scenario that kernel could not run at all ("not compared") included.

import type { Command } from 'commander';
import { readScenario } from './scenario_file.js';
import { UserError } from './errors.js';
import { KERNEL_OPTION_HELP, parseTimeout, scenarioName, withProbeErrors } from './probe.js';
import { vmProgress } from './vm_progress.js';
import { VM_RELEASES } from '../probe/vm/releases.js';
import { diffScenario, formatDiff } from '../probe/diff.js';

export function registerDiff(program: Command, setCode: (c: number) => void): void {
  program
    .command('diff')
    .description(
      "run a scenario on the model and on a live kernel (the host's, or with --kernel a VM's) and show where they " +
        'differ (exit 0 only if they agree)',
    )
    .argument('<file>', 'scenario file (YAML or JSON)')
    .option('--json', 'print the comparison as JSON')
    .option(
      '--runs <n>',
      'kernel runs at most, to confirm a difference against host noise (default 3; 1 in a VM, which has no ' +
        'other tenant)',
    )
    .option('--kernel <release>', KERNEL_OPTION_HELP)
    .option(
      '--timeout <ms>',
      'time a helper command may take before the helpers are killed (default 10000; 30000 in a VM)',
    )
    .action(async (file: string, o: { json?: boolean; runs?: string; timeout?: string; kernel?: string }) => {
      const sc = readScenario(file);
      const vm = (VM_RELEASES as readonly string[]).includes(o.kernel ?? '');
      const maxRuns = Number(o.runs ?? (vm ? 1 : 3));
      if (!Number.isInteger(maxRuns) || maxRuns < 1 || maxRuns > 5)
        throw new UserError('ERR_USAGE', `--runs: expected 1 to 5, got "${o.runs}"`);
      const timeoutMs = parseTimeout(o.timeout, vm);
      const d = await withProbeErrors(() =>
        diffScenario(sc, { name: scenarioName(file), maxRuns, timeoutMs, kernel: o.kernel, progress: vmProgress() }),
      );
      process.stdout.write(o.json ? JSON.stringify(d, null, 2) + '\n' : formatDiff(d));
      setCode(d.agree ? 0 : 1);
    });
}
