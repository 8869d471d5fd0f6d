// A one-line progress bar on stderr for long CLI runs. Shown only on a TTY, and only once the run is
// known to be long (big up front, or still going after `afterMs`); never in piped or redirected
// output. Writes to a TTY are synchronous on Linux, so it can be redrawn from inside a synchronous
// model loop.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export interface ProgressOptions {
  /** Show from the start (e.g. the run is known to be big). */
  big?: boolean;
  /** Otherwise show once the run has taken this long (ms). */
  afterMs?: number;
  /** Redraw at most this often (ms). */
  intervalMs?: number;
  now?: () => number;
}

export class Progress {
  private readonly enabled: boolean;
  private readonly start: number;
  private last = -Infinity;
  private shown = false;
  private readonly now: () => number;

  constructor(
    private readonly stream: ProgressStream,
    private readonly o: ProgressOptions = {},
  ) {
    this.enabled = stream.isTTY === true;
    this.now = o.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Declare the run big (show the bar from now on) once that is known. */
  setBig(big: boolean): void {
    this.o.big = big;
  }

  /** Report `done` of `total` for the phase `label`; redraws when due. */
  update(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    const t = this.now();
    if (!this.shown && !this.o.big && t - this.start < (this.o.afterMs ?? 1000)) return;
    if (t - this.last < (this.o.intervalMs ?? 100)) return;
    this.last = t;
    this.shown = true;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = Math.max(10, Math.min(40, (this.stream.columns || 80) - label.length - 12));
    const fill = Math.round(frac * width);
    this.stream.write(
      `\r\x1b[K[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ` +
        `${String(Math.floor(frac * 100)).padStart(3)}% ${label}`,
    );
  }

  /** Erase the bar (before other output, and at the end). */
  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
    this.last = -Infinity;
  }
}
