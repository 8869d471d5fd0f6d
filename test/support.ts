// Helpers the unit tests share: a machine with one process, checked fork, and the pin counters.
import { Machine, type MachineConfig } from '../src/mm/machine.js';
import { type Process } from '../src/mm/task.js';
import { kernel_clone } from '../src/kernel/fork.js';

/** A 1 GiB machine (unless cfg says otherwise) with one process, `app`. */
export function world(cfg: Partial<MachineConfig> = {}): { m: Machine; p: Process } {
  const m = new Machine({ memory: 1 << 30, ...cfg });
  return { m, p: m.spawn('app') };
}

/** nr_foll_pin_acquired / nr_foll_pin_released as an object. */
export const pins = (m: Machine) => ({
  acquired: m.vmstat.get('nr_foll_pin_acquired'),
  released: m.vmstat.get('nr_foll_pin_released'),
});

/** The same counters as a pair. */
export function pinCounters(m: Machine): [number, number] {
  return [m.vmstat.get('nr_foll_pin_acquired'), m.vmstat.get('nr_foll_pin_released')];
}

/** kernel_clone() that must succeed. */
export function fork(m: Machine, p: Process, name = 'child'): Process {
  const c = kernel_clone(m, p, name);
  if (typeof c === 'number') throw new Error(`fork failed: ${c}`);
  return c;
}
