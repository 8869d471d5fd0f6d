// The scenario editor: CodeMirror 6 with YAML, checked as you type by the CLI's own validator
// (scenario/load.ts), each problem at its line.

import { EditorView, basicSetup } from 'codemirror';
import { yaml } from '@codemirror/lang-yaml';
import { linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { loadScenario, ScenarioError } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import { parseProblem, type Problem } from './problems.js';

export const FILE = 'scenario.yaml';

type Validated = { scenario?: Scenario; problems: Problem[] };

/** The last text validated and its result: loading a scenario and the linter check the same text. */
let last: { text: string; result: Validated } | undefined;

/** Validate text: the scenario, or the problems (each with its line). */
export function validate(text: string): Validated {
  if (last?.text === text) return last.result;
  let result: Validated;
  try {
    result = { scenario: loadScenario(text, FILE), problems: [] };
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    result = { problems: e.problems.map((p) => parseProblem(p, FILE)) };
  }
  last = { text, result };
  return result;
}

export interface Editor {
  view: EditorView;
  text(): string;
  setText(text: string): void;
}

/** Mount the editor in `parent`; onChange gets each validated edit (debounced by the linter). */
export function mountEditor(
  parent: HTMLElement,
  initial: string,
  onChange: (text: string, result: ReturnType<typeof validate>) => void,
): Editor {
  const lint = linter(
    (view) => {
      const text = view.state.doc.toString();
      const result = validate(text);
      onChange(text, result);
      return result.problems.map((p): Diagnostic => {
        const line = view.state.doc.line(Math.min(Math.max(p.line ?? 1, 1), view.state.doc.lines));
        return { from: line.from, to: line.to, severity: 'error', message: p.message };
      });
    },
    { delay: 300 },
  );
  const view = new EditorView({
    doc: initial,
    parent,
    extensions: [basicSetup, yaml(), lint, lintGutter(), EditorView.lineWrapping],
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    setText: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
  };
}
