// The playground's race explorer view: for a scenario with a `concurrent` step, `gupsim explore` runs in
// the Web Worker (worker.ts: tools/explore) with Linux 6.18's protections or one of them switched off;
// the view lists the distinct end states and the violated properties, and steps through the shortest
// interleaving that violates a property, point by point: which thread, in which kernel function, what it
// did, and the pages of every region after it. The page holds only the result (plain data).

import { h, fill } from './dom.js';
import type { Scenario } from '../scenario/schema.js';
import type { ExploreResult, TraceStep, Violation } from '../tools/explore/explorer.js';
import type { ProtectionInfo } from './protocol.js';
import { Superseded, WorkerChannel } from './worker_client.js';

/** The bound the page explores under (gupsim explore's --max-states). */
const MAX_STATES = 200_000;

export class ExplorerView {
  private readonly channel = new WorkerChannel();
  private sc: Scenario | undefined;
  private name = '';
  private result: ExploreResult | undefined;
  private trace: { v: Violation; at: number } | undefined;
  private protections: ProtectionInfo[] = [];
  private readonly controls: HTMLElement;
  private readonly out: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly button: HTMLButtonElement;
  private readonly bar: HTMLProgressElement;
  private readonly status: HTMLElement;

  /** `section` is shown only for a scenario with a concurrent step. */
  constructor(
    private readonly section: HTMLElement,
    el: HTMLElement,
  ) {
    this.select = h('select', { id: 'explore-without', 'aria-label': 'protection to switch off' });
    this.button = h('button', { id: 'explore', type: 'button', onclick: () => void this.run() }, 'Explore');
    this.bar = h('progress', { id: 'explore-progress', max: 1, value: 0, hidden: true, 'aria-label': 'exploring' });
    this.status = h('span', { id: 'explore-status', role: 'status', 'aria-live': 'polite' });
    this.controls = h(
      'div',
      { class: 'explore-controls' },
      h('label', {}, 'protections ', this.select),
      this.button,
      this.bar,
      this.status,
    );
    this.out = h('div', { id: 'explore-out' });
    fill(el, this.controls, this.out);
    this.fillProtections();
    void this.channel
      .ask({ type: 'protections' })
      .then((r) => {
        if (r.type === 'protections') {
          this.protections = r.list;
          this.fillProtections();
        }
      })
      .catch(() => undefined);
  }

  private fillProtections(): void {
    const keep = this.select.value;
    fill(
      this.select,
      h('option', { value: '' }, "Linux 6.18's (all on)"),
      this.protections.map((p) =>
        h('option', { value: p.flag, title: `${p.commit}: ${p.what}` }, `--without ${p.flag}`),
      ),
    );
    this.select.value = keep;
  }

  /** A new scenario: the view shows for one with a concurrent step; earlier results go. */
  setScenario(sc: Scenario, name: string): void {
    const has = sc.steps.some((s) => s.op === 'concurrent');
    this.section.hidden = !has;
    if (this.sc === sc) return;
    this.sc = sc;
    this.name = name;
    this.result = undefined;
    this.trace = undefined;
    if (this.channel.busy) this.channel.stop();
    this.bar.hidden = true;
    this.status.textContent = '';
    fill(
      this.out,
      has ? h('p', { class: 'dim' }, 'Explore runs every interleaving of the threads of the concurrent step.') : null,
    );
  }

  /** Run the explorer on the current scenario (with the protection chosen switched off). */
  async run(): Promise<void> {
    const sc = this.sc;
    if (!sc) return;
    if (this.channel.busy) this.channel.stop();
    const without = this.select.value ? [this.select.value] : [];
    this.bar.hidden = false;
    this.bar.value = 0;
    this.status.textContent = 'exploring...';
    this.section.dataset.exploring = 'true';
    try {
      const r = await this.channel.ask(
        { type: 'explore', scenario: sc, name: this.name, without, maxStates: MAX_STATES },
        (done, total, label) => {
          this.bar.max = total;
          this.bar.value = done;
          this.status.textContent = label;
        },
      );
      if (r.type !== 'explored') throw new Error(`gupsim bug: the worker answered ${r.type} to explore`);
      this.result = r.result;
      this.trace = undefined;
      this.status.textContent = '';
      this.render();
    } catch (e) {
      if (e instanceof Superseded) return;
      this.status.textContent = `the explorer failed: ${(e as Error).message}`;
    } finally {
      this.bar.hidden = true;
      delete this.section.dataset.exploring;
    }
  }

  private render(): void {
    const r = this.result;
    if (!r) return;
    const off = r.without.length ? `without ${this.select.value || r.without.join(', ')}` : "Linux 6.18's protections";
    fill(
      this.out,
      h(
        'p',
        { 'data-testid': 'explore-summary', 'data-ends': r.ends.length, 'data-violations': r.violations.length },
        `${r.scenario} (${off}): ${r.interleavings} interleavings, ${r.states} states explored, ` +
          `${r.ends.length} distinct end state(s), ` +
          (r.violations.length ? `${r.violations.length} property violated` : 'no property violated') +
          (r.truncated ? ' (stopped at the bound: not every interleaving ran)' : ''),
      ),
      r.violations.length
        ? h(
            'section',
            {},
            h('h4', {}, 'Violated properties (the shortest interleaving of each)'),
            h(
              'ul',
              { 'data-testid': 'explore-violations' },
              r.violations.map((v, i) =>
                h(
                  'li',
                  { class: 'warn' },
                  h('strong', {}, v.property),
                  ': ',
                  v.message,
                  ' ',
                  h(
                    'button',
                    { type: 'button', 'data-violation': i, onclick: () => this.showTrace(v) },
                    `Step through (${v.trace.length} points)`,
                  ),
                ),
              ),
            ),
          )
        : null,
      h('div', { id: 'explore-trace' }),
      h(
        'details',
        { open: r.ends.length <= 8 },
        h('summary', {}, `End states (${r.ends.length})`),
        h(
          'ol',
          { 'data-testid': 'explore-ends', class: 'explore-ends' },
          r.ends.map((e) =>
            h(
              'li',
              { 'data-interleavings': e.interleavings },
              h(
                'p',
                {},
                `${e.interleavings} interleaving(s); ` +
                  Object.entries(e.counters)
                    .map(([k, v]) => `${k} ${v}`)
                    .join(', '),
              ),
              h('pre', {}, [...e.returns, ...e.pages, ...e.handles].join('\n')),
            ),
          ),
        ),
      ),
    );
  }

  private showTrace(v: Violation): void {
    this.trace = { v, at: 0 };
    this.renderTrace();
  }

  /** Move within the trace shown. */
  traceGo(k: number): void {
    if (!this.trace) return;
    this.trace.at = Math.max(0, Math.min(this.trace.v.trace.length - 1, k));
    this.renderTrace();
  }

  private renderTrace(): void {
    const el = this.out.querySelector('#explore-trace');
    const t = this.trace;
    if (!el || !t) return;
    const steps = t.v.trace;
    const s: TraceStep = steps[t.at]!;
    fill(
      el,
      h('h4', {}, `The shortest interleaving that breaks "${t.v.property}"`),
      h(
        'div',
        { class: 'controls' },
        h('button', { id: 'trace-prev', type: 'button', onclick: () => this.traceGo(t.at - 1) }, '< point'),
        h('button', { id: 'trace-next', type: 'button', onclick: () => this.traceGo(t.at + 1) }, 'point >'),
        h('span', { id: 'trace-position', 'data-point': t.at }, `point ${t.at + 1} of ${steps.length}`),
      ),
      h(
        'p',
        { 'data-testid': 'trace-step', 'data-thread': s.thread, 'data-fn': s.fn },
        h('strong', {}, s.thread === '-' ? 'after the block' : `thread ${s.thread}`),
        ` (step ${s.step}: ${s.op}), in `,
        h('code', {}, s.fn),
        `: ${s.what}`,
      ),
      h('pre', { 'data-testid': 'trace-pages' }, (s.pages ?? []).join('\n')),
      t.at === steps.length - 1 ? h('p', { class: 'warn' }, t.v.message) : null,
      h(
        'ol',
        { class: 'trace-list' },
        steps.map((x, i) =>
          h(
            'li',
            { 'aria-current': i === t.at ? 'step' : undefined, onclick: () => this.traceGo(i) },
            `${x.thread} ${x.fn}: ${x.what}`,
          ),
        ),
      ),
    );
  }
}
