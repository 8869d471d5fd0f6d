// How `gupsim run` and `gupsim check` read their scenario: a valid one through the quick loader
// (src/scenario/quick_load.ts: neither zod nor the full YAML parser is loaded), anything else through
// readScenario (scenario_file.ts, loaded only then), whose errors name the file, line, step and field.

import { readFileSync } from 'node:fs';
import { quickLoadScenario } from '../scenario/quick_load.js';
import type { Scenario } from '../scenario/schema.js';

export async function readScenarioQuick(file: string): Promise<Scenario> {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // unreadable: readScenario says why
  }
  const sc = text === undefined ? undefined : quickLoadScenario(text);
  return sc ?? (await import('./scenario_file.js')).readScenario(file);
}
