// `gupsim run FILE [--json] [--strict] [--kernel 6.1|6.12|6.18|all]` and `gupsim check FILE`.

import type { Command } from 'commander';
import { basename } from 'node:path';
import { readScenario } from './scenario_file.js';
import { runScenario } from '../scenario/run.js';
import { type RunResult } from '../scenario/result.js';
import { formatWarn } from '../mm/debug.js';
import { KERNEL_HELP, kernelOption, onModel } from './kernel_option.js';
import { runAllKernels } from './run_kernels.js';

export function registerRun(program: Command, setCode: (c: number) => void): void {
  program
    .command('run')
    .description('run a scenario on the model (exit 1 if an expect step fails, 2 on bad input)')
    .argument('<file>', 'scenario file (YAML or JSON)')
    .option('--json', 'print the result JSON (DESIGN.md contract)')
    .option('--strict', 'also fail (exit 1) when pins are still held at the end')
    .option('--kernel <release>', `${KERNEL_HELP}; all: run on each and show where they differ`)
    .action((file: string, o: { json?: boolean; strict?: boolean; kernel?: string }) => {
      const sc = readScenario(file);
      const name = basename(file).replace(/\.(ya?ml|json)$/, '');
      if (o.kernel === 'all') {
        setCode(runAllKernels(sc, name, { json: !!o.json, strict: !!o.strict }));
        return;
      }
      const profile = kernelOption(o.kernel, 'run');
      const res = onModel(file, () => runScenario(sc, { name, profile }));
      const leaked = res.pins.some((p) => p.pins > 0 || p.refs > 0);
      process.stdout.write(o.json ? JSON.stringify(res, null, 2) + '\n' : formatRun(res, !!o.strict));
      setCode(!res.ok || (o.strict && leaked) ? 1 : 0);
    });
  program
    .command('check')
    .description('validate a scenario without running it')
    .argument('<file>', 'scenario file')
    .action((file: string) => {
      const sc = readScenario(file);
      process.stdout.write(`${file}: ok (${sc.steps.length} steps)\n`);
      setCode(0);
    });
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** The human step table: op, result, pin counters and what changed. */
export function formatRun(res: RunResult, strict: boolean): string {
  const out: string[] = [];
  out.push(`scenario: ${res.scenario}   engine: ${res.engine} (${res.kernel})`);
  out.push(`${pad('#', 4)}${pad('step', 32)}${pad('result', 14)}${pad('acquired', 10)}${pad('released', 10)}notes`);
  let prevA = 0;
  let prevR = 0;
  for (const s of res.steps) {
    const a = s.vmstat.nr_foll_pin_acquired;
    const r = s.vmstat.nr_foll_pin_released;
    const da = a - prevA ? ` (+${a - prevA})` : '';
    const dr = r - prevR ? ` (+${r - prevR})` : '';
    prevA = a;
    prevR = r;
    const skipped = typeof s.unsupported === 'string' ? s.unsupported : undefined; // live-kernel engine only
    const result = skipped
      ? 'skipped'
      : s.op === 'expect'
        ? s.failures
          ? 'FAIL'
          : 'ok'
        : s.errno
          ? `-${s.errno}`
          : String(s.ret);
    const notes: string[] = [];
    if (skipped) notes.push(`unsupported: ${skipped}`);
    if (s.noise) notes.push('host noise: counters moved while idle');
    if (s.why) notes.push(`${s.why.fn}: ${s.why.rule}`);
    if (s.failures) notes.push(...s.failures);
    const pages = s.pages as Array<Record<string, unknown>> | undefined;
    if (pages)
      for (const p of pages.slice(0, 4))
        notes.push(
          p.present
            ? `page ${p.page}: pfn ${typeof p.pfn === 'number' ? '0x' + p.pfn.toString(16) : '-'} ref ` +
                `${p.refcount ?? '-'} map ${p.mapcount ?? '-'} pin ${p.pincount ?? '-'} order ${p.order ?? '-'} ` +
                `${p.mapped_by ?? '-'}${p.maybe_dma_pinned ? ' pinned' : ''}${p.anon_exclusive ? ' excl' : ''}` +
                `${p.zero_page ? ' zero' : ''}`
            : `page ${p.page}: not present`,
        );
    if (pages && pages.length > 4) notes.push(`... ${pages.length - 4} more pages`);
    const label = s.label ? `${s.op} [${s.label}]` : s.op;
    out.push(
      `${pad(String(s.index), 4)}${pad(label, 32)}${pad(result, 14)}${pad(String(a) + da, 10)}` +
        `${pad(String(r) + dr, 10)}${notes.join('; ')}`,
    );
    if (typeof s.text === 'string' && s.op === 'dump_page') out.push(s.text.replace(/^/gm, '      ').trimEnd());
  }
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
  out.push(res.ok ? 'ok' : 'FAILED: an expect step did not hold');
  return out.join('\n') + '\n';
}
