// Which release a scenario runs on (`gupsim run --kernel`, else the file's `kernel:`, else 6.18), and
// the settings of a scenario that release cannot have: those are bad input (exit 2), as a knob that
// does not exist in /sys of that kernel cannot be set.

import { DEFAULT_PROFILE, profileByName, type KernelProfile } from '../mm/profile.js';
import type { Scenario } from './schema.js';

/** The profile a scenario runs on: `override` (--kernel) first, then its `kernel:` field, then 6.18. */
export function scenarioProfile(sc: Scenario, override?: KernelProfile): KernelProfile {
  if (override) return override;
  return (sc.kernel !== undefined ? profileByName(sc.kernel) : undefined) ?? DEFAULT_PROFILE;
}

/** What of the scenario the release lacks, one message per setting, naming the field. */
export function kernelProblems(sc: Scenario, profile: KernelProfile): string[] {
  const out: string[] = [];
  const mthp = Object.keys(sc.machine?.mthp ?? {});
  if (mthp.length && !profile.mthp)
    out.push(
      `machine.mthp (${mthp.join(', ')}): Linux ${profile.release} has no per-size mTHP settings ` +
        '(transparent_hugepage/hugepages-<size>kB came in 6.8)',
    );
  return out;
}
