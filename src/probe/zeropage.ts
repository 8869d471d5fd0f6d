// The shared zero page on the kernel under the probe. A read fault of private anonymous memory maps
// it (mm/memory.c do_anonymous_page()) unless mm_forbids_zeropage() holds: s390 KVM guests upstream,
// and kernels built or booted to forbid it (a host may, with an option of its own). The probe sees
// which (helper.c `zeropage`), and the model follows: a scenario that leaves machine.zero_page out is
// run on the model as the kernel does it; one that names it is not compared on a kernel that differs.

import { readFileSync } from 'node:fs';
import type { Scenario } from '../scenario/schema.js';
import type { Helper } from './helper.js';

/** Whether a read fault maps the zero page here; undefined when the probe cannot see it (no root). */
export async function measureZeroPage(helper: Helper): Promise<boolean | undefined> {
  const r = await helper.supervisorCommand('zeropage');
  return r.ret === 0 && typeof r.zero_page === 'boolean' ? r.zero_page : undefined;
}

/** Why the scenario cannot be compared on a kernel that does (or does not) map the zero page. */
export function zeroPageMismatch(sc: Scenario, kernelMapsIt: boolean | undefined): string | undefined {
  const want = sc.machine?.zero_page;
  if (want === undefined || kernelMapsIt === undefined || want === kernelMapsIt) return undefined;
  return want
    ? 'machine.zero_page: true cannot be had: read faults on this kernel do not map the zero page ' +
        '(mm_forbids_zeropage())'
    : 'machine.zero_page: false cannot be had: read faults on this kernel map the zero page';
}

/** The scenario as the model must run it to be compared with a kernel that forbids the zero page. */
export function withKernelZeroPage(sc: Scenario, kernelMapsIt: boolean | undefined): Scenario | undefined {
  if (kernelMapsIt !== false || sc.machine?.zero_page !== undefined) return undefined;
  return { ...sc, machine: { ...sc.machine, zero_page: false } };
}

/** Words of a kernel command line that speak of the zero page (a host's own option, if any). */
export function zeroPageOptions(cmdline: string): string[] {
  return cmdline.split(/\s+/).filter((w) => /zero_?page/i.test(w));
}

/** The host kernel's command line ('' where it cannot be read). */
export function hostCmdline(): string {
  try {
    return readFileSync('/proc/cmdline', 'utf8');
  } catch {
    return '';
  }
}
