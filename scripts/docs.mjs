// `npm run docs`: write docs/scenarios.md from the scenario schema (needs `npm run build` first).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenarioReference } from '../dist/cli/docs.js';

const out = join(import.meta.dirname, '..', 'docs', 'scenarios.md');
writeFileSync(out, scenarioReference());
console.log(`wrote ${out}`);
