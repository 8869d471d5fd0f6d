// The validator's messages (scenario/load.ts ScenarioError: "file:line: step i (op): field ...") as
// editor diagnostics: the line each names, and the text without the file prefix.

export interface Problem {
  /** 1-based line, or undefined when the message names none. */
  line: number | undefined;
  message: string;
}

/** Split "file:line: text" (or "file: text") into its line and text. */
export function parseProblem(text: string, file: string): Problem {
  if (text.startsWith(file + ':')) {
    const rest = text.slice(file.length + 1);
    const m = /^(\d+): ([\s\S]*)$/.exec(rest);
    if (m) return { line: Number(m[1]), message: m[2]! };
    return { line: undefined, message: rest.replace(/^ /, '') };
  }
  return { line: undefined, message: text };
}
