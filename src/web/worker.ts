// The playground's Web Worker: the model runs here, never in the page, so the page stays responsive
// and does not load the model's code. It builds a scenario's timeline (scenario/timeline.ts)
// compacted for the page (compact.ts), reporting progress step by step; it reads a page of the
// machine after a step for the inspector, through a StateSource (machine_at.ts: replay today, machine
// snapshots later); it runs the advisor's check scenario (tools/advisor_scenario.ts); and it lists
// and runs the experiments of `gupsim experiment`, shard by shard, as the CLI's worker threads do
// (tools/experiments/runner.ts).

import { buildTimeline } from '../scenario/timeline.js';
import { runScenario } from '../scenario/run.js';
import { folioHolds, inspectPage, lookupPage } from '../scenario/inspect.js';
import { dump_page } from '../mm/debug.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import type { Scenario } from '../scenario/schema.js';
import { Compactor, holderSpans } from './compact.js';
import { ReplaySource, type StateSource } from './machine_at.js';
import { experimentByName, planShards, runPlannedShard, assembleReport } from '../tools/experiments/runner.js';
import { EXPERIMENTS } from '../tools/experiments/registry.js';
import type { HostEnv, Mode } from '../tools/experiments/types.js';
import { judgeAdvice } from '../tools/advisor_scenario.js';
import {
  BROWSER_HOST,
  type ExperimentInfo,
  type InspectReply,
  type Reply,
  type Request,
  type Selection,
} from './protocol.js';

/** Progress is posted at most this often (ms), and at the end. */
const PROGRESS_MS = 50;

interface Scope {
  postMessage(m: Reply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
}
const scope = self as unknown as Scope;

let source: StateSource | undefined;

function progress(id: number): (done: number, total: number, label: string) => void {
  let last = 0;
  return (done, total, label) => {
    const now = performance.now();
    if (done < total && now - last < PROGRESS_MS) return;
    last = now;
    scope.postMessage({ type: 'progress', id, done, total, label });
  };
}

function build(id: number, sc: Scenario, name: string): void {
  const total = sc.steps.length;
  const report = progress(id);
  const compactor = new Compactor(total);
  const t = buildTimeline(sc, {
    name,
    onStep: (view, ctx) => {
      const spans = new Map<string, Int32Array>();
      for (const h of ctx.holders.values()) if (!h.closed) spans.set(h.name, holderSpans(h));
      compactor.add(view, spans);
      report(view.index + 1, total, `step ${view.index + 1} of ${total}`);
    },
  });
  const { timeline, transfer } = compactor.finish(t);
  scope.postMessage({ type: 'built', id, timeline }, transfer);
}

function inspect(step: number, sel: Selection): InspectReply {
  if (!source) return { step, sel, missing: 'no scenario loaded' };
  const ctx = source.at(step);
  const p = ctx.m.process(sel.process);
  const r = ctx.regions.get(sel.region);
  if (!p || !r) return { step, sel, missing: `${sel.process} ${sel.region}: not there after step ${step}` };
  const addr = r.addr + sel.page * PAGE_SIZE;
  // The refcount breakdown counts the run's holders, as `gupsim run`'s inspect step does.
  const info = inspectPage(ctx.m, p, addr, sel.page, folioHolds(ctx.m, ctx.holders.values()));
  const hit = p.alive ? lookupPage(p, addr) : undefined;
  return { step, sel, info, dump: hit ? dump_page(ctx.m, hit.pfn) : null };
}

function experiment(id: number, name: string, mode: Mode, seed: number): void {
  const e = experimentByName(name);
  const o = { mode, seed };
  const shards = planShards([e], o);
  const total = shards.reduce((s, x) => s + x.cost, 0);
  const report = progress(id);
  const results: unknown[] = [];
  let done = 0;
  for (const s of shards) {
    results[s.index] = runPlannedShard(s, o, (f) => report(done + f * s.cost, total, s.label));
    done += s.cost;
    report(done, total, s.label);
  }
  const host: HostEnv = e.host ? { ioUring: { skipped: BROWSER_HOST } } : {};
  scope.postMessage({ type: 'experiment', id, report: assembleReport(e, results, o, host) });
}

/** The registry's experiments as data (their functions stay here: they cannot be cloned). */
function experimentList(): ExperimentInfo[] {
  return EXPERIMENTS.map(({ number, name, title, question, claims, pending, host }) => ({
    number,
    name,
    title,
    question,
    claims,
    ...(pending !== undefined && { pending }),
    ...(host !== undefined && { host }),
  }));
}

scope.onmessage = (ev) => {
  const q = ev.data;
  try {
    if (q.type === 'build') build(q.id, q.scenario, q.name);
    else if (q.type === 'load') {
      source = new ReplaySource(q.scenario);
      scope.postMessage({ type: 'loaded', id: q.id });
    } else if (q.type === 'inspect') scope.postMessage({ type: 'inspected', id: q.id, reply: inspect(q.step, q.sel) });
    else if (q.type === 'advise')
      scope.postMessage({ type: 'advised', id: q.id, check: judgeAdvice(q.input, q.advice, runScenario(q.scenario)) });
    else if (q.type === 'experiments') scope.postMessage({ type: 'experiments', id: q.id, list: experimentList() });
    else experiment(q.id, q.name, q.mode, q.seed);
  } catch (e) {
    scope.postMessage({ type: 'error', id: q.id, message: (e as Error)?.message ?? String(e) });
  }
};
