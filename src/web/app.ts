// The playground's controller: the scenario (an example or the editor's text) runs once, in a Web
// Worker (worker.ts), into a timeline compacted for the page (compact.ts); every view is a function of
// that timeline and the current step, so moving between steps redraws, it does not re-run, and the
// maps repaint only the rows a move changed. The inspector asks the worker for the machine after the
// step. The page is a view: the model is src/.

import { h, fill, byId } from './dom.js';
import { mountEditor, validate, type Editor } from './editor.js';
import type { Scenario } from '../scenario/schema.js';
import { MapStore, type Changes, type PageRegion, type PageTimeline } from './compact.js';
import { MapView, legend } from './mapview.js';
import { renderInspector, renderInspectorPending, type Selection } from './inspector.js';
import {
  renderStepTable,
  markStep,
  renderStepJson,
  mountChart,
  renderHandles,
  renderWarnings,
  renderDiff,
  asDiff,
  type DiffJson,
} from './panels.js';
import { Superseded, WorkerChannel } from './worker_client.js';
import type { InspectReply } from './protocol.js';
import { mountAdvisor } from './advisor_view.js';
import { ExplorerView } from './explorer_view.js';
import { encodeShare, decodeShare } from './share.js';
import type { Problem } from './problems.js';

export interface Example {
  file: string;
  name: string;
  text: string;
  description: string;
}

interface Loaded {
  text: string;
  name: string;
  sc: Scenario;
  timeline: PageTimeline;
  store: MapStore;
}

const PLAY_MS = 700;

export class App {
  private editor!: Editor;
  private cur: Loaded | undefined;
  private step = 0;
  private selection: Selection | undefined;
  private holder: string | undefined;
  private diff: DiffJson | undefined;
  private extra = 'nr_anon_pages';
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly maps = new Map<number, MapView>();
  /** The regions shown at the current step, with their live maps. */
  private regions: PageRegion[] = [];
  /** What the step table was built from: it is rebuilt only when that changes. */
  private table: { t: PageTimeline; diff: DiffJson | undefined } | undefined;
  /** The chart, drawn once per run and counter; moving a step moves its marker. */
  private chart: { t: PageTimeline; extra: string; show: (step: number) => void } | undefined;
  private readonly token = new URLSearchParams(location.search).get('token');
  /** The text being run into a timeline, while it is. */
  private building: string | undefined;
  /** Runs scenarios into timelines (a new build ends one still running). */
  private readonly builder = new WorkerChannel();
  /** Reads the machine after a step for the inspector, one request at a time. */
  private readonly reader = new WorkerChannel();
  /** The inspect request in flight (a token), and one waiting for it. */
  private reading: object | undefined;
  private nextInspect: { step: number; sel: Selection } | undefined;
  /** The race explorer (shown for a scenario with a concurrent step). */
  private explorer: ExplorerView | undefined;

  constructor(private readonly examples: Example[]) {}

  async start(): Promise<void> {
    this.renderExamples();
    const first = this.examples.find((e) => e.file === 'fork-after-pin.yaml') ?? this.examples[0]!;
    this.editor = mountEditor(byId('editor'), first.text, (text, res) => this.edited(text, res));
    byId('legend').appendChild(legend());
    mountAdvisor(byId('advisor'), (text) => this.open(text, 'advice'));
    this.explorer = new ExplorerView(byId('races'), byId('explorer'));
    this.wireControls();
    const shared = await decodeShare(location.hash).catch(() => undefined);
    if (shared) await this.open(shared.text, 'shared', shared.step);
    else await this.open(first.text, first.name);
    void this.probeSetup();
    document.body.dataset.ready = 'true';
  }

  /** The editor's text (what Share puts in the URL). */
  scenarioText(): string {
    return this.editor.text();
  }

  /** Load a scenario into the editor and run it; settles when its timeline is shown (or replaced). */
  open(text: string, name: string, step = 0): Promise<void> {
    this.editor.setText(text);
    return this.load(text, name, step);
  }

  private renderExamples(): void {
    fill(
      byId('examples'),
      h(
        'ul',
        {},
        this.examples.map((e) =>
          h(
            'li',
            {},
            h(
              'button',
              {
                class: 'example',
                'data-example': e.name,
                title: e.description,
                onclick: () => void this.open(e.text, e.name),
              },
              e.name,
            ),
          ),
        ),
      ),
    );
  }

  private edited(text: string, res: ReturnType<typeof validate>): void {
    if ((this.cur && text === this.cur.text) || text === this.building) {
      this.showProblems([]);
      return;
    }
    if (!res.scenario) {
      this.showProblems(res.problems);
      return;
    }
    void this.load(text, res.scenario.name ?? 'scenario', this.step);
  }

  private showProblems(problems: Problem[]): void {
    const el = byId('problems');
    el.hidden = problems.length === 0;
    fill(
      el,
      problems.length
        ? [
            h('h3', {}, `${problems.length} problem(s); the views show the last scenario that was valid`),
            h(
              'ul',
              {},
              problems.map((p) =>
                h('li', { 'data-line': p.line ?? '' }, p.line ? h('strong', {}, `line ${p.line}: `) : null, p.message),
              ),
            ),
          ]
        : [],
    );
  }

  private async load(text: string, name: string, step: number): Promise<void> {
    const res = validate(text);
    if (!res.scenario) {
      this.showProblems(res.problems);
      return;
    }
    this.showProblems([]);
    const sc = res.scenario;
    const status = byId('status');
    const bar = byId<HTMLProgressElement>('build-progress');
    status.textContent = 'running the scenario on the model...';
    bar.hidden = false;
    bar.value = 0;
    document.body.dataset.building = 'true';
    // A build still running is for text that is no longer there: it ends, and this one starts.
    if (this.builder.busy) this.builder.stop();
    this.building = text;
    let timeline: PageTimeline;
    try {
      const reply = await this.builder.ask({ type: 'build', scenario: sc, name }, (done, total, label) => {
        bar.max = total;
        bar.value = done;
        status.textContent = `running the scenario on the model: ${label}`;
      });
      if (reply.type !== 'built') throw new Error(`gupsim bug: the worker answered ${reply.type} to a build`);
      timeline = reply.timeline;
    } catch (e) {
      if (e instanceof Superseded) return;
      this.building = undefined;
      status.textContent = `gupsim bug: the model threw: ${(e as Error).message}`;
      bar.hidden = true;
      delete document.body.dataset.building;
      return;
    }
    this.building = undefined;
    bar.hidden = true;
    delete document.body.dataset.building;
    this.stop();
    this.cur = { text, name, sc, timeline, store: new MapStore(timeline) };
    // The inspector reads this scenario from now on (what it was reading is moot).
    this.reader.stop();
    this.reading = undefined;
    this.nextInspect = undefined;
    void this.reader.ask({ type: 'load', scenario: sc }).catch(() => undefined);
    for (const v of this.maps.values()) v.el.remove();
    this.maps.clear();
    this.selection = undefined;
    this.holder = undefined;
    fill(
      byId('inspector'),
      h('p', { class: 'dim' }, 'Click a page on a map (or focus a map, move with the arrow keys, Enter).'),
    );
    const r = timeline.result;
    fill(
      byId('scenario-info'),
      h('h2', { 'data-testid': 'scenario-name' }, r.scenario),
      sc.description ? h('p', { class: 'description' }, sc.description) : null,
      h(
        'p',
        { class: r.ok ? 'ok' : 'warn', 'data-testid': 'run-ok' },
        `${r.steps.length} steps on the ${r.kernel}: ${r.ok ? 'every expect step holds' : 'an expect step failed'}`,
      ),
    );
    status.textContent = `${r.scenario}: ${r.steps.length} steps`;
    this.explorer?.setScenario(sc, name);
    this.go(Math.min(step, Math.max(0, r.steps.length - 1)));
  }

  /** Move to step i and redraw every view. */
  go(i: number): void {
    const cur = this.cur;
    if (!cur) return;
    const t = cur.timeline;
    const n = t.steps.length;
    if (n === 0) return;
    this.step = Math.max(0, Math.min(n - 1, i));
    const s = t.result.steps[this.step]!;
    if (this.table?.t !== t || this.table.diff !== this.diff) {
      renderStepTable(byId('steps'), t, this.step, (k) => this.go(k), this.diff);
      this.table = { t, diff: this.diff };
    } else markStep(byId('steps'), this.step);
    byId<HTMLInputElement>('jump').value = String(this.step);
    byId<HTMLInputElement>('jump').max = String(n - 1);
    byId('position').textContent = `step ${this.step} of ${n - 1}: ${s.op}${s.label ? ` [${s.label}]` : ''}`;
    byId('position').dataset.step = String(this.step);
    renderStepJson(byId('step-json'), t, this.step);
    const changes: Changes = new Map();
    this.regions = cur.store.moveTo(this.step, changes);
    this.renderMaps(changes);
    renderHandles(
      byId('handles'),
      t,
      this.step,
      this.holder,
      (name) => this.chooseHolder(name),
      (k) => this.go(k),
    );
    if (this.chart?.t !== t || this.chart.extra !== this.extra)
      this.chart = { t, extra: this.extra, show: mountChart(byId('chart'), t, this.extra, (k) => this.go(k)) };
    this.chart.show(this.step);
    renderWarnings(byId('warnings'), t, this.step);
    renderDiff(byId('diff'), this.diff, this.step, t.result.scenario, (k) => this.go(k));
    if (this.selection) this.inspect(this.selection);
  }

  /** The pages of `rv` the chosen holder's frames cover (Holder.frames(): a frame may span a folio). */
  private marks(rv: PageRegion): Uint8Array | undefined {
    const hv = this.holder
      ? this.cur?.timeline.steps[this.step]?.holders.find((x) => x.name === this.holder)
      : undefined;
    if (!hv?.spans || hv.process !== rv.process) return undefined;
    const pfn = rv.map.pfn;
    let top = 0;
    for (let i = 0; i < hv.spans.length; i += 2) top = Math.max(top, hv.spans[i]! + hv.spans[i + 1]!);
    const held = new Uint8Array(top);
    for (let i = 0; i < hv.spans.length; i += 2) held.fill(1, hv.spans[i]!, hv.spans[i]! + hv.spans[i + 1]!);
    const out = new Uint8Array(rv.pages);
    for (let i = 0; i < rv.pages; i++) if (pfn[i]! >= 0 && held[pfn[i]!] === 1) out[i] = 1;
    return out;
  }

  private renderMaps(changes: Changes): void {
    const box = byId('maps');
    const keep = new Set<number>();
    for (const rv of this.regions) {
      keep.add(rv.track);
      let v = this.maps.get(rv.track);
      if (!v) {
        v = new MapView(rv, (r, page) => this.inspect({ process: r.process, region: r.region, page }));
        this.maps.set(rv.track, v);
        box.appendChild(v.el);
        // A new view paints all of it: its first update says so.
        changes.set(rv.track, 'all');
      }
      v.update(rv, this.marks(rv), changes.get(rv.track));
    }
    for (const [key, v] of this.maps)
      if (!keep.has(key)) {
        v.el.remove();
        this.maps.delete(key);
      }
    if (!this.regions.length) fill(box, h('p', { class: 'dim' }, 'no region is mapped yet'));
    else box.querySelector(':scope > p.dim')?.remove();
  }

  /** Show `sel` after the current step: the worker reads it; one request at a time, the latest wins. */
  private inspect(sel: Selection): void {
    if (!this.cur) return;
    this.selection = sel;
    const step = this.step;
    renderInspectorPending(byId('inspector'), sel, step);
    if (this.reading) this.nextInspect = { step, sel };
    else void this.read(step, sel);
  }

  private async read(step: number, sel: Selection): Promise<void> {
    const cur = this.cur;
    const token = {};
    this.reading = token;
    let reply: InspectReply | undefined;
    try {
      const r = await this.reader.ask({ type: 'inspect', step, sel });
      if (r.type === 'inspected') reply = r.reply;
    } catch (e) {
      if (!(e instanceof Superseded)) byId('status').textContent = `the inspector failed: ${(e as Error).message}`;
    }
    // Another scenario was loaded meanwhile: its own requests follow.
    if (this.reading !== token || cur !== this.cur) return;
    this.reading = undefined;
    const next = this.nextInspect;
    this.nextInspect = undefined;
    if (next) return this.read(next.step, next.sel);
    const now = this.selection;
    if (!reply || step !== this.step || !now) return;
    if (now.process !== sel.process || now.region !== sel.region || now.page !== sel.page) return;
    const rv = this.regions.find((x) => x.process === sel.process && x.region === sel.region);
    renderInspector(byId('inspector'), reply, rv);
  }

  private chooseHolder(name: string | undefined): void {
    this.holder = name;
    this.go(this.step);
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    byId('play').textContent = 'Play';
    byId('play').setAttribute('aria-pressed', 'false');
  }

  private togglePlay(): void {
    if (this.timer !== undefined) return this.stop();
    const n = this.cur?.timeline.steps.length ?? 0;
    if (this.step >= n - 1) this.go(0);
    byId('play').textContent = 'Pause';
    byId('play').setAttribute('aria-pressed', 'true');
    this.timer = setInterval(() => {
      if (this.step >= (this.cur?.timeline.steps.length ?? 0) - 1) this.stop();
      else this.go(this.step + 1);
    }, PLAY_MS);
  }

  private async share(): Promise<void> {
    if (!this.cur) return;
    const frag = await encodeShare({ text: this.editor.text(), step: this.step });
    history.replaceState(null, '', `#${frag}`);
    const url = location.href;
    byId<HTMLInputElement>('share-url').value = url;
    byId('share-url').hidden = false;
    try {
      await navigator.clipboard.writeText(url);
      byId('status').textContent = 'link copied: it holds the scenario and the step';
    } catch {
      byId('status').textContent = 'link in the box beside Share: it holds the scenario and the step';
    }
  }

  setDiff(v: unknown): void {
    const d = asDiff(v);
    if (typeof d === 'string') {
      byId('status').textContent = `cannot open that diff: ${d}`;
      return;
    }
    this.diff = d;
    byId('status').textContent = `diff of ${d.scenario} opened`;
    this.go(this.step);
  }

  private async probeSetup(): Promise<void> {
    if (!this.token) return;
    const r = await fetch('api/config', { headers: { 'x-gupsim-token': this.token } }).catch(() => undefined);
    if (!r?.ok) return;
    const cfg = (await r.json()) as { probe?: boolean };
    if (!cfg.probe) return;
    const b = byId<HTMLButtonElement>('run-kernel');
    b.hidden = false;
    b.addEventListener('click', () => void this.runOnKernel());
  }

  private async runOnKernel(): Promise<void> {
    if (!this.cur || !this.token) return;
    byId('status').textContent = "running the scenario on this host's kernel and the model...";
    const r = await fetch('api/diff', {
      method: 'POST',
      headers: { 'x-gupsim-token': this.token, 'content-type': 'application/json' },
      body: JSON.stringify({ text: this.cur.text, name: this.cur.name }),
    }).catch((e: Error) => e);
    if (r instanceof Error || !r.ok) {
      byId('status').textContent = `the probe failed: ${r instanceof Error ? r.message : await r.text()}`;
      return;
    }
    this.setDiff(await r.json());
  }

  private wireControls(): void {
    byId('first').addEventListener('click', () => this.go(0));
    byId('prev').addEventListener('click', () => this.go(this.step - 1));
    byId('next').addEventListener('click', () => this.go(this.step + 1));
    byId('last').addEventListener('click', () => this.go(Infinity));
    byId('play').addEventListener('click', () => this.togglePlay());
    byId('jump').addEventListener('change', (e) => this.go(Number((e.target as HTMLInputElement).value)));
    // Writing the step into the box moves its selection; the editor, which listens on the document
    // for selection changes, need not hear of it (it reads the selection, a forced layout per move).
    byId('jump').addEventListener('selectionchange', (e) => e.stopPropagation());
    byId('share').addEventListener('click', () => void this.share());
    byId('open-diff').addEventListener('change', async (e) => {
      const f = (e.target as HTMLInputElement).files?.[0];
      if (!f) return;
      try {
        this.setDiff(JSON.parse(await f.text()));
      } catch (err) {
        byId('status').textContent = `cannot open that diff: ${(err as Error).message}`;
      }
    });
    const extra = byId<HTMLSelectElement>('extra-counter');
    extra.addEventListener('change', () => {
      this.extra = extra.value;
      this.go(this.step);
    });
    window.addEventListener('hashchange', () => {
      void decodeShare(location.hash).then((sh) => {
        if (sh && sh.text !== this.cur?.text) void this.open(sh.text, 'shared', sh.step);
      });
    });
    document.addEventListener('keydown', (e) => this.key(e));
  }

  private key(e: KeyboardEvent): void {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target as HTMLElement | null;
    if (t?.closest('.cm-editor, input, select, textarea')) return;
    const onButton = t?.tagName === 'BUTTON';
    switch (e.key) {
      case 'ArrowRight':
      case 'j':
        this.go(this.step + 1);
        break;
      case 'ArrowLeft':
      case 'k':
        this.go(this.step - 1);
        break;
      case 'Home':
        this.go(0);
        break;
      case 'End':
        this.go(Infinity);
        break;
      case ' ':
        if (onButton) return;
        this.togglePlay();
        break;
      case 'p':
        this.togglePlay();
        break;
      case 'g':
        byId('jump').focus();
        break;
      default:
        return;
    }
    e.preventDefault();
  }
}
