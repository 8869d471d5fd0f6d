// The advisor as a form: the questions of `gupsim advise`, the answer (tools/advisor.ts), and the
// answer tried on the model (tools/advisor_scenario.ts), with its scenario one click from the editor.
// The page writes and validates the check's scenario; the worker (worker.ts) runs it and judges.

import { h, fill } from './dom.js';
import { advise, MEMORY_KINDS, type Advice, type AdvisorInput, type MemoryKind } from '../tools/advisor.js';
import { adviceScenario, type AdviceCheck } from '../tools/advisor_scenario.js';
import { loadScenario } from '../scenario/load.js';
import { Superseded, WorkerChannel } from './worker_client.js';

const QUESTIONS: Array<[keyof AdvisorInput, string]> = [
  ['dma', 'A device (DMA) reads or writes the pages'],
  ['longLived', 'The pages stay in use for an unbounded time (RDMA MR, VFIO mapping, io_uring fixed buffer)'],
  ['writesData', 'The data within the pages is written (by the device or the kernel)'],
  ['mmuNotifier', 'The driver registers an MMU notifier and stops using the range on invalidation'],
  ['structPageOnly', 'Only struct page is used (refcount, flags, mapping), never the contents'],
];

export function mountAdvisor(el: HTMLElement, openScenario: (text: string) => void): void {
  const out = h('div', { class: 'advice', 'aria-live': 'polite', 'data-testid': 'advice' });
  const boxes = QUESTIONS.map(([key, text]) => {
    const input = h('input', { type: 'checkbox', name: key, id: `adv-${key}` });
    return { key, input, row: h('div', {}, input, ' ', h('label', { for: `adv-${key}` }, text)) };
  });
  const faults = h(
    'select',
    { id: 'adv-faults', name: 'deviceFaults' },
    h('option', { value: '' }, "don't know"),
    h('option', { value: 'yes' }, 'yes'),
    h('option', { value: 'no' }, 'no'),
  );
  const memory = h(
    'select',
    { id: 'adv-memory', name: 'memory' },
    h('option', { value: '' }, 'unknown'),
    MEMORY_KINDS.map((k) => h('option', { value: k }, k)),
  );
  const form = h(
    'form',
    { class: 'advisor-form' },
    boxes.map((b) => b.row),
    h(
      'div',
      {},
      h('label', { for: 'adv-faults' }, 'With an MMU notifier: the device has replayable page faults '),
      faults,
    ),
    h('div', {}, h('label', { for: 'adv-memory' }, 'Memory behind the buffer '), memory),
    h('button', { type: 'submit' }, 'Advise and check on the model'),
  );
  // Its own worker: a check never waits for a scenario's build, and a new question ends the last one.
  const channel = new WorkerChannel();
  const checkOut = h('div', { class: 'advice-check' });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const input: AdvisorInput = {
      dma: false,
      longLived: false,
      writesData: false,
      mmuNotifier: false,
      structPageOnly: false,
    };
    for (const b of boxes) (input as unknown as Record<string, boolean>)[b.key] = b.input.checked;
    if (faults.value) input.deviceFaults = faults.value === 'yes';
    if (memory.value) input.memory = memory.value as MemoryKind;
    const adv = advise(input);
    fill(out, renderAdvice(adv), h('h5', {}, 'checked on the model'), checkOut);
    fill(checkOut, h('p', { class: 'dim' }, 'running the check on the model...'));
    if (channel.busy) channel.stop();
    void check(input, adv);
  });
  /** Run the advice's check in the worker and show what it found (unless a newer question came). */
  async function check(input: AdvisorInput, adv: Advice): Promise<void> {
    const text = adviceScenario(input, adv);
    try {
      const scenario = loadScenario(text, 'advice.yaml');
      const r = await channel.ask({ type: 'advise', input, advice: adv, scenario });
      if (r.type !== 'advised') throw new Error(`the worker answered ${r.type} to advise`);
      fill(
        checkOut,
        renderCheck(r.check, () => openScenario(text)),
      );
    } catch (err) {
      if (err instanceof Superseded) return;
      fill(checkOut, h('p', { class: 'warn' }, `gupsim bug: the check failed: ${(err as Error).message}`));
    }
  }
  fill(el, form, out);
}

/** The advisor's answer (what `gupsim advise` prints). */
function renderAdvice(adv: Advice): HTMLElement[] {
  return [
    h('h4', { 'data-testid': 'advice-case' }, `Case ${adv.case}: ${adv.title}`),
    h(
      'dl',
      {},
      h('dt', {}, 'call'),
      h('dd', { 'data-testid': 'advice-api' }, adv.api),
      h('dt', {}, 'flags'),
      h(
        'dd',
        {},
        adv.flags.length ? adv.flags.join(' | ') : '(none)',
        adv.implied.length ? ` (${adv.implied.join(', ')} set by the API)` : '',
      ),
      h('dt', {}, 'release'),
      h('dd', {}, adv.release),
    ),
    h('h5', {}, 'why'),
    h(
      'ul',
      {},
      adv.why.map((w) => h('li', {}, w)),
    ),
    h('h5', {}, 'pitfalls'),
    h(
      'ul',
      {},
      adv.pitfalls.map((p) => h('li', {}, p)),
    ),
  ];
}

/** What the model did with the advice, and the button that opens the check in the editor. */
function renderCheck(check: AdviceCheck, open: () => void): HTMLElement[] {
  return [
    h(
      'p',
      { 'data-testid': 'advice-verdict', class: check.consistent ? 'ok' : 'warn' },
      check.consistent
        ? 'The model does what the advice says.'
        : 'The model did something the advice does not promise:',
    ),
    h(
      'ul',
      { 'data-testid': 'advice-findings' },
      check.findings.map((f) => h('li', {}, f)),
    ),
    h('button', { type: 'button', onclick: open }, 'Open this check in the editor and step through it'),
  ];
}
