// Parse and validate a scenario (YAML or JSON text). Every problem is reported with the file, line,
// step index and field, as a ScenarioError; nothing here touches the file system.

import { parseDocument, LineCounter, isMap, isSeq, type Node, type Document } from 'yaml';
import type { z } from 'zod';
import {
  ScenarioSchema,
  MachineSchema,
  ProcessSchema,
  StepSchema,
  STEP_OPS,
  type Scenario,
  type Step,
} from './schema.js';
import { suggestion } from './suggest.js';

export class ScenarioError extends Error {
  readonly code = 'ERR_SCENARIO_INVALID';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ScenarioError';
  }
}

type PathKey = string | number;

/** The node at a path, or the closest ancestor that exists. */
function nodeAt(doc: Document, path: PathKey[]): { node: Node | undefined; exact: boolean } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
    if (node && typeof node === 'object' && 'range' in node && node.range) return { node, exact: n === path.length };
  }
  return { node: undefined, exact: false };
}

/** The line of a key inside a map (for "unknown field" errors). */
function keyLine(doc: Document, path: PathKey[], key: string, lc: LineCounter): number | undefined {
  const map = doc.getIn(path, true);
  if (!isMap(map)) return undefined;
  for (const item of map.items) {
    const k = item.key as Node | null;
    if (k && 'value' in k && (k as { value: unknown }).value === key && k.range) return lc.linePos(k.range[0]).line;
  }
  return undefined;
}

function where(file: string, line: number | undefined): string {
  return line ? `${file}:${line}` : file;
}

function describePath(path: PathKey[], stepOps: (string | undefined)[]): { prefix: string; field: string } {
  if (path[0] === 'steps' && typeof path[1] === 'number') {
    const i = path[1];
    const op = stepOps[i];
    const field = path.slice(2).join('.');
    return { prefix: `step ${i}${op ? ` (${op})` : ''}`, field };
  }
  return { prefix: '', field: path.join('.') };
}

/** Parse text into a validated scenario; throws ScenarioError listing every problem found. */
export function loadScenario(text: string, file = '<scenario>'): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ScenarioError(
      doc.errors.map((e) => `${where(file, lc.linePos(e.pos[0]).line)}: ${e.message.split('\n')[0]}`),
    );
  }
  const raw = doc.toJS() as unknown;
  const stepsNode = doc.get('steps', true);
  const stepOps: (string | undefined)[] = isSeq(stepsNode)
    ? stepsNode.items.map((it) => (isMap(it) ? String(it.get('op') ?? '') || undefined : undefined))
    : [];
  const parsed = ScenarioSchema.safeParse(raw);
  if (!parsed.success) throw new ScenarioError(formatIssues(parsed.error.issues, doc, lc, file, stepOps));
  const sc = parsed.data;
  const semantic = checkReferences(sc.steps);
  if (semantic.length) {
    throw new ScenarioError(
      semantic.map(({ index, field, message }) => {
        const line = nodeAt(doc, ['steps', index, field]).node?.range?.[0];
        const { prefix } = describePath(['steps', index], stepOps);
        return (
          `${where(file, line !== undefined ? lc.linePos(line).line : undefined)}: ${prefix}: field ` +
          `"${field}": ${message}`
        );
      }),
    );
  }
  return sc;
}

function formatIssues(
  issues: z.core.$ZodIssue[],
  doc: Document,
  lc: LineCounter,
  file: string,
  stepOps: (string | undefined)[],
): string[] {
  const out: string[] = [];
  for (const is of issues) {
    const path = is.path as PathKey[];
    const { prefix, field } = describePath(path, stepOps);
    const head = prefix ? `${prefix}: ` : '';
    if (is.code === 'unrecognized_keys') {
      for (const key of is.keys) {
        const line = keyLine(doc, path, key, lc);
        const f = [field, key].filter(Boolean).join('.');
        out.push(`${where(file, line)}: ${head}unknown field "${f}"${suggestion(key, knownKeys(path, stepOps))}`);
      }
      continue;
    }
    const { node } = nodeAt(doc, path);
    const line = node?.range ? lc.linePos(node.range[0]).line : undefined;
    let msg = is.message;
    if (is.code === 'invalid_union' && path[path.length - 1] === 'op') {
      const got = stepOps[path[1] as number];
      msg = got
        ? `unknown op "${got}"${suggestion(got, STEP_OPS)} (known ops: ${STEP_OPS.join(', ')})`
        : 'missing "op"';
      out.push(`${where(file, line)}: ${head}${msg}`);
      continue;
    }
    if (is.code === 'invalid_type' && /received undefined/.test(is.message)) msg = 'required field is missing';
    out.push(`${where(file, line)}: ${head}field "${field}": ${msg}`);
  }
  return out;
}

/** The fields a map at `path` may have, for "did you mean". */
function knownKeys(path: PathKey[], stepOps: (string | undefined)[]): string[] {
  if (path.length === 0) return Object.keys(ScenarioSchema.shape);
  if (path.length === 1 && path[0] === 'machine') return Object.keys(MachineSchema.shape);
  if (path.length === 2 && path[0] === 'processes') return Object.keys(ProcessSchema.shape);
  if (path.length === 2 && path[0] === 'steps') {
    const op = stepOps[path[1] as number];
    return Object.keys(StepSchema.options.find((o) => o.shape.op.value === op)?.shape ?? {});
  }
  return [];
}

/**
 * Names must be defined before use: regions by mmap, files by create_file, rings/MRs/handles by the
 * step that creates them. Processes are created on first use.
 */
function checkReferences(steps: Step[]): Array<{ index: number; field: string; message: string }> {
  const regions = new Set<string>();
  const files = new Set<string>();
  const handles = new Map<string, string>(); // name -> kind
  const labels = new Set<string>();
  const errs: Array<{ index: number; field: string; message: string }> = [];
  const need = (
    set: Set<string> | Map<string, string>,
    v: string | undefined,
    index: number,
    field: string,
    what: string,
  ) => {
    if (v !== undefined && !set.has(v))
      errs.push({ index, field, message: `unknown ${what} "${v}" (define it in an earlier step)` });
  };
  steps.forEach((s, index) => {
    const r = s as Record<string, unknown>;
    if (typeof r.region === 'string') need(regions, r.region, index, 'region', 'region');
    if (Array.isArray(r.regions)) for (const x of r.regions as string[]) need(regions, x, index, 'regions', 'region');
    if (typeof r.local === 'string') need(regions, r.local, index, 'local', 'region');
    if (s.op === 'mmap' && s.file) need(files, s.file, index, 'file', 'file');
    if (s.op === 'odirect_read' || s.op === 'odirect_write') need(files, s.file, index, 'file', 'file');
    if (s.op === 'io_uring_register_buffers' && !s.region && !s.regions)
      errs.push({ index, field: 'region', message: 'give region or regions' });
    if (s.op === 'mmap' && s.type === 'file' && !s.file)
      errs.push({ index, field: 'file', message: 'type file needs a file (create_file first)' });
    const kindOf: Record<string, [string, string]> = {
      io_uring_unregister_buffers: ['ring', 'ring'],
      rdma_dereg_mr: ['mr', 'mr'],
      vfio_unmap_dma: ['dma', 'dma'],
      unpin_user_pages: ['pins', 'pin handle'],
      unpin_user_pages_dirty_lock: ['pins', 'pin handle'],
      unpin_user_page: ['pins', 'pin handle'],
      put_page: ['pins', 'pin handle'],
      close: ['handle', 'handle'],
    };
    const k = kindOf[s.op];
    if (k) need(handles, r[k[0]] as string, index, k[0], k[1]);
    if (s.op === 'expect' && typeof s.step === 'string') need(labels, s.step, index, 'step', 'step label');
    if (s.op === 'expect' && typeof s.step === 'number' && s.step >= index)
      errs.push({ index, field: 'step', message: `step ${s.step} has not run yet` });
    if (s.op === 'mmap') regions.add(s.as);
    if (s.op === 'create_file') files.add(s.as);
    if ('as' in s && typeof s.as === 'string' && s.op !== 'mmap' && s.op !== 'create_file') handles.set(s.as, s.op);
    if (s.label) labels.add(s.label);
  });
  return errs;
}
