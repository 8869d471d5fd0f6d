// Host-side errors with stable codes: the CLI prints the message (never a stack) and exits non-zero.

export type ErrorCode =
  'ERR_SCENARIO_INVALID' | 'ERR_USAGE' | 'ERR_IO' | 'ERR_PROBE_EPERM' | 'ERR_PROBE_UNSUPPORTED' | 'ERR_PROBE_HELPER';

export class UserError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
