// gupsim's command line: parses argv, dispatches to a command module, maps errors to exit codes
// (0 ok, 1 an expectation or check failed, 2 bad input, 70 a gupsim bug). Never prints a stack trace
// unless GUPSIM_DEBUG is set.

import { Command, CommanderError } from 'commander';
import { registerBench } from './bench.js';
import { registerRun } from './run.js';
import { registerInspect } from './inspect.js';
import { registerTour } from './tour.js';
import { registerGupTest } from './gup_test.js';
import { registerAdvise } from './advise.js';
import { registerProbe } from './probe.js';
import { registerDiff } from './diff.js';
import { registerWatch } from './watch.js';
import { registerSchema } from './schema.js';
import { registerPlayground } from './playground.js';
import { registerExperiment } from './experiment.js';
import { UserError } from './errors.js';

/** An example per command that does not give its own. */
const EXAMPLES: Record<string, string> = {
  tour: 'gupsim tour',
  bench: 'gupsim bench --quick',
  gup_test: 'gupsim gup_test -a -n 64 -m 2',
  advise: 'gupsim advise --dma --long-lived --writes',
  probe: 'gupsim probe examples/probe-base-pages.yaml',
  diff: 'gupsim diff examples/probe-base-pages.yaml',
  schema: 'gupsim schema > gupsim-scenario.schema.json',
};

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('gupsim')
    .description('A kernel-faithful model of Linux page pinning (get_user_pages / pin_user_pages)')
    .version('0.1.0', '-V, --version')
    // Options after a command name belong to that command (gup_test's getopt sees its own -V, -h...).
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  let code = 0;
  const setCode = (c: number) => {
    code = c;
  };
  registerRun(program, setCode);
  registerInspect(program, setCode);
  registerTour(program, setCode);
  registerBench(program, setCode);
  registerGupTest(program, setCode);
  registerAdvise(program, setCode);
  registerProbe(program, setCode);
  registerDiff(program, setCode);
  registerWatch(program, setCode);
  registerSchema(program, setCode);
  registerExperiment(program, setCode);
  registerPlayground(program, setCode);
  // One example in each command's help (commands that set their own keep it).
  for (const c of program.commands) {
    const ex = EXAMPLES[c.name()];
    if (ex) c.addHelpText('after', `\nExample:\n  ${ex}`);
  }
  program.addHelpText(
    'after',
    '\nExample:\n  gupsim run examples/doc-bias-small-folio.yaml\n\nScenario reference: docs/scenarios.md ' +
      '(gupsim schema prints the JSON Schema)',
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UserError) {
      process.stderr.write(`gupsim: ${e.message}\n`);
      return e.exitCode;
    }
    // A bug in gupsim itself: say so plainly; the stack only when asked for.
    const err = e as Error;
    process.stderr.write(
      `gupsim: internal error: ${err?.message ?? String(e)}\n(this is a gupsim bug; GUPSIM_DEBUG=1 shows the stack)\n`,
    );
    if (process.env.GUPSIM_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    return 70;
  }
  return code;
}
