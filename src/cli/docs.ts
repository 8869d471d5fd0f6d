// docs/scenarios.md, generated from the scenario schema's descriptions (src/scenario/schema.ts): every
// op, every field with its unit, default and meaning, the result JSON and the exit codes.
// `npm run docs` writes it; a test regenerates it and compares, so the two cannot drift.

import { z } from 'zod';
import { MachineSchema, ProcessSchema, ScenarioSchema, StepSchema, SCHEMA_VERSION } from '../scenario/schema.js';

interface Meta {
  description?: string;
  unit?: string;
  default_text?: string;
}

/** The metadata of a field, looking through optional/nullable wrappers. */
function metaOf(t: z.ZodType): Meta {
  let cur: z.ZodType | undefined = t;
  for (let i = 0; cur && i < 4; i++) {
    const m = cur.meta() as Meta | undefined;
    if (m?.description) return m;
    const def: { innerType?: z.ZodType } = (cur as unknown as { def: { innerType?: z.ZodType } }).def;
    cur = def.innerType;
  }
  return {};
}

function isOptional(t: z.ZodType): boolean {
  return t.safeParse(undefined).success;
}

/** The type of a field in words (enums list their values). */
function typeOf(t: z.ZodType): string {
  if (metaOf(t).unit?.startsWith('bytes')) return 'size';
  const s = z.toJSONSchema(t, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  const e = (s.enum as unknown[] | undefined) ?? undefined;
  if (e) return e.map((v) => `\`${String(v)}\``).join(', ');
  if (s.type === 'integer') return 'integer';
  if (s.type === 'boolean') return 'boolean';
  if (s.type === 'string') return 'name';
  if (s.type === 'array') return 'list';
  if (s.type === 'object') return 'mapping';
  if (Array.isArray(s.anyOf))
    return (s.anyOf as Array<Record<string, unknown>>).map((x) => String(x.type)).join(' or ');
  return 'any';
}

const esc = (s: string) => s.replace(/\|/g, '\\|');

function fieldTable(shape: Record<string, z.ZodType>, skip: string[] = []): string[] {
  const out = ['| field | type | unit | default | meaning |', '|---|---|---|---|---|'];
  for (const [k, t] of Object.entries(shape)) {
    if (skip.includes(k)) continue;
    const m = metaOf(t);
    const dflt = isOptional(t) ? (m.default_text ?? '—') : 'required';
    out.push(`| \`${k}\` | ${esc(typeOf(t))} | ${esc(m.unit ?? '')} | ${esc(dflt)} | ${esc(m.description ?? '')} |`);
  }
  return out;
}

/** The whole reference, as Markdown. */
export function scenarioReference(): string {
  const out: string[] = [];
  out.push('# Scenario reference');
  out.push('');
  out.push('<!-- Generated from src/scenario/schema.ts by `npm run docs`; do not edit by hand (a test checks it). -->');
  out.push('');
  out.push(
    `A scenario is a YAML (or JSON) mapping, schemaVersion ${SCHEMA_VERSION}. Sizes are bytes, or a number ` +
      'with K, M, G (KiB, MiB, GiB: powers of two). Regions, files, rings and handles are named; ' +
      'processes are created on first use. `gupsim check FILE` validates one; `gupsim schema` prints the ' +
      'JSON Schema (with these descriptions, for editors).',
  );
  out.push('');
  out.push('## Top level');
  out.push('');
  out.push(...fieldTable(ScenarioSchema.shape as unknown as Record<string, z.ZodType>));
  out.push('');
  out.push('## machine');
  out.push('');
  out.push(...fieldTable(MachineSchema.shape as unknown as Record<string, z.ZodType>));
  out.push('');
  out.push('## processes.NAME');
  out.push('');
  out.push(...fieldTable(ProcessSchema.shape as unknown as Record<string, z.ZodType>));
  out.push('');
  out.push('## Steps');
  out.push('');
  out.push('Every step has `op`, and may have `label` and `repeat`:');
  out.push('');
  const first = StepSchema.options[0]!.shape as unknown as Record<string, z.ZodType>;
  out.push(...fieldTable({ label: first.label!, repeat: first.repeat! }));
  for (const o of StepSchema.options) {
    const shape = o.shape as unknown as Record<string, z.ZodType>;
    out.push('');
    out.push(`### ${o.shape.op.value}`);
    out.push('');
    out.push(metaOf(o.shape.op as unknown as z.ZodType).description ?? '');
    const fields = Object.keys(shape).filter((k) => !['op', 'label', 'repeat'].includes(k));
    if (!fields.length) continue;
    out.push('');
    out.push(...fieldTable(shape, ['op', 'label', 'repeat']));
  }
  out.push('');
  out.push(...RESULT_DOC);
  return out.join('\n') + '\n';
}

const RESULT_DOC = [
  '## The result JSON (`gupsim run FILE --json`)',
  '',
  '| field | meaning |',
  '|---|---|',
  '| `schemaVersion`, `scenario`, `engine`, `kernel` | the format version, the scenario name, `model` or ' +
    '`kernel`, and which |',
  '| `ok` | false when an `expect` step failed |',
  '| `steps[]` | one per step: `index`, `op`, `label`, `ret` (a count, 0, or -errno), `errno` (a name or null), ' +
    '`vmstat` (`nr_foll_pin_acquired` and `nr_foll_pin_released` since the scenario began), `repeat` (when above 1), ' +
    '`why` (`{ fn, rule }`: the kernel function and rule that refused a failed step), `signal` (a `read`/`write` ' +
    'the kernel answers with SIGSEGV or SIGBUS), `failures` (of an `expect`) |',
  '| `steps[]`, by op | `mmap`: `addr`, `length`; `mremap`: `addr`, `moved`; `mlock`, `munlock`: `locked_vm` ' +
    '(pages); `fork`: `pid`, `fork` (`shared`: pages now mapped by both, `copied`: pages copied for the child at ' +
    'once because they may be pinned, `pmd_split`: THP PMDs split first; hugetlb and THP pages counted as base ' +
    'pages); a step whose FOLL_LONGTERM pin migrated pages out of ZONE_MOVABLE or CMA and retried: `migrated` ' +
    '(pages) |',
  '| `steps[].pages[]` (inspect) | `page`, `present`, `pfn`, `refcount`, `mapcount`, `pincount` (null on a small ' +
    'folio: it has no `_pincount`), `order`, `zone`, `mapped_by` (`pte`, `pmd`, `pud`), `writable`, ' +
    '`maybe_dma_pinned`, `false_positive` (maybe_dma_pinned with no pin held), `anon_exclusive`, `zero_page`, ' +
    "`dirty`, `writeback`, `lru`, `mlocked`, `serial` (the model's number for the folio: the same `pfn` with " +
    'another `serial` is a new folio in a frame freed and handed out again; 0 for a folio allocated before the ' +
    'run first inspected a page; null from the live kernel), ' +
    "`refcount_parts`, `data` (the page's contents; null when not present) |",
  '| `steps[].data`, `steps[].value` | contents: `data` is what a read-like step saw, one value per page (`read`, ' +
    '`pread`, `read_disk`, `pipe_read`, `dma_read`, `rdma_read`, `process_vm_readv`); `value` is what a writing ' +
    'step stored. A value is a 32-bit word standing for the bytes of a page. `fsync`, `msync`, `sync`, ' +
    '`writeback` report `written` (pages), `drop_caches` `dropped` (folios) |',
  '| `refcount_parts` | `mappings` (one reference per PTE, PMD or PUD mapping), `page_cache` (one per page ' +
    'while in a file’s cache), `buffers` (one while ext4’s buffer heads are attached to a folio written ' +
    'through the page cache: folio_attach_private()), `holders[]` (`handle`, `type`, `refs`, `pins`, ' +
    '`refcount`: the references they add, a pin counting 1024 on a small folio and 1 on a large one), ' +
    '`lru_batch` (a per-CPU LRU batch: a new folio waits in the lru_add batch, an activated one in the ' +
    'activate batch, until the batch is moved), `unattributed` (the rest, never forced to 0) |',
  '| `steps[].handle`, `steps[].frames[]` (inspect handle) | the holder (`name`, `type`, `process`, `closed`, ' +
    '`pins`, `refs`) and each frame it keeps: `addr`, `pfn`, `pages`, `pins`, `refs`, `mapped_pfn`, ' +
    '`still_mapped` (the process still maps that frame at that address), `data` (per page of the frame: what a ' +
    'device reads there) |',
  '| `steps[].text` | `vmstat` and `dump_page`: the kernel-format text |',
  '| `vmstat` | the pin counters at the end, since the scenario began |',
  '| `pins[]` | what is still held at the end, by owner: `owner`, `type`, `process`, `pins`, `refs` |',
  '| `warnings[]` | WARN records: function, condition, step |',
  '',
  '## Exit codes',
  '',
  '| code | meaning |',
  '|---|---|',
  '| 0 | ok |',
  '| 1 | an `expect` step failed (or, with `--strict`, pins leaked; `diff`: the engines differ; `watch ' +
    '--fail-on-alarm`: an alarm) |',
  '| 2 | bad input: the message names the file, line, step and field |',
  '| 70 | a gupsim bug (GUPSIM_DEBUG=1 shows the stack) |',
];
