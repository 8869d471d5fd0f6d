// `gupsim run FILE [--json] [--strict] [--kernel 6.1|6.12|6.18|all]` and `gupsim check FILE`.

import type { Command } from 'commander';
import { basename } from 'node:path';
import { readScenarioQuick } from './scenario_quick.js';
import { runScenario } from '../scenario/run.js';
import { type RunResult, type StepResult } from '../scenario/result.js';
import { formatWarn } from '../mm/warn.js';
import type { ForkStats } from '../kernel/fork.js';
import { counter, renderTable, type Row } from '../scenario/table.js';
import { frameLines, pageLine } from './pages.js';
import { KERNEL_HELP, kernelOption, onModel } from './kernel_option.js';
import { runAllKernels } from './run_kernels.js';
import { formatData, hex } from '../scenario/data.js';

export function registerRun(program: Command, setCode: (c: number) => void): void {
  program
    .command('run')
    .description('run a scenario on the model (exit 1 if an expect step fails, 2 on bad input)')
    .argument('<file>', 'scenario file (YAML or JSON)')
    .option('--json', 'print the result JSON (DESIGN.md contract)')
    .option('--strict', 'also fail (exit 1) on any kernel WARN, any misuse record, or pins still held at the end')
    .option('--kernel <release>', `${KERNEL_HELP}; all: run on each and show where they differ`)
    .addHelpText('after', '\nExample:\n  gupsim run examples/doc-bias-small-folio.yaml --json')
    .action(async (file: string, o: { json?: boolean; strict?: boolean; kernel?: string }) => {
      const sc = await readScenarioQuick(file);
      const name = basename(file).replace(/\.(ya?ml|json)$/, '');
      if (o.kernel === 'all') {
        setCode(
          runAllKernels(sc, name, {
            json: !!o.json,
            strict: !!o.strict,
            strictFails: (r) => strictFailures(r).length > 0,
          }),
        );
        return;
      }
      const profile = kernelOption(o.kernel, 'run');
      const res = onModel(file, () => runScenario(sc, { name, profile }));
      process.stdout.write(o.json ? JSON.stringify(res, null, 2) + '\n' : formatRun(res, !!o.strict));
      setCode(!res.ok || (o.strict && strictFailures(res).length) ? 1 : 0);
    });
  program
    .command('check')
    .description('validate a scenario without running it')
    .argument('<file>', 'scenario file')
    .option('--json', 'print { file, ok, steps } (errors still go to stderr with exit 2)')
    .addHelpText('after', '\nExample:\n  gupsim check examples/vmsplice.yaml')
    .action(async (file: string, o: { json?: boolean }) => {
      const sc = await readScenarioQuick(file);
      process.stdout.write(
        o.json
          ? JSON.stringify({ file, ok: true, steps: sc.steps.length }) + '\n'
          : `${file}: ok (${sc.steps.length} steps)\n`,
      );
      setCode(0);
    });
}

/** What `--strict` fails on: kernel WARNs, misuse records, and pins or references still held (a leak). */
export function strictFailures(res: RunResult): string[] {
  const out: string[] = [];
  if (res.warnings.length) out.push(`${res.warnings.length} kernel WARN(s)`);
  if (res.misuse?.length) out.push(`${res.misuse.length} misuse record(s)`);
  const held = res.pins.filter((p) => p.pins > 0 || p.refs > 0).length;
  if (held) out.push(`${held} holder(s) still holding pins or references`);
  return out;
}

/** Text wrapped at word boundaries to lines of MISUSE_WIDTH columns; lines after the first indented more. */
function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  const lead = () => (lines.length ? indent + '  ' : indent);
  for (const word of text.split(' ')) {
    if (line && lead().length + line.length + 1 + word.length > MISUSE_WIDTH) {
      lines.push(lead() + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(lead() + line);
  return lines;
}

const MISUSE_WIDTH = 110;

/** The result cell of a step. */
export function resultCell(s: StepResult): string {
  if (typeof s.unsupported === 'string') return 'skipped'; // live-kernel engine only
  if (s.op === 'expect') return s.failures ? 'FAIL' : 'ok';
  return s.errno ? `-${s.errno}` : String(s.ret);
}

/** The notes of a step, and the lines shown under it. */
export function stepNotes(s: StepResult): { notes: string[]; details: string[] } {
  const notes: string[] = [];
  const details: string[] = [];
  if (typeof s.unsupported === 'string') notes.push(`unsupported: ${s.unsupported}`);
  if (s.noise) notes.push('host noise: counters moved while idle');
  if (typeof s.signal === 'string') notes.push(s.signal);
  if (s.why) notes.push(`${s.why.fn}: ${s.why.rule}`);
  if (s.failures) notes.push(...s.failures);
  for (const r of s.misuse ?? []) notes.push(`MISUSE${r.handle ? ` (${r.handle})` : ''}: ${r.what}`);
  if (typeof s.note === 'string') notes.push(s.note);
  if (typeof s.migrated === 'number')
    notes.push(`${s.migrated} page(s) migrated out of ZONE_MOVABLE/CMA, then the pin retried`);
  if (Array.isArray(s.data) && s.data.length) notes.push(`data ${formatData(s.data as Array<number | null>)}`);
  if (typeof s.value === 'number') notes.push(`wrote ${hex(s.value)}`);
  const fork = s.fork as ForkStats | undefined;
  if (s.op === 'fork' && fork)
    notes.push(
      `${fork.shared} page(s) shared, ${fork.copied} copied early (maybe pinned), ${fork.pmd_split} PMD(s) split`,
    );
  if (s.op === 'mremap' && typeof s.addr === 'string') notes.push(`${s.moved ? 'moved to' : 'stays at'} ${s.addr}`);
  if ((s.op === 'mlock' || s.op === 'munlock') && typeof s.locked_vm === 'number')
    notes.push(`locked_vm ${s.locked_vm} pages`);
  const pages = s.pages as Array<Record<string, unknown>> | undefined;
  if (pages) {
    for (const p of pages.slice(0, 4)) details.push(pageLine(p));
    if (pages.length > 4) details.push(`... ${pages.length - 4} more pages`);
  }
  if (s.handle && Array.isArray(s.frames))
    details.push(...frameLines(s.handle as Record<string, unknown>, s.frames as Array<Record<string, unknown>>));
  if (typeof s.text === 'string' && s.op === 'dump_page') details.push(...s.text.trimEnd().split('\n'));
  return { notes, details };
}

/** The human step table: op, result, pin counters (total (+delta)) and what happened. */
export function formatRun(res: RunResult, strict: boolean): string {
  const out: string[] = [];
  out.push(`scenario: ${res.scenario}   engine: ${res.engine} (${res.kernel})`);
  let prevA = 0;
  let prevR = 0;
  const rows: Row[] = res.steps.map((s) => {
    const a = s.vmstat.nr_foll_pin_acquired;
    const r = s.vmstat.nr_foll_pin_released;
    const row = { a: counter(a, a - prevA), r: counter(r, r - prevR) };
    prevA = a;
    prevR = r;
    const label = `${s.op}${typeof s.repeat === 'number' ? ` ×${s.repeat}` : ''}${s.label ? ` [${s.label}]` : ''}`;
    const { notes, details } = stepNotes(s);
    return { cells: [String(s.index), label, resultCell(s), row.a, row.r, notes.join('; ')], details };
  });
  out.push(...renderTable(['#', 'step', 'result', 'acquired', 'released', 'notes'], rows));
  out.push('');
  out.push(
    `vmstat: nr_foll_pin_acquired ${res.vmstat.nr_foll_pin_acquired}, nr_foll_pin_released ` +
      `${res.vmstat.nr_foll_pin_released} (deltas)`,
  );
  if (res.engine === 'kernel') {
    out.push(
      `outstanding at the end: ${res.vmstat.nr_foll_pin_acquired - res.vmstat.nr_foll_pin_released} pinned page(s) ` +
        `(acquired - released; the kernel does not say by whom)`,
    );
  } else if (res.pins.length) {
    out.push(`${strict ? 'LEAK' : 'still held'} at the end:`);
    for (const p of res.pins)
      out.push(`  ${p.type} ${p.owner} (process ${p.process}): ${p.pins} pinned page(s), ${p.refs} reference(s)`);
  } else out.push('no pins or references held at the end');
  if (res.warnings.length) {
    out.push('warnings:');
    for (const w of res.warnings) out.push('  ' + formatWarn(w));
  }
  if (res.misuse?.length) {
    out.push("misuse (gupsim's diagnosis: the kernel reports none of it, beyond any WARN listed above):");
    for (const r of res.misuse) {
      const where = [r.step !== undefined ? `step ${r.step}` : '', r.handle ? `"${r.handle}"` : ''].filter(Boolean);
      out.push(...wrap(`${where.length ? where.join(' ') + ': ' : ''}${r.what}`, '  '));
      out.push(...wrap(`kernel: ${r.kernel}`, '    '));
    }
  }
  const strictFail = strict ? strictFailures(res) : [];
  if (!res.ok) out.push('FAILED: an expect step did not hold');
  else if (strictFail.length) out.push(`FAILED (--strict): ${strictFail.join(', ')}`);
  else out.push('ok');
  return out.join('\n') + '\n';
}
