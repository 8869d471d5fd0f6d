// docs/scenarios.md is generated from the schema's descriptions: it must be current, and every op
// and field must carry a description (the editor hover text of `gupsim schema`).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenarioReference } from '../src/cli/docs.js';
import { scenarioJsonSchema } from '../src/cli/schema.js';
import { StepSchema } from '../src/scenario/schema.js';

describe('docs/scenarios.md', () => {
  it('is what `npm run docs` generates from the schema (run it after changing src/scenario/schema.ts)', () => {
    const file = readFileSync(join(import.meta.dirname, '..', 'docs', 'scenarios.md'), 'utf8');
    expect(file).toBe(scenarioReference());
  });
  it('documents every op', () => {
    const text = scenarioReference();
    for (const o of StepSchema.options) expect(text).toContain(`### ${o.shape.op.value}\n`);
  });
  it('every field of every step has a description in the JSON Schema', () => {
    const js = scenarioJsonSchema() as { properties: { steps: { items: { oneOf?: unknown[]; anyOf?: unknown[] } } } };
    const items = (js.properties.steps.items.oneOf ?? js.properties.steps.items.anyOf) as Array<{
      properties: Record<string, { description?: string }>;
    }>;
    expect(items.length).toBe(StepSchema.options.length);
    const missing: string[] = [];
    for (const it of items)
      for (const [k, v] of Object.entries(it.properties)) if (!v.description) missing.push(`${k}`);
    expect(missing).toEqual([]);
  });
});
