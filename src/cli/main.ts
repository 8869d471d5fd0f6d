// gupsim's command line: parses argv, dispatches to a command module, maps errors to exit codes
// (0 ok, 1 an expectation or check failed, 2 bad input, 70 a gupsim bug). Never prints a stack trace
// unless GUPSIM_DEBUG is set.

import { Command, CommanderError } from 'commander';
import { UserError } from './errors.js';

type Register = (program: Command, setCode: (c: number) => void) => void;

/**
 * Each command's module, loaded only when that command runs (or when all are listed, for help): a
 * command's dependencies (zod, yaml, the model, the probe) cost nothing to the others.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  run: async () => (await import('./run.js')).registerRun,
  check: async () => (await import('./run.js')).registerRun,
  'dump-page': async () => (await import('./inspect.js')).registerInspect,
  vmstat: async () => (await import('./inspect.js')).registerInspect,
  tour: async () => (await import('./tour.js')).registerTour,
  bench: async () => (await import('./bench.js')).registerBench,
  gup_test: async () => (await import('./gup_test.js')).registerGupTest,
  advise: async () => (await import('./advise.js')).registerAdvise,
  probe: async () => (await import('./probe.js')).registerProbe,
  diff: async () => (await import('./diff.js')).registerDiff,
  watch: async () => (await import('./watch.js')).registerWatch,
  schema: async () => (await import('./schema.js')).registerSchema,
  experiment: async () => (await import('./experiment.js')).registerExperiment,
  playground: async () => (await import('./playground.js')).registerPlayground,
};

/** The modules to load for argv: the named command's, none for a bare --version, else all (help, typos). */
async function registrations(argv: string[]): Promise<Register[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  let names = Object.keys(COMMANDS);
  if (first !== undefined && first in COMMANDS) names = [first];
  else if (first === undefined && argv.some((a) => a === '-V' || a === '--version')) names = [];
  const regs = await Promise.all(names.map((n) => COMMANDS[n]!()));
  return [...new Set(regs)];
}

/** An example per command that does not give its own. */
const EXAMPLES: Record<string, string> = {
  tour: 'gupsim tour',
  bench: 'gupsim bench --quick',
  gup_test: 'gupsim gup_test -a -n 64 -m 2',
  advise: 'gupsim advise --dma --long-lived --writes --memory file-disk --shared',
  probe: 'gupsim probe examples/probe-base-pages.yaml',
  diff: 'gupsim diff examples/probe-base-pages.yaml',
  schema: 'gupsim schema > gupsim-scenario.schema.json',
  playground: 'gupsim playground --open',
  experiment: 'gupsim experiment run fork --quick',
  'experiment list': 'gupsim experiment list',
  'experiment run': 'gupsim experiment run fork --quick',
  'experiment all': 'gupsim experiment all --quick',
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
  for (const register of await registrations(argv)) register(program, setCode);
  // One example in each command's help (commands that set their own keep it).
  for (const c of program.commands) {
    for (const [cmd, name] of [
      [c, c.name()] as const,
      ...c.commands.map((s) => [s, `${c.name()} ${s.name()}`] as const),
    ]) {
      const ex = EXAMPLES[name];
      if (ex) cmd.addHelpText('after', `\nExample:\n  ${ex}`);
    }
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
