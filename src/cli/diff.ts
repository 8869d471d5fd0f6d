// `gupsim diff FILE [--json] [--runs N]`: run a scenario on the model and on the host kernel and print,
// step by step, where ret, errno, the pin counters' per-step increments and the inspectable page
// fields differ (src/probe/diff.ts), ending with one summary line. Exit 0 only when they agree (the
// summary's verdict: something compared, nothing differs, is flaky, unverified or noisy); exit 1
// otherwise, a scenario this host could not run at all ("not compared") included.

import type { Command } from 'commander';
import { readScenario } from './scenario_file.js';
import { UserError } from './errors.js';
import { scenarioName, withProbeErrors } from './probe.js';
import { diffScenario, formatDiff } from '../probe/diff.js';

export function registerDiff(program: Command, setCode: (c: number) => void): void {
  program
    .command('diff')
    .description(
      'run a scenario on the model and on the host kernel and show where they differ (exit 0 only if they agree)',
    )
    .argument('<file>', 'scenario file (YAML or JSON)')
    .option('--json', 'print the comparison as JSON')
    .option('--runs <n>', 'kernel runs at most, to confirm a difference against host noise', '3')
    .option('--timeout <ms>', 'time a helper command may take before the helpers are killed', '10000')
    .action(async (file: string, o: { json?: boolean; runs: string; timeout: string }) => {
      const sc = readScenario(file);
      const maxRuns = Number(o.runs);
      if (!Number.isInteger(maxRuns) || maxRuns < 1 || maxRuns > 5)
        throw new UserError('ERR_USAGE', `--runs: expected 1 to 5, got "${o.runs}"`);
      const timeoutMs = Number(o.timeout);
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
        throw new UserError('ERR_USAGE', `--timeout: expected milliseconds, got "${o.timeout}"`);
      const d = await withProbeErrors(() => diffScenario(sc, { name: scenarioName(file), maxRuns, timeoutMs }));
      process.stdout.write(o.json ? JSON.stringify(d, null, 2) + '\n' : formatDiff(d));
      setCode(d.agree ? 0 : 1);
    });
}
