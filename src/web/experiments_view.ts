// The Experiments view: the experiments of `gupsim experiment` (tools/experiments), listed with their
// questions (the worker lists them, so the experiments' code stays out of the page), each run on
// demand in a Web Worker (worker.ts, shard after shard as the CLI's workers run them, so the same
// seed gives the same report) with a progress bar, and its report shown as the CLI and
// docs/experiments.md show it: the question, the sentence of the documentation it checks, the
// method, the tables (format.ts), the plots (svg.ts, the same SVG) and the verdict. What a browser
// cannot measure (the host kernel's io_uring figure of experiment 7) is said, not faked.

import { h, fill } from './dom.js';
import { alignRight, fmtCell, outcomeText } from '../tools/experiments/format.js';
import { renderSvg } from '../tools/experiments/svg.js';
import { plotFile } from '../tools/experiments/markdown.js';
import { isMeasured, type ExperimentReport, type Mode, type Table } from '../tools/experiments/types.js';
import { Superseded, WorkerChannel } from './worker_client.js';
import { BROWSER_HOST, type ExperimentInfo } from './protocol.js';

const MEASURED = 'measured in this run: it differs from run to run';

function tableEl(t: Table, k: number): HTMLElement {
  const right = t.columns.map((_, j) => alignRight(t, j));
  return h(
    'div',
    { class: 'exp-table scroll-x' },
    h(
      'table',
      { class: 'exp', 'data-table': k },
      h('caption', {}, t.title),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          t.columns.map((c, j) => h('th', { scope: 'col', class: right[j] ? 'num' : '' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        t.rows.map((r) =>
          h(
            'tr',
            {},
            r.map((c, j) =>
              h(
                'td',
                {
                  class: [right[j] ? 'num' : '', isMeasured(c) ? 'measured' : ''].filter(Boolean).join(' '),
                  title: isMeasured(c) ? MEASURED : undefined,
                },
                fmtCell(c),
              ),
            ),
          ),
        ),
      ),
    ),
    (t.notes ?? []).map((n) => h('p', { class: 'note' }, n)),
  );
}

/** An SVG document of ours (renderSvg(): every text escaped) as an element of the page. */
function svgEl(svg: string): Element {
  const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
  return document.importNode(doc.documentElement, true);
}

/** A report as the page shows it; `host`: the experiment shows host measurements beside the model's. */
export function renderReport(e: ExperimentReport, run: { mode: Mode; seed: number }, host: boolean): HTMLElement {
  const v = e.verdict;
  return h(
    'article',
    { class: 'report', 'data-experiment': e.name, 'data-status': e.status },
    h('h3', {}, `${e.number}. ${e.title}`),
    e.status === 'done' ? h('p', { class: 'dim' }, `${run.mode} mode, seed ${run.seed}`) : null,
    h('p', { 'data-testid': 'exp-question' }, h('strong', {}, 'Question. '), e.question),
    e.claims.map((c) =>
      h(
        'figure',
        { class: 'claim' },
        h('blockquote', { 'data-testid': 'exp-claim' }, c.quote),
        h('figcaption', {}, `${c.source ?? 'pin_user_pages.rst'}, ${c.section}`),
      ),
    ),
    e.status === 'pending'
      ? h('p', { class: 'warn', 'data-testid': 'exp-pending' }, `Pending: ${e.pending}.`)
      : [
          h('h4', {}, 'Method'),
          (e.method ?? []).map((m) => h('p', {}, m)),
          host
            ? h(
                'p',
                { class: 'warn', 'data-testid': 'exp-host' },
                `The host kernel's figures are ${BROWSER_HOST}. The model's figures are this browser's.`,
              )
            : null,
          (e.tables ?? []).map((t, k) => tableEl(t, k)),
          (e.plots ?? []).map((p) =>
            h(
              'figure',
              { class: 'plot', 'data-plot': p.id },
              svgEl(renderSvg(p, plotFile(e, p).replace(/\.svg$/, ''))),
              p.caption || p.measured
                ? h('figcaption', {}, [p.caption, p.measured ? `(${MEASURED}.)` : ''].filter(Boolean).join(' '))
                : null,
            ),
          ),
          v
            ? h(
                'p',
                { class: 'verdict', 'data-testid': 'exp-verdict', 'data-outcome': v.outcome },
                h('strong', {}, `Verdict: ${outcomeText(v.outcome)}.`),
                ` ${v.text}`,
                v.measured ? h('span', { class: 'dim' }, ` (${MEASURED}.)`) : null,
              )
            : null,
          e.findings?.length
            ? [
                h('h4', {}, 'Findings'),
                h(
                  'ul',
                  {},
                  e.findings.map((f) => h('li', {}, f)),
                ),
              ]
            : null,
          e.limits?.length
            ? [
                h('h4', {}, 'Limits'),
                h(
                  'ul',
                  {},
                  e.limits.map((l) => h('li', {}, l)),
                ),
              ]
            : null,
        ],
  );
}

/** The pending report of an experiment that cannot run yet (as runner.ts pendingReport() makes it). */
function pendingOf(e: ExperimentInfo): ExperimentReport {
  return {
    number: e.number,
    name: e.name,
    title: e.title,
    question: e.question,
    claims: e.claims,
    status: 'pending',
    pending: e.pending!,
  };
}

export class ExperimentsView {
  private readonly channel = new WorkerChannel();
  /** Runs started: a run's end touches the controls only if no newer run started. */
  private runs = 0;
  private readonly reports = new Map<string, ExperimentReport>();
  private readonly bar: HTMLProgressElement;
  private readonly label: HTMLElement;
  private readonly cancel: HTMLButtonElement;
  private readonly out: HTMLElement;
  private readonly seed: HTMLInputElement;
  private readonly mode: HTMLSelectElement;
  private readonly list: HTMLElement;
  /** The experiments, as the worker lists them (empty until it has). */
  private experiments: ExperimentInfo[] = [];

  constructor(private readonly el: HTMLElement) {
    this.seed = h('input', { id: 'exp-seed', type: 'number', min: 0, step: 1, value: 1 });
    this.mode = h(
      'select',
      { id: 'exp-mode' },
      h('option', { value: 'quick' }, 'quick (what CI runs)'),
      h('option', { value: 'full' }, 'full (longer, finer)'),
    );
    this.bar = h('progress', { id: 'exp-progress', max: 1, value: 0, hidden: true });
    this.label = h('span', { id: 'exp-progress-label', role: 'status', 'aria-live': 'polite' });
    this.cancel = h('button', { type: 'button', id: 'exp-cancel', hidden: true }, 'Cancel');
    this.cancel.addEventListener('click', () => this.stop('cancelled'));
    this.out = h('div', { id: 'exp-report' });
    this.list = h('ol', { class: 'exp-list', 'data-testid': 'experiments' });
    fill(
      el,
      h(
        'p',
        {},
        "The claims of pin_user_pages.rst as experiments on the model: `gupsim experiment`'s own code, run here " +
          'in a Web Worker, shard after shard. The same mode and seed give the report `gupsim experiment run ' +
          "NAME --seed N` prints, except what is measured (timings) and the host kernel's figures, which a " +
          'browser cannot take.',
      ),
      h(
        'div',
        { class: 'exp-controls' },
        h('label', { for: 'exp-mode' }, 'mode '),
        this.mode,
        ' ',
        h('label', { for: 'exp-seed' }, 'seed '),
        this.seed,
        ' ',
        this.bar,
        ' ',
        this.label,
        ' ',
        this.cancel,
      ),
      this.list,
      this.out,
    );
    void this.listExperiments();
  }

  /** Ask the worker for the experiments and list them, each with its Run (or Show) button. */
  private async listExperiments(): Promise<void> {
    this.label.textContent = 'listing the experiments...';
    try {
      const r = await this.channel.ask({ type: 'experiments' });
      if (r.type !== 'experiments') throw new Error(`the worker answered ${r.type}`);
      this.experiments = r.list;
    } catch (err) {
      this.label.textContent = `gupsim bug: the experiments could not be listed: ${(err as Error).message}`;
      return;
    }
    this.label.textContent = '';
    const rows = this.experiments.map((e) =>
      h(
        'li',
        { 'data-experiment': e.name, class: e.pending ? 'pending' : '' },
        h(
          'button',
          {
            type: 'button',
            class: 'exp-run',
            'data-run': e.name,
            'aria-label': e.pending ? `show ${e.title} (pending)` : `run ${e.title}`,
            onclick: () => (e.pending ? this.show(pendingOf(e)) : void this.run(e.name)),
          },
          e.pending ? 'Show' : 'Run',
        ),
        ` ${e.number}. ${e.title} `,
        e.pending ? h('span', { class: 'warn' }, '(pending)') : null,
        h('div', { class: 'dim' }, e.question),
      ),
    );
    fill(this.list, rows);
  }

  private options(): { mode: Mode; seed: number } | string {
    const seed = Number(this.seed.value);
    if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1)
      return `the seed must be an integer from 0 to ${2 ** 32 - 1}`;
    return { mode: this.mode.value === 'full' ? 'full' : 'quick', seed };
  }

  private stop(why: string): void {
    if (!this.channel.busy) return;
    this.channel.stop();
    this.label.textContent = why;
    this.bar.hidden = true;
    this.cancel.hidden = true;
    delete this.el.dataset.running;
  }

  private show(e: ExperimentReport, run = { mode: 'quick' as Mode, seed: 1 }): void {
    const host = this.experiments.find((x) => x.name === e.name)?.host !== undefined;
    fill(this.out, renderReport(e, run, host));
  }

  /** Run experiment `name` in the worker (a run still going is cancelled) and show its report. */
  async run(name: string): Promise<void> {
    const o = this.options();
    if (typeof o === 'string') {
      this.label.textContent = o;
      return;
    }
    const key = `${name}/${o.mode}/${o.seed}`;
    const kept = this.reports.get(key);
    if (kept && !kept.verdict?.measured) {
      this.label.textContent = `${name}: ${o.mode} mode, seed ${o.seed} (run before: the same report)`;
      return this.show(kept, o);
    }
    this.stop('cancelled');
    const token = ++this.runs;
    const e = this.experiments.find((x) => x.name === name)!;
    this.bar.hidden = false;
    this.bar.value = 0;
    this.cancel.hidden = false;
    this.el.dataset.running = name;
    this.label.textContent = `${e.number}. ${e.title}: starting`;
    fill(this.out, h('p', { class: 'dim' }, `running ${e.number}. ${e.title}...`));
    try {
      const r = await this.channel.ask({ type: 'experiment', name, ...o }, (done, total, label) => {
        this.bar.max = total;
        this.bar.value = done;
        this.label.textContent = `${label}: ${Math.floor((100 * done) / total)}%`;
      });
      if (r.type !== 'experiment') throw new Error(`gupsim bug: the worker answered ${r.type}`);
      this.reports.set(key, r.report);
      this.label.textContent = `${e.number}. ${e.title}: done`;
      this.show(r.report, o);
    } catch (err) {
      if (err instanceof Superseded) return;
      this.label.textContent = `${e.number}. ${e.title} failed: ${(err as Error).message}`;
      fill(this.out);
    } finally {
      if (token === this.runs) {
        this.bar.hidden = true;
        this.cancel.hidden = true;
        delete this.el.dataset.running;
      }
    }
  }
}
