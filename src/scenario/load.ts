// Parse and validate a scenario (YAML or JSON text). Every problem is reported with the file, line,
// step index and field, as a ScenarioError; nothing here touches the file system.

import { parseDocument, LineCounter, isMap, isSeq, type Node, type Document } from 'yaml';
import type { z } from 'zod';
import { ScenarioSchema, StepSchema, STEP_OPS, type Scenario } from './schema.js';
import { checkReferences, didYouMean } from './references.js';
import { ScenarioError } from './error.js';

export { didYouMean };

// Its callers catch it from here: the loader is where scenarios are found invalid.
export { ScenarioError };

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

/** The fields a step of this op may have. */
function stepFields(op: string | undefined): string[] {
  const o = StepSchema.options.find((x) => x.shape.op.value === op);
  return o ? Object.keys(o.shape) : [];
}

/** The known keys of the object at a path (a step, the machine, a process, the top level). */
function knownKeys(path: PathKey[], stepOps: (string | undefined)[]): string[] {
  if (path[0] === 'steps' && typeof path[1] === 'number' && path.length === 2) return stepFields(stepOps[path[1]]);
  if (path.length === 0) return Object.keys(ScenarioSchema.shape);
  if (path[0] === 'machine' && path.length === 1) return Object.keys(ScenarioSchema.shape.machine.unwrap().shape);
  if (path[0] === 'processes' && path.length === 2) return ['root', 'memlock', 'user'];
  return [];
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
  if (raw === null || raw === undefined || (typeof raw === 'string' && !raw.trim()))
    throw new ScenarioError([`${file}: empty scenario (a scenario is a YAML mapping with steps:)`]);
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ScenarioError([
      `${file}:1: a scenario is a YAML mapping (name:, machine:, steps: ...), not a ` +
        (Array.isArray(raw) ? 'list' : typeof raw),
    ]);
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
        out.push(`${where(file, line)}: ${head}unknown field "${f}"${didYouMean(key, knownKeys(path, stepOps))}`);
      }
      continue;
    }
    const { node } = nodeAt(doc, path);
    const line = node?.range ? lc.linePos(node.range[0]).line : undefined;
    let msg = is.message;
    if (is.code === 'invalid_union' && path[path.length - 1] === 'op') {
      const got = stepOps[path[1] as number];
      const hint = got ? didYouMean(got, STEP_OPS) : '';
      msg = got ? `unknown op "${got}"${hint || ` (known ops: ${STEP_OPS.join(', ')})`}` : 'missing "op"';
      out.push(`${where(file, line)}: ${head}${msg}`);
      continue;
    }
    if (is.code === 'invalid_type' && /received undefined/.test(is.message)) msg = 'required field is missing';
    if (is.code === 'invalid_value' && 'values' in is) {
      const got = doc.getIn(path);
      const known = (is.values as unknown[]).map(String);
      if (typeof got === 'string') msg = `"${got}" is not one of ${known.join(', ')}${didYouMean(got, known)}`;
    }
    out.push(`${where(file, line)}: ${head}field "${field}": ${msg}`);
  }
  return out;
}
