// How the VM engine reports what it is doing while it downloads, builds and boots (the CLI draws it
// on stderr: a bar on a TTY, plain lines otherwise). A library caller may pass nothing: silence.

export interface VmProgress {
  /** A new phase began ("downloading Linux 6.12 packages (4, 230 MB)"). */
  phase(text: string): void;
  /** Progress within the current phase. */
  update(done: number, total: number): void;
  /** The phase ended (erase the bar). */
  end(): void;
}

export const SILENT: VmProgress = { phase() {}, update() {}, end() {} };
