// `gupsim advise`: which GUP call to make, from the five cases of
// Documentation/core-api/pin_user_pages.rst (kernel/advisor.ts decides). Answers come from flags, or,
// with no answer flags and a terminal on stdin, from yes/no questions. No flags and no terminal is a
// usage error (exit 2): there is nothing to advise on.

import { Command, Option } from 'commander';
import { createInterface } from 'node:readline/promises';
import { advise, MEMORY_KINDS, type Advice, type AdvisorInput, type MemoryKind } from '../tools/advisor.js';
import { UserError } from './errors.js';

interface AdviseOptions {
  dma?: boolean;
  longLived?: boolean;
  writes?: boolean;
  mmuNotifier?: boolean;
  structPageOnly?: boolean;
  deviceFaults?: boolean;
  memory?: MemoryKind;
  json?: boolean;
}

/** The answers given as flags, or undefined when none was (then the questions are asked). */
export function inputFromFlags(o: AdviseOptions): AdvisorInput | undefined {
  const given = [o.dma, o.longLived, o.writes, o.mmuNotifier, o.structPageOnly, o.deviceFaults, o.memory].some(
    (v) => v !== undefined,
  );
  if (!given) return undefined;
  const input: AdvisorInput = {
    dma: !!o.dma,
    longLived: !!o.longLived,
    writesData: !!o.writes,
    mmuNotifier: !!o.mmuNotifier,
    structPageOnly: !!o.structPageOnly,
  };
  if (o.memory) input.memory = o.memory;
  if (o.deviceFaults !== undefined) input.deviceFaults = o.deviceFaults;
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

/** The human report: case, call, flags, release, then why and pitfalls. */
export function formatAdvice(adv: Advice, width = 100): string {
  const out: string[] = [];
  out.push(`Case ${adv.case}: ${adv.title} (Documentation/core-api/pin_user_pages.rst)`);
  out.push(wrap(adv.api, width, '  call:     ', '            '));
  const flags = adv.flags.length ? adv.flags.join(' | ') : '(none)';
  const implied = adv.implied.length
    ? `   (${adv.implied.join(', ')} set by the API itself)`
    : '   (no page reference taken)';
  out.push(wrap(flags + implied, width, '  flags:    ', '            '));
  out.push(wrap(adv.release, width, '  release:  ', '            '));
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
    .option('--json', 'print the advice as JSON')
    .addHelpText(
      'after',
      '\nWith no answer flags and a terminal on stdin, the questions are asked interactively.\n' +
        'Example: gupsim advise --dma --long-lived --writes --memory anon\n',
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
      const adv = advise(input);
      if (o.json) process.stdout.write(JSON.stringify({ schemaVersion: 1, input, ...adv }, null, 2) + '\n');
      else process.stdout.write(formatAdvice(adv, Math.max(60, Math.min(100, process.stdout.columns || 100))));
      setCode(0);
    });
}
