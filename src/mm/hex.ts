// How gupsim's messages show a number in hex (PFNs, addresses, flags): "0x" and lowercase digits, as
// the kernel's "%#x" shows any number but 0. (dump_page()'s own format is in debug.ts.)

/** n as 0x followed by its lowercase hex digits. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
