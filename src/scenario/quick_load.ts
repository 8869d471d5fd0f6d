// The CLI's quick way to load a valid scenario without zod or the full YAML parser, for the start of
// `gupsim run`: the YAML subset reader (yaml_subset.ts), the parser generated from the schema at build
// time (fast_parser.ts) and the reference checks (references.ts). It answers only for a scenario that
// the full loader (load.ts) would accept, with the same value; for anything else it answers undefined
// and the caller uses load.ts, so every error message comes from there.

import { fastScenarioParser, type ScenarioParser } from './fast_parser.js';
import { checkReferences } from './references.js';
import type { Scenario } from './schema.js';
import { NOT_SUBSET, parseYamlSubset } from './yaml_subset.js';

/** The scenario of a text, or undefined: not in the subset, invalid, or no generated parser (unbundled). */
export function quickLoadScenario(
  text: string,
  parse: ScenarioParser | undefined = fastScenarioParser,
): Scenario | undefined {
  if (parse === undefined) return undefined;
  const raw = parseYamlSubset(text);
  if (raw === NOT_SUBSET) return undefined;
  const sc = parse(raw);
  if (sc === undefined || checkReferences(sc.steps).length) return undefined;
  return sc;
}
