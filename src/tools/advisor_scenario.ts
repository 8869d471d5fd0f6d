// The advisor's answer, checked on the model: a small scenario that makes the advised call, with the
// advised flags, on the memory the user named, then releases it the advised way; run with the same
// runner as `gupsim run`, it shows what the kernel would do with that advice (pinned or not, migrated,
// refused and why, counters balanced after the release). This module writes the scenario and reads its
// result; it runs nothing (no runtime import of the model), so the playground's page writes the
// scenario and its worker runs it (web/worker.ts).

import type { Advice, AdvisorInput, MemoryKind } from './advisor.js';
import type { RunResult, StepResult } from '../scenario/result.js';

/** The machine line and the steps that map and fault a 64 KiB buffer of this memory. */
function memorySetup(memory: MemoryKind | undefined): { machine: string; steps: string[] } {
  const write = '  - { op: write, proc: app, region: buf }';
  switch (memory) {
    case 'shmem':
      return {
        machine: '{ memory: 256MiB }',
        steps: ['  - { op: mmap, proc: app, as: buf, size: 64KiB, type: shmem }', write],
      };
    case 'file-disk':
      return {
        machine: '{ memory: 256MiB }',
        steps: [
          '  - { op: create_file, as: f, size: 64KiB, fs: disk }',
          '  - { op: mmap, proc: app, as: buf, size: 64KiB, type: file, file: f, shared: true }',
          write,
        ],
      };
    case 'fsdax':
      return {
        machine: '{ memory: 256MiB, pmem: 64MiB }',
        steps: ['  - { op: mmap, proc: app, as: buf, size: 64KiB, type: fsdax, shared: true }', write],
      };
    case 'hugetlb':
      return {
        machine: "{ memory: 256MiB, hugetlb: { '2M': 2 } }",
        steps: ['  - { op: mmap, proc: app, as: buf, size: 2MiB, type: hugetlb }', write],
      };
    case 'movable':
      return {
        machine: '{ memory: 512MiB, movable: 256MiB }',
        steps: ['  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }', write],
      };
    default:
      return {
        machine: '{ memory: 256MiB }',
        steps: ['  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }', write],
      };
  }
}

/** The GUP (or HMM) step the advice names, and how it is released. */
function callSteps(input: AdvisorInput, adv: Advice): { call: string; release: string | undefined } {
  const flags = adv.flags.length ? `, flags: [${adv.flags.join(', ')}]` : '';
  if (adv.api.startsWith('hmm_range_fault'))
    return {
      call: `  - { op: hmm_range_fault, proc: app, region: buf, as: h, write: ${input.writesData}, label: call }`,
      release: '  - { op: close, handle: h, label: release }',
    };
  const op = adv.api.startsWith('pin_user_pages_fast')
    ? 'pin_user_pages_fast'
    : adv.api.startsWith('pin_user_pages')
      ? 'pin_user_pages'
      : 'get_user_pages_fast';
  const release = adv.release.startsWith('unpin_user_pages_dirty_lock')
    ? '  - { op: unpin_user_pages_dirty_lock, pins: h, dirty: true, label: release }'
    : adv.release.startsWith('unpin_user_pages')
      ? '  - { op: unpin_user_pages, pins: h, label: release }'
      : '  - { op: put_page, pins: h, label: release }';
  return { call: `  - { op: ${op}, proc: app, region: buf${flags}, as: h, label: call }`, release };
}

/** The scenario text that tries the advice. */
export function adviceScenario(input: AdvisorInput, adv: Advice): string {
  const mem = memorySetup(input.memory);
  const { call, release } = callSteps(input, adv);
  return [
    `name: advice-case-${adv.case}`,
    `description: the advisor's answer (${adv.api}) tried on ${input.memory ?? 'anon'} memory`,
    `machine: ${mem.machine}`,
    'steps:',
    ...mem.steps,
    '  - { op: inspect, proc: app, region: buf, page: 0, label: before }',
    call,
    '  - { op: inspect, proc: app, region: buf, page: 0, label: held }',
    ...(release ? [release] : []),
    '  - { op: inspect, proc: app, region: buf, page: 0, label: after }',
    '',
  ].join('\n');
}

/** What the run of adviceScenario() says of the advice. */
export interface AdviceCheck {
  /** What the model did with the advice, in sentences. */
  findings: string[];
  /** The model did what the advice promises (a pin where it pins, none where it does not, balanced). */
  consistent: boolean;
}

const step = (r: RunResult, label: string): StepResult | undefined => r.steps.find((s) => s.label === label);
const page0 = (s: StepResult | undefined): Record<string, unknown> =>
  ((s?.pages as Array<Record<string, unknown>> | undefined) ?? [])[0] ?? {};

/** Say what the model did with the advice, from the result of running adviceScenario(input, adv). */
export function judgeAdvice(input: AdvisorInput, adv: Advice, result: RunResult): AdviceCheck {
  const call = step(result, 'call')!;
  const before = page0(step(result, 'before'));
  const held = page0(step(result, 'held'));
  const pins = adv.implied.includes('FOLL_PIN');
  const findings: string[] = [];
  let consistent: boolean;
  if (call.ret < 0) {
    const why = call.why ? ` (${call.why.fn}: ${call.why.rule})` : '';
    findings.push(`The model refused the call: -${call.errno}${why}.`);
    // A refusal is what the advice predicts when one of its pitfalls is about this memory.
    consistent = input.memory !== undefined && adv.pitfallIds.some((id) => /fsdax|dirty-tracked/.test(id));
    if (consistent) findings.push('The advice warned of this for this memory (see the pitfalls).');
  } else {
    const acquired = call.vmstat.nr_foll_pin_acquired;
    const moved = held.pfn !== before.pfn;
    findings.push(`${call.op} returned ${call.ret}; nr_foll_pin_acquired is now ${acquired}.`);
    findings.push(
      `Page 0 after the call: refcount ${String(held.refcount)}, pincount ${String(held.pincount)}, ` +
        `folio_maybe_dma_pinned ${String(held.maybe_dma_pinned)}, zone ${String(held.zone)}` +
        `${moved ? ` (moved: pfn ${String(before.pfn)} -> ${String(held.pfn)}, migrated for the pin)` : ''}.`,
    );
    const end = result.vmstat;
    const balanced = end.nr_foll_pin_acquired === end.nr_foll_pin_released && result.pins.length === 0;
    findings.push(
      balanced
        ? `After the advised release the counters balance (${end.nr_foll_pin_acquired} acquired, ` +
            `${end.nr_foll_pin_released} released) and nothing is held.`
        : `After the release: ${end.nr_foll_pin_acquired} acquired, ${end.nr_foll_pin_released} released, ` +
            `${result.pins.length} holder(s) still holding.`,
    );
    consistent = balanced && (pins ? held.maybe_dma_pinned === true && acquired > 0 : acquired === 0);
  }
  if (result.warnings.length)
    findings.push(`Kernel WARNs: ${result.warnings.map((w) => `${w.fn}: ${w.condition}`).join('; ')}.`);
  return { findings, consistent };
}
