// The machine after a given step, for what the timeline does not keep (a page's inspect fields,
// dump_page, the handles' internals): deterministic replay of the steps up to it, with the last few
// kept. It runs in the page's worker (worker.ts), so a long replay never blocks the page. A machine
// snapshot API (Machine.snapshot()/restore()) can replace ReplaySource behind the same interface.

import { executeScenario } from '../scenario/run.js';
import type { RunContext } from '../scenario/context.js';
import type { Scenario } from '../scenario/schema.js';

export interface StateSource {
  /** The run's context after step `step` (0-based). */
  at(step: number): RunContext;
}

export class ReplaySource implements StateSource {
  private readonly kept = new Map<number, RunContext>();
  constructor(
    private readonly sc: Scenario,
    private readonly keep = 3,
  ) {}

  at(step: number): RunContext {
    const hit = this.kept.get(step);
    if (hit) {
      this.kept.delete(step);
      this.kept.set(step, hit);
      return hit;
    }
    const { ctx } = executeScenario(this.sc, { stopAfter: step });
    this.kept.set(step, ctx);
    if (this.kept.size > this.keep) this.kept.delete(this.kept.keys().next().value!);
    return ctx;
  }
}
