// `gupsim dump-page FILE --step N --region R --page P` and `gupsim vmstat FILE [--step N]`: the
// kernel-format text at a point of a scenario.

import type { Command } from 'commander';
import { readScenario } from './scenario_file.js';
import { KERNEL_HELP, kernelOption, onModel } from './kernel_option.js';
import { executeScenario } from '../scenario/run.js';
import { folioHolds, inspectPage, lookupPage } from '../scenario/inspect.js';
import { counter, renderTable } from '../scenario/table.js';
import { dump_page } from '../mm/debug.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { UserError } from './errors.js';
import type { Scenario } from '../scenario/schema.js';

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

/** --kernel, on both commands. */
type K = { kernel?: string };

export function registerInspect(program: Command, setCode: (c: number) => void): void {
  program
    .command('dump-page')
    .description("the kernel's dump_page() text for a page of a region after a step")
    .argument('<file>', 'scenario file')
    .requiredOption('--region <name>', 'region (as named by its mmap step)')
    .option('--step <n|label>', 'after this step (index or label; default: the last)')
    .option('--page <index>', 'page index within the region', '0')
    .option('--proc <name>', 'process whose mapping to read (default: the region owner)')
    .option('--json', 'print { step, region, page, pfn, text, info } (info: what `inspect` reports)')
    .option('--kernel <release>', KERNEL_HELP)
    .addHelpText(
      'after',
      '\nExample:\n  gupsim dump-page examples/doc-large-folio-pincount.yaml --region thp --step pinned',
    )
    .action((file: string, o: { region: string; step?: string; page: string; proc?: string; json?: boolean } & K) => {
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
        process.stdout.write(
          o.json
            ? JSON.stringify({ step: stop, region: o.region, page, pfn: null, text: null, info: null }) + '\n'
            : `page ${page} of ${o.region} is not mapped in ${p.name} after step ${stop}\n`,
        );
        setCode(1);
        return;
      }
      const text = dump_page(ctx.m, hit.pfn, `gupsim dump-page (step ${stop}, ${o.region} page ${page})`);
      const info = inspectPage(ctx.m, p, r.addr + page * PAGE_SIZE, page, folioHolds(ctx.m, ctx.holders.values()));
      process.stdout.write(
        o.json
          ? JSON.stringify({ step: stop, region: o.region, page, pfn: hit.pfn, text, info }, null, 2) + '\n'
          : text,
      );
      setCode(0);
    });
  program
    .command('vmstat')
    .description('/proc/vmstat text of the model after a step')
    .argument('<file>', 'scenario file')
    .option('--step <n|label>', 'after this step (default: the last)')
    .option('--json', 'print { step, counters: { name: { total, delta } } } (delta: since the scenario began)')
    .option('--changed', 'a table of the counters that changed since the scenario began: total (+delta)')
    .option('--kernel <release>', KERNEL_HELP)
    .addHelpText('after', '\nExample:\n  gupsim vmstat examples/io-uring-thp-coalesce.yaml --changed')
    .action((file: string, o: { step?: string; json?: boolean; changed?: boolean } & K) => {
      const sc = readScenario(file);
      const step = stepIndex(sc, o.step);
      const profile = kernelOption(o.kernel, 'vmstat');
      const { ctx } = onModel(file, () => executeScenario(sc, { stopAfter: step, profile }));
      const now = ctx.m.vmstat.snapshot() as Record<string, number>;
      const delta = ctx.vmstatDelta();
      if (o.json) {
        const counters = Object.fromEntries(Object.keys(now).map((k) => [k, { total: now[k], delta: delta[k] }]));
        process.stdout.write(JSON.stringify({ step, counters }, null, 2) + '\n');
      } else if (o.changed) {
        const rows = Object.keys(now)
          .filter((k) => delta[k])
          .map((k) => ({ cells: [k, counter(now[k]!, delta[k]!)] }));
        process.stdout.write(renderTable(['counter', 'total (+delta)'], rows).join('\n') + '\n');
      } else process.stdout.write(ctx.m.vmstat.text());
      setCode(0);
    });
}
