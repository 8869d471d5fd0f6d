// The error of an invalid scenario: every problem with its file, line, step and field. Its own module
// so the runner (run.ts), which throws it too, does not bring the loader (yaml, zod) into the
// playground's worker.

export class ScenarioError extends Error {
  readonly code = 'ERR_SCENARIO_INVALID';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ScenarioError';
  }
}
