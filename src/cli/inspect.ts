// `gupsim dump-page FILE --step N --region R --page P` and `gupsim vmstat FILE [--step N]`: the
// kernel-format text at a point of a scenario.

import type { Command } from 'commander';
import { readScenario } from './scenario_file.js';
import { executeScenario } from '../scenario/run.js';
import { lookupPage } from '../scenario/inspect.js';
import { dump_page } from '../mm/debug.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { UserError } from './errors.js';
import type { Scenario } from '../scenario/schema.js';
import { KERNEL_HELP, kernelOption, onModel } from './kernel_option.js';

function stepIndex(sc: Scenario, v: string | undefined): number {
  if (v === undefined) return sc.steps.length - 1;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n >= sc.steps.length)
      throw new UserError('ERR_USAGE', `--step ${n}: the scenario has steps 0..${sc.steps.length - 1}`);
    return n;
  }
  const i = sc.steps.findIndex((s) => s.label === v);
  if (i < 0) throw new UserError('ERR_USAGE', `--step ${v}: no step has that label`);
  return i;
}

export function registerInspect(program: Command, setCode: (c: number) => void): void {
  program
    .command('dump-page')
    .description("the kernel's dump_page() text for a page of a region after a step")
    .argument('<file>', 'scenario file')
    .requiredOption('--region <name>', 'region (as named by its mmap step)')
    .option('--step <n|label>', 'after this step (index or label; default: the last)')
    .option('--page <index>', 'page index within the region', '0')
    .option('--proc <name>', 'process whose mapping to read (default: the region owner)')
    .option('--kernel <release>', KERNEL_HELP)
    .action((file: string, o: { region: string; step?: string; page: string; proc?: string; kernel?: string }) => {
      const sc = readScenario(file);
      const stop = stepIndex(sc, o.step);
      const profile = kernelOption(o.kernel, 'dump-page');
      const { ctx } = onModel(file, () => executeScenario(sc, { stopAfter: stop, profile }));
      const r = ctx.regions.get(o.region);
      if (!r) throw new UserError('ERR_USAGE', `--region ${o.region}: no such region after step ${stop}`);
      if (!/^\d+$/.test(o.page)) throw new UserError('ERR_USAGE', `--page ${o.page}: expected a page index`);
      const page = Number(o.page);
      if (page * PAGE_SIZE >= r.len)
        throw new UserError('ERR_USAGE', `--page ${page}: region ${o.region} has ${r.len / PAGE_SIZE} pages`);
      const p = ctx.m.process(o.proc ?? r.owner);
      if (!p) throw new UserError('ERR_USAGE', `--proc ${o.proc}: no such process`);
      const hit = p.alive ? lookupPage(p, r.addr + page * PAGE_SIZE) : undefined;
      if (!hit) {
        process.stdout.write(`page ${page} of ${o.region} is not mapped in ${p.name} after step ${stop}\n`);
        setCode(1);
        return;
      }
      process.stdout.write(dump_page(ctx.m, hit.pfn, `gupsim dump-page (step ${stop}, ${o.region} page ${page})`));
      setCode(0);
    });
  program
    .command('vmstat')
    .description('/proc/vmstat text of the model after a step')
    .argument('<file>', 'scenario file')
    .option('--step <n|label>', 'after this step (default: the last)')
    .option('--kernel <release>', KERNEL_HELP)
    .action((file: string, o: { step?: string; kernel?: string }) => {
      const sc = readScenario(file);
      const profile = kernelOption(o.kernel, 'vmstat');
      const { ctx } = onModel(file, () => executeScenario(sc, { stopAfter: stepIndex(sc, o.step), profile }));
      process.stdout.write(ctx.m.vmstat.text());
      setCode(0);
    });
}
