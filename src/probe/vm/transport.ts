// The helper inside a VM, as a HelperTransport (helper.ts): its channels are the serial mux's,
// killing it kills the VM, and a helper that stops answering is explained by the VM's console
// (a kernel panic, qemu gone). Closing it asks the supervisor to quit; the guest then starts a
// fresh one, so the same VM can serve another scenario.

import { ProbeError } from '../errors.js';
import type { HelperLink, HelperTransport } from '../helper.js';
import type { Vm } from './qemu.js';

export class VmTransport implements HelperTransport {
  constructor(readonly vm: Vm) {}

  get dead(): boolean {
    return !this.vm.running;
  }

  async start(slots: number): Promise<{ supervisor: HelperLink; channels: HelperLink[] }> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.vm.mux.ready(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 10_000);
      }),
    ]);
    clearTimeout(timer);
    const g = this.vm.mux.generation();
    if (!g) throw new ProbeError('ERR_PROBE_HELPER', this.failure() ?? "the VM's helper is not ready");
    if (g.channels.length < slots)
      throw new ProbeError('ERR_PROBE_HELPER', `the VM's helper has ${g.channels.length} channels, not ${slots}`);
    return { supervisor: g.supervisor, channels: g.channels.slice(0, slots) };
  }

  kill(): void {
    this.vm.kill();
  }

  async close(supervisor: HelperLink | undefined): Promise<void> {
    if (!supervisor || !this.vm.running) return;
    const exited = this.vm.mux.exited();
    supervisor.send('quit');
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 5000);
      }),
    ]);
    clearTimeout(timer);
    // A supervisor that does not quit leaves the VM in an unknown state: it is not reused.
    if (!done) this.vm.kill();
  }

  failure(): string | undefined {
    return this.vm.failure();
  }

  /** A helper that stopped answering: give qemu a moment to exit and the console to show why. */
  async explain(): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.vm.gone(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 3000);
      }),
    ]);
    clearTimeout(timer);
    return this.vm.failure();
  }
}
