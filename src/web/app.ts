// The playground's controller: the scenario (an example or the editor's text) runs once into a
// timeline (scenario/timeline.ts); every view is a function of that timeline and the current step,
// so moving between steps redraws, it does not re-run. The page is a view: the model is src/.

import { h, fill, byId } from './dom.js';
import { mountEditor, validate, type Editor } from './editor.js';
import { buildTimeline, type Timeline, type RegionView } from '../scenario/timeline.js';
import type { Scenario } from '../scenario/schema.js';
import { ReplaySource, type StateSource } from './machine_at.js';
import { MapView, legend } from './mapview.js';
import { renderInspector, type Selection } from './inspector.js';
import {
  renderStepTable,
  markStep,
  renderStepJson,
  renderChart,
  renderHandles,
  renderWarnings,
  renderDiff,
  asDiff,
  type DiffJson,
} from './panels.js';
import { mountAdvisor } from './advisor_view.js';
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
  timeline: Timeline;
  source: StateSource;
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
  private readonly maps = new Map<string, MapView>();
  /** What the step table was built from: it is rebuilt only when that changes. */
  private table: { t: Timeline; diff: DiffJson | undefined } | undefined;
  private readonly token = new URLSearchParams(location.search).get('token');

  constructor(private readonly examples: Example[]) {}

  async start(): Promise<void> {
    this.renderExamples();
    const first = this.examples.find((e) => e.file === 'fork-after-pin.yaml') ?? this.examples[0]!;
    this.editor = mountEditor(byId('editor'), first.text, (text, res) => this.edited(text, res));
    byId('legend').appendChild(legend());
    mountAdvisor(byId('advisor'), (text) => this.open(text, 'advice'));
    this.wireControls();
    const shared = await decodeShare(location.hash).catch(() => undefined);
    if (shared) this.open(shared.text, 'shared', shared.step);
    else this.open(first.text, first.name);
    void this.probeSetup();
    document.body.dataset.ready = 'true';
  }

  /** The editor's text (what Share puts in the URL). */
  scenarioText(): string {
    return this.editor.text();
  }

  /** Load a scenario into the editor and run it. */
  open(text: string, name: string, step = 0): void {
    this.editor.setText(text);
    this.load(text, name, step);
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
                onclick: () => this.open(e.text, e.name),
              },
              e.name,
            ),
          ),
        ),
      ),
    );
  }

  private edited(text: string, res: ReturnType<typeof validate>): void {
    if (this.cur && text === this.cur.text) {
      this.showProblems([]);
      return;
    }
    if (!res.scenario) {
      this.showProblems(res.problems);
      return;
    }
    this.load(text, res.scenario.name ?? 'scenario', this.step);
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

  private load(text: string, name: string, step: number): void {
    const res = validate(text);
    if (!res.scenario) {
      this.showProblems(res.problems);
      return;
    }
    this.showProblems([]);
    const sc = res.scenario;
    const status = byId('status');
    status.textContent = 'running the scenario on the model...';
    let timeline: Timeline;
    try {
      timeline = buildTimeline(sc, { name });
    } catch (e) {
      status.textContent = `gupsim bug: the model threw: ${(e as Error).message}`;
      return;
    }
    this.stop();
    this.cur = { text, name, sc, timeline, source: new ReplaySource(sc) };
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
    this.go(Math.min(step, Math.max(0, r.steps.length - 1)));
  }

  /** Move to step i and redraw every view. */
  go(i: number): void {
    const cur = this.cur;
    if (!cur) return;
    const n = cur.timeline.steps.length;
    if (n === 0) return;
    this.step = Math.max(0, Math.min(n - 1, i));
    const t = cur.timeline;
    const view = t.steps[this.step]!;
    const s = t.result.steps[this.step]!;
    byId<HTMLInputElement>('jump').value = String(this.step);
    byId<HTMLInputElement>('jump').max = String(n - 1);
    byId('position').textContent = `step ${this.step} of ${n - 1}: ${s.op}${s.label ? ` [${s.label}]` : ''}`;
    byId('position').dataset.step = String(this.step);
    if (this.table?.t !== t || this.table.diff !== this.diff) {
      renderStepTable(byId('steps'), t, this.step, (k) => this.go(k), this.diff);
      this.table = { t, diff: this.diff };
    } else markStep(byId('steps'), this.step);
    renderStepJson(byId('step-json'), t, this.step);
    this.renderMaps(view.regions);
    renderHandles(
      byId('handles'),
      t,
      this.step,
      this.holder,
      (name) => this.chooseHolder(name),
      (k) => this.go(k),
    );
    renderChart(byId('chart'), t, this.step, this.extra, (k) => this.go(k));
    renderWarnings(byId('warnings'), t, this.step);
    renderDiff(byId('diff'), this.diff, this.step, t.result.scenario, (k) => this.go(k));
    if (this.selection) renderInspector(byId('inspector'), cur.source, view, this.selection);
  }

  private marks(rv: RegionView): Uint8Array | undefined {
    const hv = this.holder
      ? this.cur?.timeline.steps[this.step]?.holders.find((x) => x.name === this.holder)
      : undefined;
    if (!hv?.frames || hv.process !== rv.process) return undefined;
    const frames = new Set(hv.frames);
    const out = new Uint8Array(rv.pages);
    for (let i = 0; i < rv.pages; i++) if (frames.has(rv.map.pfn[i]!)) out[i] = 1;
    return out;
  }

  private renderMaps(regions: RegionView[]): void {
    const box = byId('maps');
    const keep = new Set<string>();
    for (const rv of regions) {
      const key = `${rv.process}/${rv.region}`;
      keep.add(key);
      let v = this.maps.get(key);
      if (!v) {
        v = new MapView(rv, (r, page) => this.inspect({ process: r.process, region: r.region, page }));
        this.maps.set(key, v);
        box.appendChild(v.el);
      }
      v.update(rv, this.marks(rv));
    }
    for (const [key, v] of this.maps)
      if (!keep.has(key)) {
        v.el.remove();
        this.maps.delete(key);
      }
    if (!regions.length) fill(box, h('p', { class: 'dim' }, 'no region is mapped yet'));
    else box.querySelector(':scope > p.dim')?.remove();
  }

  private inspect(sel: Selection): void {
    const cur = this.cur;
    if (!cur) return;
    this.selection = sel;
    renderInspector(byId('inspector'), cur.source, cur.timeline.steps[this.step]!, sel);
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
        if (sh && sh.text !== this.cur?.text) this.open(sh.text, 'shared', sh.step);
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
