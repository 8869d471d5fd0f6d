// Snapshots of a scenario run (no kernel counterpart): the machine's snapshot (src/mm/snapshot.ts)
// with the RunContext as an extra root, so regions, files, handles and the leak ledger go back with
// the machine. For the playground's step back and for searches over executions.

import { type MachineSnapshot, restoreMachine, snapshotMachine } from '../mm/snapshot.js';
import type { RunContext } from './context.js';

/** Snapshot the run (its machine and its own state). `into`: an earlier snapshot of it to reuse. */
export function snapshotRun(ctx: RunContext, into?: MachineSnapshot): MachineSnapshot {
  return snapshotMachine(ctx.m, [ctx], into);
}

/** Put the run back into the state of a snapshotRun() of it. */
export function restoreRun(ctx: RunContext, s: MachineSnapshot): void {
  restoreMachine(ctx.m, s);
}
