// `--kernel 6.1|6.12|6.18`: which release profile a command runs the model with (mm/profile.ts). The
// default is the scenario's `kernel:` field, else 6.18. A release the model has no profile of, or a
// scenario setting the chosen release lacks, is bad input (exit 2).

import { KERNEL_RELEASES, profileByName, type KernelProfile } from '../mm/profile.js';
import { ScenarioError } from '../scenario/error.js';
import { UserError } from './errors.js';

export const KERNEL_HELP =
  `the release whose rules the model applies: ${KERNEL_RELEASES.join(', ')} ` +
  "(default: the scenario's kernel:, else 6.18)";

/** The profile --kernel names (undefined when not given). */
export function kernelOption(value: string | undefined, command: string): KernelProfile | undefined {
  if (value === undefined) return undefined;
  const p = profileByName(value);
  if (!p)
    throw new UserError(
      'ERR_USAGE',
      `${command}: --kernel ${value}: the model has profiles of Linux ${KERNEL_RELEASES.join(', ')}`,
    );
  return p;
}

/** Run fn; a setting of the scenario `file` the release lacks (ScenarioError) becomes bad input (exit 2). */
export function onModel<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ScenarioError)
      throw new UserError(
        'ERR_SCENARIO_INVALID',
        `${file}: cannot run on this release\n${e.problems.map((p) => '  ' + p).join('\n')}`,
      );
    throw e;
  }
}
