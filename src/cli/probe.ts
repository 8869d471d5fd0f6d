// `gupsim probe FILE [--json]`: run a scenario on the host kernel (src/probe/engine.ts) and print the
// same result JSON as `gupsim run`, with engine "kernel", or the same step table plus what the probe
// changed on the host (restored) and could not apply.

import type { Command } from 'commander';
import { basename } from 'node:path';
import { readScenario } from './scenario_file.js';
import { formatRun } from './run.js';
import { UserError } from './errors.js';
import { probeScenario, type KernelRunResult } from '../probe/engine.js';
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
  if (res.settings.length) {
    out.push('host settings changed for the run (restored):');
    for (const s of res.settings) out.push(`  ${s.what}: ${s.from} -> ${s.to}`);
  }
  const unsupported = res.steps.filter((s) => s.unsupported !== undefined).length;
  if (unsupported) out.push(`${unsupported} step(s) not run on this host (see "unsupported" above)`);
  if (res.noise)
    out.push(
      'host noise: the pin counters moved while the probe was idle (other activity on the machine); re-run, or use ' +
        '`gupsim diff`',
    );
  for (const n of res.notes) out.push(`note: ${n}`);
  if (res.error) out.push(`error: ${res.error}`);
  return out.join('\n') + '\n';
}

export function registerProbe(program: Command, setCode: (c: number) => void): void {
  program
    .command('probe')
    .description(
      'run a scenario on the host kernel with real system calls (Linux; builds a C helper; root for some steps)',
    )
    .argument('<file>', 'scenario file (YAML or JSON)')
    .option('--json', 'print the result JSON (as `gupsim run --json`, engine "kernel")')
    .option('--timeout <ms>', 'time a helper command may take before the helpers are killed', '10000')
    .action(async (file: string, o: { json?: boolean; timeout: string }) => {
      const sc = readScenario(file);
      const timeoutMs = Number(o.timeout);
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
        throw new UserError('ERR_USAGE', `--timeout: expected milliseconds, got "${o.timeout}"`);
      const res = await withProbeErrors(() => probeScenario(sc, { name: scenarioName(file), timeoutMs }));
      process.stdout.write(o.json ? JSON.stringify(res, null, 2) + '\n' : formatProbe(res));
      setCode(res.ok && !res.error ? 0 : 1);
    });
}
