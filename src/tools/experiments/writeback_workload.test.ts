// Experiment 5's workload and ledger on hand-written plans: each measure counts what the model did
// (a device write into a page writeback cleaned is lost when the release does not dirty it, kept by
// a bounce, waited for by fsync), and the seeded plan is the same for a seed.

import { describe, it, expect } from 'vitest';
import { makePlan, runSetup, type Ev, type Plan, type Release, type Setup } from './writeback_workload.js';
import type { WritebackPolicy } from '../../mm/writeback_pinned.js';

const setup = (policy: WritebackPolicy, refuseLongterm = false): Setup => ({ id: policy, policy, refuseLongterm });

/** A plan of `pages` pages whose events are given by tick; ticks without events are empty. */
function plan(pages: number, ticks: number, events: Record<number, Ev[]>, ltFirst = pages): Plan {
  return { size: { pages, ticks }, ltFirst, ticks: Array.from({ length: ticks }, (_, t) => events[t] ?? []) };
}

/**
 * Case 5 on one page: the process stores (dirty), a driver pins the page, the flusher cleans it, the
 * device writes into it, an fsync while the I/O is in flight, the driver releases the page, an fsync,
 * then reclaim.
 */
const case5 = plan(2, 8, {
  0: [
    { k: 'cpu', page: 0, v: 10 },
    { k: 'pin', d: 0, first: 0, n: 1 },
  ],
  1: [{ k: 'flush' }],
  2: [{ k: 'dma', d: 0, off: 0, v: 11 }],
  3: [{ k: 'fsync' }],
  4: [{ k: 'release', d: 0 }],
  5: [{ k: 'fsync' }],
  6: [{ k: 'reclaim' }],
});

describe('the ledger on Case 5, one page', () => {
  it('6.18 with unpin_user_pages() (no dirtying) or put_page(): the device write is lost at reclaim', () => {
    for (const release of ['unpin', 'put_page'] as Release[]) {
      const o = runSetup(case5, setup('linux'), release);
      expect([o.deviceWrites, o.lostDevice, o.reached], release).toEqual([1, 1, 0]);
      expect(o.lostCpu).toBe(0);
      // The fsync at tick 3 owes nothing (the I/O is in flight); the one at tick 5 owes the completed
      // device write and returns without it on the disk.
      expect([o.fsyncs, o.fsyncsShort]).toEqual([2, 1]);
    }
  });

  it('6.18 with unpin_user_pages_dirty_lock(true): written by the fsync after the release, nothing lost', () => {
    const o = runSetup(case5, setup('linux'), 'unpin-dirty');
    expect([o.lostDevice, o.reached, o.fsyncsShort]).toEqual([0, 1, 0]);
    // The device write completes at tick 4 and is on the disk at tick 5; the CPU store of tick 0 was
    // stale until the flusher at tick 1: one page-tick each.
    expect([o.latencyMax, o.stalePageTicks, o.longestStale]).toEqual([1, 2, 1]);
  });

  it('bounce keeps the pinned page dirty: the write is on disk at the fsync while pinned, no loss', () => {
    const o = runSetup(case5, setup('bounce'), 'unpin');
    expect([o.lostDevice, o.reached, o.fsyncsShort]).toEqual([0, 1, 0]);
    // Flusher at 1 and fsync at 3 each bounce the pinned page.
    expect(o.bounces).toBe(2);
    expect([o.pinnedDecisions, o.falsePositiveDecisions]).toEqual([2, 0]);
  });

  it('wait: the fsync at tick 3 blocks until the release at tick 4, then writes', () => {
    const o = runSetup(case5, setup('wait'), 'unpin');
    expect([o.fsyncs, o.fsyncsBlocked, o.blockedTicks, o.blockedMax]).toEqual([2, 1, 1, 1]);
    expect([o.lostDevice, o.fsyncsShort, o.fsyncsMissed]).toEqual([0, 0, 0]);
  });

  it('skip: the device write stays in a dirty page, written once unpinned', () => {
    const o = runSetup(case5, setup('skip'), 'unpin');
    expect([o.lostDevice, o.reached, o.bounces]).toEqual([0, 1, 0]);
  });

  it('FOLL_GET references are invisible to the policies: put_page() loses the write under bounce too', () => {
    const o = runSetup(case5, setup('bounce'), 'put_page');
    expect([o.lostDevice, o.bounces, o.pinnedDecisions]).toEqual([1, 0, 0]);
  });
});

describe('the long-term MR', () => {
  const lt = plan(
    4,
    6,
    {
      // Registering write-faults the pages (dirty): the flusher cleans them before the NIC writes.
      0: [{ k: 'lt-register' }, { k: 'flush' }],
      1: [{ k: 'lt-dma', off: 1, v: 20 }],
      2: [{ k: 'fsync' }],
      3: [{ k: 'lt-release' }],
      4: [{ k: 'fsync' }],
    },
    2,
  );

  it('6.18 refuses it; the application copies the NIC write into the file, which fsync writes', () => {
    const o = runSetup(lt, setup('linux', true), 'unpin-dirty');
    expect([o.refusals, o.appCopies, o.lostDevice, o.fsyncsShort]).toEqual([1, 1, 0, 0]);
  });

  it("allowed, the NIC's write lands in a clean page: fsync returns without it until the MR is released", () => {
    const o = runSetup(lt, setup('linux', false), 'unpin-dirty');
    expect([o.refusals, o.appCopies, o.lostDevice]).toEqual([0, 0, 0]);
    expect([o.fsyncs, o.fsyncsShort]).toEqual([2, 1]);
  });
});

describe('the seeded plan', () => {
  it('is the same for a seed and differs for another; every write has a value of its own', () => {
    const size = { pages: 32, ticks: 200 };
    expect(makePlan(size, 7)).toEqual(makePlan(size, 7));
    expect(makePlan(size, 8)).not.toEqual(makePlan(size, 7));
    const values = makePlan(size, 7)
      .ticks.flat()
      .flatMap((e) => ('v' in e ? [e.v] : []));
    expect(new Set(values).size).toBe(values.length);
    expect(Math.min(...values)).toBeGreaterThan(size.pages);
  });
});
