// `gupsim experiment list | run NAME... | all [--json] [--out DIR] [--seed N] [--quick] [--workers N]
// [--no-host]`: the experiments of src/tools/experiments/, their shards spread over worker threads (all
// cores by default; the result is the same whatever their number), a progress bar on a terminal, the
// host kernel's io_uring figure (src/bench/host.ts) for the experiments that show it, and the report as
// text, JSON, or markdown with SVG plots (--out DIR: DIR/experiments.md, DIR/experiments/*.svg).

import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EXPERIMENTS, findExperiment } from '../tools/experiments/registry.js';
import {
  assembleReport,
  planShards,
  runPlannedShard,
  runProfile,
  type PlannedShard,
} from '../tools/experiments/runner.js';
import { renderMarkdown } from '../tools/experiments/markdown.js';
import { alignRight, fmtCell, outcomeText } from '../tools/experiments/format.js';
import type {
  AnyExperiment,
  ExperimentReport,
  ExperimentRun,
  HostEnv,
  HostIoUring,
  RunOptions,
  Table,
} from '../tools/experiments/types.js';
import { measureHost } from '../bench/host.js';
import { DEFAULT_PROFILE, KERNEL_RELEASES } from '../mm/profile.js';
import { kernelOption } from './kernel_option.js';
import { Progress } from './progress.js';
import { UserError } from './errors.js';
import type { ShardJob, WorkerMessage } from './experiment_worker.js';

export interface ExperimentOptions {
  quick?: boolean;
  seed?: number;
  /** The release whose profile the model runs with ('6.1', '6.12', '6.18'; default 6.18). */
  kernel?: string;
  /** Worker threads (default: the machine's available parallelism); 1 runs in this thread. */
  workers?: number;
  /** Measure the host kernel for the experiments that show it (default true). */
  host?: boolean;
  /** Progress bar stream (default: stderr). */
  progress?: Progress;
}

export const DEFAULT_SEED = 1;

/** The experiments named (by name or number), in the order given; a bad name is a usage error. */
export function selectExperiments(names: string[]): AnyExperiment[] {
  const out: AnyExperiment[] = [];
  for (const n of names) {
    const e = findExperiment(n);
    if (!e) {
      const known = EXPERIMENTS.map((x) => `${x.number} ${x.name}`).join(', ');
      throw new UserError('ERR_USAGE', `experiment: no experiment "${n}" (known: ${known})`);
    }
    if (e.pending)
      throw new UserError(
        'ERR_USAGE',
        `experiment: ${e.number} ${e.name} is pending (${e.pending}); \`gupsim experiment list\` shows what runs`,
      );
    if (!out.includes(e)) out.push(e);
  }
  return out;
}

/** A shard runner on one worker thread, one shard at a time. */
class ShardWorker {
  private readonly worker: Worker;
  private pending:
    | { id: number; resolve: (r: unknown) => void; reject: (e: Error) => void; onProgress: (f: number) => void }
    | undefined;
  private failed: Error | undefined;

  constructor() {
    this.worker = new Worker(new URL('./experiment_worker.js', import.meta.url));
    this.worker.on('message', (m: WorkerMessage) => {
      const p = this.pending;
      if (!p || m.id !== p.id) return;
      if (m.type === 'progress') p.onProgress(m.fraction);
      else {
        this.pending = undefined;
        if (m.type === 'done') p.resolve(m.result);
        else p.reject(new Error(`${m.message}${process.env.GUPSIM_DEBUG && m.stack ? `\n${m.stack}` : ''}`));
      }
    });
    this.worker.on('error', (e) => {
      this.failed = e;
      this.pending?.reject(e);
      this.pending = undefined;
    });
  }

  run(job: ShardJob, onProgress: (f: number) => void): Promise<unknown> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.pending = { id: job.id, resolve, reject, onProgress };
      this.worker.postMessage(job);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * Run the shards, each exactly once, and return their results in shard order. Shards that measure time
 * run after all the others, one at a time, so nothing competes with them for the CPU.
 */
async function runShards(
  shards: PlannedShard[],
  o: RunOptions,
  workers: number,
  progress: (done: number, total: number, label: string) => void,
): Promise<unknown[]> {
  const results: unknown[] = new Array(shards.length);
  const total = shards.reduce((s, x) => s + x.cost, 0);
  const fraction = new Float64Array(shards.length);
  let finished = 0;
  const running = new Set<number>();
  const report = (i: number, f: number) => {
    fraction[i] = f;
    if (f < 1) running.add(i);
    else running.delete(i);
    let done = 0;
    shards.forEach((s, k) => (done += s.cost * fraction[k]!));
    const now = [...running].map((k) => shards[k]!.label).join('; ');
    progress(done, total, `${finished}/${shards.length} shards${now ? `, running ${now}` : ''}`);
  };
  const idx = shards.map((_, i) => i);
  // Longest first, so the last shard to finish is a short one.
  const plain = idx.filter((i) => !shards[i]!.timing).sort((a, b) => shards[b]!.cost - shards[a]!.cost);
  const timed = idx.filter((i) => shards[i]!.timing);
  if (workers <= 1) {
    for (const i of [...plain, ...timed]) {
      results[i] = runPlannedShard(shards[i]!, o, (f) => report(i, f));
      finished++;
      report(i, 1);
    }
    return results;
  }
  const pool = Array.from({ length: Math.max(1, Math.min(workers, plain.length)) }, () => new ShardWorker());
  try {
    const runOn = async (w: ShardWorker, i: number) => {
      results[i] = await w.run({ id: i, shard: shards[i]!, options: o }, (f) => report(i, f));
      finished++;
      report(i, 1);
    };
    const queue = [...plain];
    await Promise.all(
      pool.map(async (w) => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) await runOn(w, i);
      }),
    );
    for (const i of timed) await runOn(pool[0]!, i);
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}

/** The host's io_uring registration cost, for the experiments that show it. */
function hostEnv(exps: AnyExperiment[], measure: boolean): HostEnv {
  const want = exps.find((e) => e.host)?.host;
  if (!want) return {};
  if (!measure) return { ioUring: { skipped: 'not requested (--no-host)' } };
  const h = measureHost([want.ioUringBytes]);
  if (!h.host) return { ioUring: { skipped: h.skipped } };
  const row = h.host.rows.find((r) => r.bytes === want.ioUringBytes) ?? h.host.rows[0]!;
  const io: HostIoUring = {
    kernel: h.host.kernel,
    bytes: row.bytes,
    register_ns_per_page: row.register_ns_per_page,
    unregister_ns_per_page: row.unregister_ns_per_page,
  };
  return { ioUring: io };
}

/** Run experiments (pending ones are reported as such) and assemble the run's report. */
export async function runExperiments(exps: AnyExperiment[], opts: ExperimentOptions = {}): Promise<ExperimentRun> {
  const o: RunOptions = { mode: opts.quick ? 'quick' : 'full', seed: opts.seed ?? DEFAULT_SEED };
  if (opts.kernel !== undefined) o.kernel = opts.kernel;
  const shards = planShards(exps, o);
  const progress = opts.progress ?? new Progress(process.stderr);
  const workers = opts.workers ?? availableParallelism();
  const active = exps.filter((e) => !e.pending);
  let results: unknown[];
  let host: HostEnv;
  try {
    results = await runShards(shards, o, workers, (done, total, label) => progress.update(label, done, total));
    if (active.some((e) => e.host) && opts.host !== false)
      progress.update('measuring the host kernel (io_uring)', 1, 1);
    host = hostEnv(active, opts.host !== false);
  } finally {
    progress.clear();
  }
  const byExp = new Map<string, unknown[]>();
  shards.forEach((s, i) => {
    const list = byExp.get(s.experiment) ?? [];
    list[s.index] = results[i];
    byExp.set(s.experiment, list);
  });
  return {
    schemaVersion: 1,
    mode: o.mode,
    seed: o.seed,
    kernel: `model of Linux ${runProfile(o).release}`,
    experiments: exps.map((e) => assembleReport(e, byExp.get(e.name) ?? [], o, host)),
  };
}

// ---------------------------------------------------------------------------------------------
// Text output

const WRAP = 100;

function wrap(text: string, indent = ''): string[] {
  const out: string[] = [];
  let line = indent;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.trim() && line.length + 1 + word.length > WRAP) {
      out.push(line);
      line = indent + word;
    } else line = line.trim() ? `${line} ${word}` : indent + word;
  }
  if (line.trim()) out.push(line);
  return out;
}

function textTable(t: Table): string[] {
  const cells = [t.columns, ...t.rows.map((r) => r.map(fmtCell))];
  const widths = t.columns.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? '').length)));
  const right = t.columns.map((_, j) => alignRight(t, j));
  const line = (r: string[]) =>
    '  ' +
    r
      .map((c, j) => (right[j] ? c.padStart(widths[j]!) : c.padEnd(widths[j]!)))
      .join('  ')
      .trimEnd();
  const out = [t.title, line(t.columns), `  ${widths.map((w) => '-'.repeat(w)).join('  ')}`];
  for (const r of cells.slice(1)) out.push(line(r));
  for (const n of t.notes ?? []) out.push(...wrap(n, '  '));
  return out;
}

export function formatReportText(e: ExperimentReport): string {
  const out: string[] = [`${e.number}. ${e.title}`, ''];
  out.push(...wrap(`Question: ${e.question}`));
  for (const c of e.claims) out.push(...wrap(`${c.source ?? 'pin_user_pages.rst'} (${c.section}): "${c.quote}"`));
  if (e.status === 'pending') {
    out.push(...wrap(`Pending: ${e.pending}.`), '');
    return out.join('\n') + '\n';
  }
  out.push('');
  for (const m of e.method ?? []) out.push(...wrap(m), '');
  for (const t of e.tables ?? []) out.push(...textTable(t), '');
  for (const p of e.plots ?? []) out.push(`Plot: ${p.title} (an SVG with --out DIR)`);
  out.push('', ...wrap(`Verdict: ${outcomeText(e.verdict!.outcome)}. ${e.verdict!.text}`));
  if (e.findings?.length) {
    out.push('', 'Findings:');
    for (const f of e.findings) out.push(...wrap(`- ${f}`, '  ').map((l, i) => (i === 0 ? l.slice(2) : `  ${l}`)));
  }
  if (e.limits?.length) {
    out.push('', 'Limits:');
    for (const l of e.limits) out.push(...wrap(`- ${l}`, '  ').map((x, i) => (i === 0 ? x.slice(2) : `  ${x}`)));
  }
  return out.join('\n') + '\n';
}

export function formatRunText(run: ExperimentRun): string {
  const head = `gupsim experiments: ${run.kernel}, ${run.mode} mode, seed ${run.seed}\n\n`;
  return head + run.experiments.map(formatReportText).join('\n');
}

export function formatList(): string {
  const rows = EXPERIMENTS.map((e) => [String(e.number), e.name, e.pending ? 'pending' : 'ready', e.title]);
  const w = [0, 1, 2].map((j) => Math.max(...rows.map((r) => r[j]!.length)));
  const out = rows.map((r, i) => {
    const e = EXPERIMENTS[i]!;
    const line = `${r[0]!.padStart(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]!.padEnd(w[2]!)}  ${r[3]}`;
    return e.pending ? `${line}\n${' '.repeat(w[0]! + w[1]! + w[2]! + 6)}(${e.pending})` : line;
  });
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Files

/** The gupsim command that makes this run (without --out), as the markdown report states it. */
export function commandOf(names: string[] | 'all', opts: ExperimentOptions): string {
  const what = names === 'all' ? 'all' : `run ${names.join(' ')}`;
  const kernel = opts.kernel !== undefined && opts.kernel !== DEFAULT_PROFILE.release ? ` --kernel ${opts.kernel}` : '';
  return `gupsim experiment ${what}${kernel}${opts.quick ? ' --quick' : ''} --seed ${opts.seed ?? DEFAULT_SEED}`;
}

/** Write DIR/experiments.md and its plots under DIR/experiments/. Returns the paths written. */
export function writeReport(run: ExperimentRun, dir: string, command: string): string[] {
  const r = renderMarkdown(run, { svgDir: 'experiments', command });
  const written: string[] = [];
  const put = (path: string, text: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    written.push(path);
  };
  try {
    put(join(dir, 'experiments.md'), r.markdown);
    for (const s of r.svgs) put(join(dir, s.path), s.svg);
  } catch (e) {
    throw new UserError('ERR_IO', `experiment: cannot write the report to ${dir}: ${(e as Error).message}`);
  }
  return written;
}

// ---------------------------------------------------------------------------------------------
// Command line

interface CliOptions {
  json?: boolean;
  kernel?: string;
  out?: string;
  seed?: string;
  quick?: boolean;
  workers?: string;
  host: boolean;
}

function parseCount(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max)
    throw new UserError('ERR_USAGE', `experiment: ${what} must be an integer from ${min} to ${max}, not "${text}"`);
  return Number(text);
}

function addRunOptions(c: Command): Command {
  return c
    .option('--json', 'the report as JSON')
    .option('--out <dir>', 'write DIR/experiments.md and its SVG plots in DIR/experiments/')
    .option('--seed <n>', `the run's seed (default ${DEFAULT_SEED}): the same seed gives the same report`)
    .option('--quick', 'fewer and shorter runs (what CI runs)')
    .option('--workers <n>', 'worker threads (default: all cores); 1 runs in this thread')
    .option(
      '--kernel <release>',
      `the release whose rules the model applies: ${KERNEL_RELEASES.join(', ')} (default 6.18)`,
    )
    .option('--no-host', "do not measure the host kernel's io_uring registration");
}

async function action(names: string[] | 'all', o: CliOptions, setCode: (c: number) => void): Promise<void> {
  const exps = names === 'all' ? [...EXPERIMENTS] : selectExperiments(names);
  const opts: ExperimentOptions = {
    quick: !!o.quick,
    seed: o.seed !== undefined ? parseCount(o.seed, '--seed', 0, 2 ** 32 - 1) : DEFAULT_SEED,
    host: o.host,
  };
  const profile = kernelOption(o.kernel, 'experiment');
  if (profile) opts.kernel = profile.release;
  if (o.workers !== undefined) opts.workers = parseCount(o.workers, '--workers', 1, 1024);
  const run = await runExperiments(exps, opts);
  process.stdout.write(o.json ? JSON.stringify(run, null, 2) + '\n' : formatRunText(run));
  if (o.out !== undefined) {
    const written = writeReport(run, o.out, commandOf(names, opts));
    process.stderr.write(`gupsim: wrote ${written[0]} and ${written.length - 1} plots\n`);
  }
  setCode(0);
}

export function registerExperiment(program: Command, setCode: (c: number) => void): void {
  const cmd = program
    .command('experiment')
    .description('the claims of pin_user_pages.rst as experiments on the model: tables, plots, verdicts');
  cmd
    .command('list')
    .description('the experiments, and which are pending')
    .option('--json', 'JSON output')
    .action((o: { json?: boolean }) => {
      if (o.json) {
        const list = EXPERIMENTS.map((e) => ({
          number: e.number,
          name: e.name,
          title: e.title,
          status: e.pending ? 'pending' : 'ready',
          ...(e.pending ? { pending: e.pending } : {}),
          question: e.question,
          claims: e.claims,
        }));
        process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      } else process.stdout.write(formatList());
      setCode(0);
    });
  addRunOptions(
    cmd.command('run').argument('<names...>', 'experiment names or numbers').description('run experiments'),
  ).action((names: string[], o: CliOptions) => action(names, o, setCode));
  addRunOptions(cmd.command('all').description('run every experiment')).action((o: CliOptions) =>
    action('all', o, setCode),
  );
}
