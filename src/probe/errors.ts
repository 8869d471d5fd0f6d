// Host-side errors of the live-kernel engine, with stable codes. The CLI turns them into UserErrors
// (exit 2, no stack trace); library users can test `code`.

export type ProbeErrorCode = 'ERR_PROBE_UNSUPPORTED' | 'ERR_PROBE_EPERM' | 'ERR_PROBE_HELPER';

export class ProbeError extends Error {
  constructor(
    readonly code: ProbeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProbeError';
  }
}
