// `gupsim tour`: the main job on a built-in default. Runs the examples that demonstrate the claims
// of Documentation/core-api/pin_user_pages.rst (and the kernel behaviour behind them), explaining
// each in a sentence or two with the numbers the model produced.

import type { Command } from 'commander';
import { readScenario } from './scenario_file.js';
import { KERNEL_HELP, kernelOption, onModel } from './kernel_option.js';
import { examplePath } from './package_root.js';
import { runScenario } from '../scenario/run.js';
import { type RunResult } from '../scenario/result.js';
import { counter, renderTable, type Row } from '../scenario/table.js';
import { resultCell, stepNotes } from './run.js';
import { delimiter, join, relative } from 'node:path';
import { accessSync, constants } from 'node:fs';
import { packageRoot } from '../probe/package.js';

interface Stop {
  file: string;
  title: string;
}

/** The tour, in teaching order. */
export const TOUR: Stop[] = [
  { file: 'doc-bias-small-folio.yaml', title: 'A pin on a small folio adds GUP_PIN_COUNTING_BIAS' },
  { file: 'doc-false-positive.yaml', title: 'folio_maybe_dma_pinned() false positives' },
  { file: 'doc-large-folio-pincount.yaml', title: 'Large folios count pins exactly in _pincount' },
  { file: 'doc-zero-page.yaml', title: 'The zero page is only pretend-pinned' },
  { file: 'doc-case1-direct-io.yaml', title: 'Case 1: Direct IO pins for the duration of the I/O' },
  { file: 'doc-case2-longterm.yaml', title: 'Case 2: FOLL_LONGTERM migrates out of ZONE_MOVABLE, refuses DAX' },
  { file: 'hmm_mirror.yaml', title: 'Case 3: an MMU-notifier mirror needs no pin at all' },
  { file: 'doc-case4-struct-page.yaml', title: 'Case 4: FOLL_GET references are not pins' },
  {
    file: 'doc-case5-write-data.yaml',
    title: 'Case 5: put_page() leaves the page clean, unpin_user_pages_dirty_lock() marks it dirty',
  },
  { file: 'io-uring-thp-coalesce.yaml', title: 'io_uring keeps one pin per THP of a fixed buffer' },
  { file: 'io_uring_memlock.yaml', title: 'io_uring charges pinned memory to RLIMIT_MEMLOCK' },
  { file: 'rdma_mr.yaml', title: 'RDMA memory registration: long-term pins charged to pinned_vm' },
  { file: 'vfio_dma.yaml', title: 'VFIO DMA mapping: long-term remote pins charged to locked_vm' },
  { file: 'process_vm_readv.yaml', title: "process_vm_readv pins the other process's pages for the copy" },
  { file: 'vmsplice.yaml', title: 'vmsplice holds FOLL_GET references in the pipe, not pins' },
  { file: 'fork-after-pin.yaml', title: 'fork() copies pinned anon pages for the child' },
  { file: 'leak-detected.yaml', title: 'A leaked pin, reported by owner' },
];

/** Every step of a run (expect steps aside) with its result and per-step counter changes. */
export function summarize(res: RunResult): string[] {
  let prevA = 0;
  let prevR = 0;
  const rows: Row[] = [];
  for (const s of res.steps) {
    const a = s.vmstat.nr_foll_pin_acquired;
    const r = s.vmstat.nr_foll_pin_released;
    const cells = [counter(a, a - prevA), counter(r, r - prevR)];
    prevA = a;
    prevR = r;
    if (s.op === 'expect') continue;
    const { notes, details } = stepNotes(s);
    const label = `${s.op}${typeof s.repeat === 'number' ? ` ×${s.repeat}` : ''}${s.label ? ` [${s.label}]` : ''}`;
    rows.push({ cells: [label, resultCell(s), ...cells, notes.join('; ')], details: details.slice(0, 2) });
  }
  const out = renderTable(['step', 'result', 'acquired', 'released', 'what happened'], rows);
  for (const p of res.pins) out.push(`still held: ${p.type} ${p.owner} of ${p.process}: ${p.pins} pinned page(s)`);
  for (const w of res.warnings) out.push(`WARN ${w.fn}: ${w.condition}`);
  for (const r of res.misuse ?? []) out.push(`MISUSE ${r.what} -> kernel: ${r.kernel}`);
  return out;
}

export function registerTour(program: Command, setCode: (c: number) => void): void {
  program
    .command('tour')
    .description('walk through the claims of pin_user_pages.rst on the model, with numbers')
    .option('--json', 'print the results as JSON')
    .option('--kernel <release>', `${KERNEL_HELP}; the examples' expectations are 6.18's`)
    .action((o: { json?: boolean; kernel?: string }) => {
      const profile = kernelOption(o.kernel, 'tour');
      const results: Array<{ title: string; file: string; result: RunResult }> = [];
      let ok = true;
      for (const stop of TOUR) {
        const sc = readScenario(examplePath(stop.file));
        const result = onModel(stop.file, () => runScenario(sc, { name: stop.file, profile }));
        ok &&= result.ok;
        results.push({ title: stop.title, file: stop.file, result });
        if (o.json) continue;
        const n = results.length;
        process.stdout.write(`\n${n}. ${stop.title}  (examples/${stop.file})\n`);
        process.stdout.write(
          `   ${(sc.description ?? '')
            .trim()
            .replace(/\s+/g, ' ')
            .replace(/(.{1,96})(\s|$)/g, '$1\n   ')
            .trimEnd()}\n`,
        );
        for (const line of summarize(result)) process.stdout.write(`   ${line}\n`);
        if (result.ok) process.stdout.write('   all expectations hold\n');
        else {
          // On another release the failed expectations are where it differs from the examples' 6.18.
          process.stdout.write(`   EXPECTATION FAILED on the ${result.kernel}:\n`);
          for (const s of result.steps) for (const f of s.failures ?? []) process.stdout.write(`     ${f}\n`);
        }
      }
      if (o.json)
        process.stdout.write(
          JSON.stringify(
            results.map((r) => ({ title: r.title, file: r.file, ok: r.result.ok, summary: summarize(r.result) })),
            null,
            2,
          ) + '\n',
        );
      else
        process.stdout.write(
          `\n${results.length} stops, ${ok ? 'every expectation held' : 'some expectations FAILED'}. Run one ` +
            `yourself:\n  ${gupsimCommand()} run ${shortPath(examplePath(TOUR[TOUR.length - 1]!.file))}\n`,
        );
      setCode(ok ? 0 : 1);
    });
}

/**
 * The command that runs gupsim from here: `gupsim` when it is on PATH, else node with this package's
 * launcher (a clone that was built but not installed).
 */
export function gupsimCommand(): string {
  const onPath = (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, 'gupsim'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return onPath ? 'gupsim' : `node ${shortPath(join(packageRoot(), 'bin', 'gupsim.js'))}`;
}

/** The path to show for a file: relative when under the current directory, else absolute. */
function shortPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}
