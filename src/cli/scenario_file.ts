// Reading scenario files from disk for the CLI: I/O errors and validation errors become UserErrors
// (exit 2) that name the file, line, step and field.

import { readFileSync } from 'node:fs';
import { loadScenario, ScenarioError } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import { UserError } from './errors.js';

export function readScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError('ERR_IO', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return loadScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError)
      throw new UserError('ERR_SCENARIO_INVALID', `invalid scenario\n${e.problems.map((p) => '  ' + p).join('\n')}`);
    throw e;
  }
}
