// `gupsim schema`: the JSON Schema of scenario files, generated from the zod schema the runner
// validates with (editors can use it for completion and checking).

import type { Command } from 'commander';
import { z } from 'zod';
import { ScenarioSchema, SCHEMA_VERSION } from '../scenario/schema.js';

export function scenarioJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(ScenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...s, title: `gupsim scenario (schemaVersion ${SCHEMA_VERSION})` };
}

export function registerSchema(program: Command, setCode: (c: number) => void): void {
  program
    .command('schema')
    .description('print the JSON Schema of scenario files')
    .action(() => {
      process.stdout.write(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
      setCode(0);
    });
}
