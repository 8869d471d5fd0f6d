// The messages between the page and its Web Workers (worker.ts): plain data, cloned or transferred.
// A build runs the scenario into the page's compact timeline, with progress; an inspect reads one
// page of the machine after a step (machine_at.ts, the StateSource); an advise runs the advisor's
// check scenario (tools/advisor_scenario.ts) and judges its result; experiments lists `gupsim
// experiment`'s experiments (tools/experiments) and experiment runs one, with progress. The model runs
// only in the worker: the page holds the editor, the validator and the views.

import type { Scenario } from '../scenario/schema.js';
import type { PageInfo } from '../scenario/inspect.js';
import type { AnyExperiment, ExperimentReport, Mode } from '../tools/experiments/types.js';
import type { Advice, AdvisorInput } from '../tools/advisor.js';
import type { AdviceCheck } from '../tools/advisor_scenario.js';
import type { PageTimeline } from './compact.js';

/** What a page cannot measure: said in the report of an experiment that shows the host kernel. */
export const BROWSER_HOST =
  "not available in a browser: a web page cannot run io_uring on this host's kernel; " +
  '`gupsim experiment run cost` on Linux measures it';

/** A page of a region of a process. */
export interface Selection {
  process: string;
  region: string;
  page: number;
}

export type Request =
  | { type: 'build'; id: number; scenario: Scenario; name: string }
  /** Make `scenario` the one inspect requests read (no run: the source replays on demand). */
  | { type: 'load'; id: number; scenario: Scenario }
  | { type: 'inspect'; id: number; step: number; sel: Selection }
  /** Run `scenario` (adviceScenario(input, advice), validated by the page) and judge the advice by it. */
  | { type: 'advise'; id: number; input: AdvisorInput; advice: Advice; scenario: Scenario }
  | { type: 'experiments'; id: number }
  | { type: 'experiment'; id: number; name: string; mode: Mode; seed: number };

/** An experiment as the page lists it: what the registry says of it, without its code. */
export type ExperimentInfo = Pick<
  AnyExperiment,
  'number' | 'name' | 'title' | 'question' | 'claims' | 'pending' | 'host'
>;

export interface InspectReply {
  step: number;
  sel: Selection;
  /** Why there is nothing to show (the process or region is not there after the step). */
  missing?: string;
  info?: PageInfo;
  /** dump_page() of the page, or null when nothing is mapped there. */
  dump?: string | null;
}

export type Reply =
  | { type: 'progress'; id: number; done: number; total: number; label: string }
  | { type: 'built'; id: number; timeline: PageTimeline }
  | { type: 'loaded'; id: number }
  | { type: 'inspected'; id: number; reply: InspectReply }
  | { type: 'advised'; id: number; check: AdviceCheck }
  | { type: 'experiments'; id: number; list: ExperimentInfo[] }
  | { type: 'experiment'; id: number; report: ExperimentReport }
  | { type: 'error'; id: number; message: string };
