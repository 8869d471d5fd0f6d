import { describe, it, expect } from 'vitest';
import { advise, MEMORY_KINDS, type AdvisorInput } from './advisor.js';
import { adviceScenario, judgeAdvice, type AdviceCheck } from './advisor_scenario.js';
import { loadScenario } from '../scenario/load.js';
import { runScenario } from '../scenario/run.js';
import type { RunResult } from '../scenario/result.js';

/** What the playground does: the page writes and validates the scenario, the worker runs and judges it. */
function checkAdvice(input: AdvisorInput): AdviceCheck & { result: RunResult } {
  const adv = advise(input);
  const result = runScenario(loadScenario(adviceScenario(input, adv), 'advice.yaml'));
  return { ...judgeAdvice(input, adv, result), result };
}

const q = (a: Partial<AdvisorInput>): AdvisorInput => ({
  dma: false,
  longLived: false,
  writesData: false,
  mmuNotifier: false,
  structPageOnly: false,
  ...a,
});

describe('the advice, checked on the model', () => {
  it('Case 2 on movable memory: the pin migrates the page out of ZONE_MOVABLE, and the release balances', () => {
    const input = q({ dma: true, longLived: true, writesData: true, memory: 'movable' });
    const c = checkAdvice(input);
    expect(c.consistent).toBe(true);
    const held = (c.result.steps.find((s) => s.label === 'held')!.pages as Array<Record<string, unknown>>)[0]!;
    expect(held.maybe_dma_pinned).toBe(true);
    expect(held.zone).not.toBe('MOVABLE');
    expect(c.findings.join(' ')).toMatch(/migrated for the pin/);
    expect(c.result.vmstat.nr_foll_pin_acquired).toBe(c.result.vmstat.nr_foll_pin_released);
  });

  it('Case 2 on fsdax: refused with -EOPNOTSUPP, as the fsdax pitfall says', () => {
    const input = q({ dma: true, longLived: true, writesData: true, memory: 'fsdax' });
    const c = checkAdvice(input);
    const call = c.result.steps.find((s) => s.label === 'call')!;
    expect(call.errno).toBe('EOPNOTSUPP');
    expect(c.consistent).toBe(true);
  });

  it('Case 4 takes references, not pins; Case 3 with replayable faults takes neither', () => {
    const get = q({ structPageOnly: true });
    const c4 = checkAdvice(get);
    expect(c4.consistent).toBe(true);
    expect(c4.result.steps.find((s) => s.label === 'call')!.op).toBe('get_user_pages_fast');
    const hmm = q({ mmuNotifier: true, dma: true, deviceFaults: true });
    const c3 = checkAdvice(hmm);
    expect(c3.result.steps.find((s) => s.label === 'call')!.op).toBe('hmm_range_fault');
    expect(c3.consistent).toBe(true);
  });

  it('every case on every memory runs cleanly (no invalid scenario, no throw)', () => {
    for (const memory of [...MEMORY_KINDS, undefined])
      for (const a of [
        q({ dma: true }),
        q({ dma: true, longLived: true }),
        q({ writesData: true }),
        q({ mmuNotifier: true }),
      ]) {
        const input = memory ? { ...a, memory } : a;
        const c = checkAdvice(input);
        expect(c.findings.length).toBeGreaterThan(0);
      }
  });
});
