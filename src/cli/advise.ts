// `gupsim advise`: which GUP call to make, from the five cases of
// Documentation/core-api/pin_user_pages.rst (tools/advisor.ts decides), checked on the model
// (tools/advisor_check.ts runs the recommended call and release in every memory setup the answers
// allow; where the model refuses, the output says so first, with the rule and what works instead).
// Answers come from flags, or, with no answer flags and a terminal on stdin, from questions. No flags
// and no terminal is a usage error (exit 2): there is nothing to advise on.

import { Command, Option } from 'commander';
import { createInterface } from 'node:readline/promises';
import {
  inputError,
  MEMORY_KINDS,
  SHARING_KINDS,
  setupText,
  type AdvisorInput,
  type MemoryKind,
} from '../tools/advisor.js';
import {
  adviseChecked,
  AdviceChecker,
  checkMachine,
  type CheckedAdvice,
  type Checked,
  type CheckRun,
} from '../tools/advisor_check.js';
import { UserError } from './errors.js';
import { KERNEL_HELP, kernelOption } from './kernel_option.js';

interface AdviseOptions {
  dma?: boolean;
  longLived?: boolean;
  writes?: boolean;
  mmuNotifier?: boolean;
  structPageOnly?: boolean;
  deviceFaults?: boolean;
  memory?: MemoryKind;
  shared?: boolean;
  private?: boolean;
  json?: boolean;
  kernel?: string;
}

/**
 * The answers given as flags, or undefined when none was (then the questions are asked). Answers that
 * contradict each other (--shared with --private, MAP_SHARED anonymous memory) are a usage error.
 */
export function inputFromFlags(o: AdviseOptions): AdvisorInput | undefined {
  const given = [
    o.dma,
    o.longLived,
    o.writes,
    o.mmuNotifier,
    o.structPageOnly,
    o.deviceFaults,
    o.memory,
    o.shared,
    o.private,
  ].some((v) => v !== undefined);
  if (!given) return undefined;
  if (o.shared && o.private) throw new UserError('ERR_USAGE', 'advise: --shared and --private exclude each other');
  const input: AdvisorInput = {
    dma: !!o.dma,
    longLived: !!o.longLived,
    writesData: !!o.writes,
    mmuNotifier: !!o.mmuNotifier,
    structPageOnly: !!o.structPageOnly,
  };
  if (o.memory) input.memory = o.memory;
  if (o.shared || o.private) input.shared = !!o.shared;
  if (o.deviceFaults !== undefined) input.deviceFaults = o.deviceFaults;
  const err = inputError(input);
  if (err) throw new UserError('ERR_USAGE', `advise: ${err}`);
  return input;
}

/** Ask a question, get the raw answer; null at end of input. */
export type Ask = (question: string) => Promise<string | null>;

async function yesNo(ask: Ask, q: string, allowUnknown = false): Promise<boolean | undefined> {
  const hint = allowUnknown ? '[y/n/?]' : '[y/n]';
  for (;;) {
    const a = await ask(`${q} ${hint} `);
    if (a === null) throw new UserError('ERR_USAGE', 'advise: no answer (end of input)');
    const v = a.trim().toLowerCase();
    if (v === 'y' || v === 'yes') return true;
    if (v === 'n' || v === 'no') return false;
    if (allowUnknown && (v === '?' || v === '' || v === 'unknown')) return undefined;
  }
}

/** The interview: the doc's distinctions, one yes/no question at a time. */
export async function interview(ask: Ask): Promise<AdvisorInput> {
  const dma = (await yesNo(ask, 'Does a device (DMA) read or write the pages?'))!;
  const longLived = (await yesNo(
    ask,
    'Are the pages kept in use for an unbounded time (RDMA MR, VFIO mapping, io_uring fixed buffer)?',
  ))!;
  const writesData = (await yesNo(ask, 'Is the data within the pages written (by the device or by the kernel)?'))!;
  const mmuNotifier = (await yesNo(
    ask,
    'Does the driver register an MMU notifier for the range and stop using it on invalidation?',
  ))!;
  const input: AdvisorInput = { dma, longLived, writesData, mmuNotifier, structPageOnly: false };
  if (mmuNotifier) {
    const f = await yesNo(ask, 'Does the device support replayable page faults?', true);
    if (f !== undefined) input.deviceFaults = f;
  }
  if (!dma && !writesData && !mmuNotifier) {
    input.structPageOnly = (await yesNo(
      ask,
      'Is only struct page used (refcount, flags, mapping), never the memory contents?',
    ))!;
  }
  for (;;) {
    const a = await ask(`What memory backs the buffer? [${MEMORY_KINDS.join('/')}/unknown] `);
    if (a === null) throw new UserError('ERR_USAGE', 'advise: no answer (end of input)');
    const v = a.trim().toLowerCase();
    if (v === '' || v === 'unknown' || v === '?') break;
    if ((MEMORY_KINDS as readonly string[]).includes(v)) {
      input.memory = v as MemoryKind;
      break;
    }
  }
  // MAP_SHARED or MAP_PRIVATE changes the answer only for file-backed memory, shmem and hugetlb.
  if (input.memory && SHARING_KINDS.includes(input.memory)) {
    for (;;) {
      const a = await ask('Is it mapped MAP_SHARED or MAP_PRIVATE? [shared/private/unknown] ');
      if (a === null) throw new UserError('ERR_USAGE', 'advise: no answer (end of input)');
      const v = a.trim().toLowerCase().replace(/^map_/, '');
      if (v === '' || v === 'unknown' || v === '?') break;
      if (v === 's' || v === 'shared' || v === 'p' || v === 'private') {
        input.shared = v.startsWith('s');
        break;
      }
    }
  }
  return input;
}

/** Word-wrap `text` to `width` columns, the first line after `first`, the others indented by `indent`. */
function wrap(text: string, width: number, first: string, indent: string): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const w of words) {
    if (!empty && line.length + 1 + w.length > width) {
      lines.push(line);
      line = indent + w;
    } else {
      line += (empty ? '' : ' ') + w;
    }
    empty = false;
  }
  lines.push(line);
  return lines.join('\n');
}

/** What one run came to: "16/16 pages released" or "-EFAULT from check_vma_flags()". */
function runVerdict(r: CheckRun): string {
  if (r.ok) return `${r.done}/${r.nr_pages} pages ${r.call.startsWith('hmm_range_fault') ? 'mirrored' : 'released'}`;
  if (r.ret < 0) return `-${r.errno}` + (r.why ? ` from ${r.why.fn}()` : '');
  if (r.done < r.nr_pages) return `only ${r.done}/${r.nr_pages} pages` + (r.why ? ` (${r.why.fn}())` : '');
  if (!r.released) return 'pins or references left after the release';
  return `WARN: ${r.warnings.join('; ')}`;
}

/** The model's verdict, per call (named when there are several, or when `named`): accepted or refused where. */
export function checkedText(c: Checked, named = false): string[] {
  const calls = [...new Set(c.runs.map((r) => r.call))];
  return calls.map((call) => {
    const runs = c.runs.filter((r) => r.call === call);
    const prefix = named || calls.length > 1 ? `${call}: ` : '';
    if (runs.length === 1) return `${prefix}${runs[0]!.ok ? 'accepted' : 'REFUSED'} (${runVerdict(runs[0]!)})`;
    const ok = runs.filter((r) => r.ok);
    const bad = runs.filter((r) => !r.ok);
    const parts: string[] = [];
    if (ok.length === runs.length) parts.push(`accepted in every memory setup (${ok.map(setupText).join('; ')})`);
    else if (ok.length) parts.push(`accepted on ${ok.map(setupText).join('; ')}`);
    if (bad.length) parts.push(`REFUSED on ${bad.map((r) => `${setupText(r)} (${runVerdict(r)})`).join('; ')}`);
    return prefix + parts.join('; ');
  });
}

/** The human report: refusals first, then case, call, flags, release, the model's verdict, why, pitfalls. */
export function formatAdvice(adv: CheckedAdvice, width = 100): string {
  const out: string[] = [];
  for (const r of adv.refusals) {
    const run = r.runs[0]!;
    const where = r.conditional ? `if the memory is ${r.where}` : `on ${r.where}`;
    const verdict = run.ret < 0 ? `-${run.errno}` : runVerdict(run);
    const rule = run.why ? ` (${run.why.fn}(): ${run.why.rule})` : '';
    out.push(
      wrap(`REFUSED ${where}: the ${adv.checked.kernel} answers ${r.call} with ${verdict}${rule}.`, width, '', '  '),
    );
    out.push(wrap(r.text, width, '  ', '  '));
    out.push(`  What works instead (each run on the ${adv.checked.kernel}):`);
    if (!r.alternatives.length) out.push('  - nothing the advisor knows: the model refuses every alternative too');
    for (const alt of r.alternatives) {
      const verdict = checkedText(alt.checked, true).join('; ');
      out.push(wrap(`${alt.text} [Case ${alt.case}, ${verdict}]`, width, '  - ', '    '));
    }
    out.push('');
  }
  out.push(`Case ${adv.case}: ${adv.title} (Documentation/core-api/pin_user_pages.rst)`);
  out.push(wrap(adv.api, width, '  call:     ', '            '));
  const flags = adv.flags.length ? adv.flags.join(' | ') : '(none)';
  const implied = adv.implied.length
    ? `   (${adv.implied.join(', ')} set by the API itself)`
    : '   (no page reference taken)';
  out.push(wrap(flags + implied, width, '  flags:    ', '            '));
  out.push(wrap(adv.release, width, '  release:  ', '            '));
  for (const line of checkedText(adv.checked))
    out.push(wrap(`${line} on the ${adv.checked.kernel}`, width, '  checked:  ', '            '));
  out.push('');
  out.push('why:');
  for (const w of adv.why) out.push(wrap(w, width, '  - ', '    '));
  out.push('');
  out.push('pitfalls:');
  for (const p of adv.pitfalls) out.push(wrap(p, width, '  - ', '    '));
  return out.join('\n') + '\n';
}

export function registerAdvise(program: Command, setCode: (c: number) => void): void {
  program
    .command('advise')
    .description('which GUP call, flags and release to use: the five cases of pin_user_pages.rst')
    .option('--dma', 'a device reads or writes the pages')
    .option('--long-lived', 'the pages stay in use for an unbounded time')
    .option('--writes', 'the data within the pages is written (by the device or the kernel)')
    .option('--mmu-notifier', 'the driver registers an MMU notifier and stops using the range on invalidation')
    .option('--struct-page-only', 'only struct page is used, never the memory contents')
    .option('--device-faults', 'with --mmu-notifier: the device supports replayable page faults')
    .option('--no-device-faults', 'with --mmu-notifier: the device cannot fault (pin with GUP, unpin on invalidation)')
    .addOption(new Option('--memory <type>', 'what backs the buffer').choices(MEMORY_KINDS as string[]))
    .option('--shared', `the buffer is mapped MAP_SHARED (memory ${SHARING_KINDS.join(', ')})`)
    .option('--private', 'the buffer is mapped MAP_PRIVATE')
    .option('--json', 'print the advice as JSON')
    .option('--kernel <release>', `${KERNEL_HELP}: the model the advice is checked on`)
    .addHelpText(
      'after',
      '\nWith no answer flags and a terminal on stdin, the questions are asked interactively.\n' +
        'The recommended call is run on the model in every memory setup the answers allow; where the model\n' +
        'refuses it, the advice says so first, with the kernel rule and what works instead.',
    )
    .action(async (o: AdviseOptions) => {
      let input = inputFromFlags(o);
      if (!input) {
        if (!process.stdin.isTTY) {
          throw new UserError(
            'ERR_USAGE',
            'advise: give answer flags (e.g. --dma --long-lived --writes) or run it on a terminal to be asked; see ' +
              'gupsim advise --help',
          );
        }
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        // Ctrl-D closes the interface: a pending question then answers null.
        const closed = new Promise<null>((resolve) => rl.once('close', () => resolve(null)));
        const ask: Ask = (q) => Promise.race([rl.question(q).catch(() => null), closed]);
        try {
          input = await interview(ask);
        } finally {
          rl.close();
        }
        process.stdout.write('\n');
      }
      const profile = kernelOption(o.kernel, 'advise');
      const adv = adviseChecked(input, profile ? new AdviceChecker((s) => checkMachine(s, profile)) : undefined);
      if (o.json) {
        // Refusals first, as in the text report.
        const { refusals, ...rest } = adv;
        process.stdout.write(JSON.stringify({ schemaVersion: 1, input, refusals, ...rest }, null, 2) + '\n');
      } else process.stdout.write(formatAdvice(adv, Math.max(60, Math.min(100, process.stdout.columns || 100))));
      setCode(0);
    });
}
