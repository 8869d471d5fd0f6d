// `gupsim explore FILE [--max-states N] [--without NAME...] [--json]`: every interleaving of the
// scenario's concurrent threads (tools/explore), its distinct end states and the properties violated.

import type { Command } from 'commander';
import { basename } from 'node:path';
import { readScenario } from './scenario_file.js';
import { UserError } from './errors.js';
import { explore, type ExploreResult, type TraceStep } from '../tools/explore/explorer.js';
import { PROTECTION_DOCS, protectionByFlag, type ProtectionName } from '../mm/protections.js';

export function registerExplore(program: Command, setCode: (c: number) => void): void {
  program
    .command('explore')
    .description("run every interleaving of a scenario's concurrent threads; exit 1 if a property is violated")
    .argument('<file>', 'scenario file with a concurrent step')
    .option('--max-states <n>', 'stop after exploring this many states', '1000000')
    .option(
      '--without <name>',
      `switch a kernel protection off (repeatable): ${PROTECTION_DOCS.map((d) => d.flag).join(', ')}`,
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nProtections (all on in Linux 6.18):\n' +
        PROTECTION_DOCS.map((d) => `  ${d.flag.padEnd(18)} ${d.commit}`).join('\n') +
        '\n\nExample:\n  gupsim explore examples/race-fork-gup-fast.yaml --without write-protect-seq',
    )
    .action((file: string, o: { maxStates: string; without: string[]; json?: boolean }) => {
      const sc = readScenario(file);
      if (!sc.steps.some((s) => s.op === 'concurrent'))
        throw new UserError('ERR_SCENARIO_INVALID', `${file}: no concurrent step: nothing to explore`);
      const max = Number(o.maxStates);
      if (!Number.isInteger(max) || max <= 0)
        throw new UserError('ERR_USAGE', `--max-states: expected a positive integer, got "${o.maxStates}"`);
      const without: ProtectionName[] = o.without.map((n) => {
        const d = protectionByFlag(n);
        if (!d)
          throw new UserError(
            'ERR_USAGE',
            `--without: unknown protection "${n}" (known: ${PROTECTION_DOCS.map((x) => x.flag).join(', ')})`,
          );
        return d.key;
      });
      const tty = !o.json && process.stderr.isTTY;
      const res = explore(sc, {
        maxStates: max,
        without,
        name: basename(file).replace(/\.(ya?ml|json)$/, ''),
        onProgress: tty ? (n, m) => process.stderr.write(`\r${progress(n, m)}`) : undefined,
      });
      if (tty) process.stderr.write('\r\x1b[K');
      process.stdout.write(o.json ? JSON.stringify(res, null, 2) + '\n' : formatExplore(res));
      setCode(res.violations.length ? 1 : 0);
    });
}

function progress(n: number, max: number): string {
  const width = 30;
  const done = Math.min(width, Math.round((n / max) * width));
  return `exploring [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${n} states`;
}

function traceLines(trace: TraceStep[]): string[] {
  return trace.map((t, i) => `  ${String(i + 1).padStart(3)}. ${t.thread.padEnd(8)} ${t.fn}: ${t.what}`);
}

/** The text report: counts, end states, violations with their interleaving. */
export function formatExplore(r: ExploreResult): string {
  const out: string[] = [];
  const off = r.without.length
    ? `without ${r.without.map((k) => PROTECTION_DOCS.find((d) => d.key === k)?.flag ?? k).join(', ')}`
    : "Linux 6.18's protections";
  out.push(`${r.scenario} (${off})`);
  out.push(
    `${r.interleavings} interleavings${r.reduction ? ' (one per order of dependent points)' : ''}, ` +
      `${r.states} states explored in ${r.search_seconds.toFixed(2)} s (${r.states_per_second}/s)` +
      `${r.truncated ? ' -- stopped at --max-states: not every interleaving ran' : ''}`,
  );
  out.push('', `${r.ends.length} distinct end state(s):`);
  r.ends.forEach((e, i) => {
    const counters = Object.entries(e.counters).map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`);
    out.push(`  #${i + 1}: ${e.interleavings} interleaving(s); ${counters.join(', ') || 'no counter moved'}`);
    for (const l of [...e.returns, ...e.pages, ...e.handles]) out.push(`      ${l}`);
  });
  if (!r.violations.length) out.push('', 'No property is violated.');
  for (const v of r.violations) {
    out.push(
      '',
      `VIOLATED: ${v.property}`,
      `  ${v.message}`,
      `  the shortest interleaving (${v.trace.length} points):`,
    );
    out.push(...traceLines(v.trace));
  }
  return out.join('\n') + '\n';
}
