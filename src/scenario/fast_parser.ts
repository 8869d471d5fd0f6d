// The scenario parser generated from ScenarioSchema at build time (parser_gen.ts): the CLI's bundle
// (scripts/build-cli.mjs) puts the generated module in this one's place. Here, unbundled (tsc's output,
// tests, the browser), there is none, and the quick loader leaves every scenario to the zod loader.

import type { Scenario } from './schema.js';

/** Parses a raw scenario as ScenarioSchema.safeParse would on success; undefined where that would fail. */
export type ScenarioParser = (input: unknown) => Scenario | undefined;

export const fastScenarioParser: ScenarioParser | undefined = undefined;
