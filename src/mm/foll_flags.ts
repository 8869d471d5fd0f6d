// Models the FOLL_* flags: the public enum of include/linux/mm_types.h and the internal ones of
// mm/internal.h. Inside the model a flag is its 6.18 bit (FOLL_MIGRATION, which only 6.1 has, gets a
// bit 6.18 leaves free); the values a release's headers give are the profile's table (profile.ts),
// used where users write or read numbers.

import type { KernelProfile } from './profile.js';
import { DEFAULT_PROFILE } from './profile.js';

export const FOLL_WRITE = 1 << 0;
export const FOLL_GET = 1 << 1;
export const FOLL_DUMP = 1 << 2;
export const FOLL_FORCE = 1 << 3;
export const FOLL_NOWAIT = 1 << 4;
export const FOLL_NOFAULT = 1 << 5;
export const FOLL_HWPOISON = 1 << 6;
export const FOLL_ANON = 1 << 7;
export const FOLL_LONGTERM = 1 << 8;
export const FOLL_SPLIT_PMD = 1 << 9;
export const FOLL_PCI_P2PDMA = 1 << 10;
export const FOLL_INTERRUPTIBLE = 1 << 11;
export const FOLL_HONOR_NUMA_FAULT = 1 << 12;
/** 6.1 only: wait for a migration entry instead of faulting (follow_page_pte()). */
export const FOLL_MIGRATION = 1 << 13;

// mm/internal.h: callers outside mm/ may not pass these.
export const FOLL_TOUCH = 1 << 16;
export const FOLL_TRIED = 1 << 17;
export const FOLL_REMOTE = 1 << 18;
export const FOLL_PIN = 1 << 19;
export const FOLL_FAST_ONLY = 1 << 20;
export const FOLL_UNLOCKABLE = 1 << 21;
export const FOLL_MADV_POPULATE = 1 << 22;

export const INTERNAL_GUP_FLAGS =
  FOLL_TOUCH | FOLL_TRIED | FOLL_REMOTE | FOLL_PIN | FOLL_FAST_ONLY | FOLL_UNLOCKABLE | FOLL_MADV_POPULATE;

export const FOLL_NAMES: Record<string, number> = {
  FOLL_WRITE,
  FOLL_GET,
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_NOWAIT,
  FOLL_NOFAULT,
  FOLL_HWPOISON,
  FOLL_ANON,
  FOLL_LONGTERM,
  FOLL_SPLIT_PMD,
  FOLL_PCI_P2PDMA,
  FOLL_INTERRUPTIBLE,
  FOLL_HONOR_NUMA_FAULT,
  FOLL_MIGRATION,
  FOLL_TOUCH,
  FOLL_TRIED,
  FOLL_REMOTE,
  FOLL_PIN,
  FOLL_FAST_ONLY,
  FOLL_UNLOCKABLE,
  FOLL_MADV_POPULATE,
};

/**
 * Parse a list of flag names (e.g. ['FOLL_WRITE', 'FOLL_LONGTERM']) or a number in the release's
 * values into the model's mask. A name the release does not have is a RangeError.
 */
export function parseFollFlags(flags: readonly string[] | number, profile: KernelProfile = DEFAULT_PROFILE): number {
  if (typeof flags === 'number') return follFromRelease(profile, flags);
  let mask = 0;
  for (const name of flags) {
    const key = (name.startsWith('FOLL_') ? name : `FOLL_${name}`).toUpperCase();
    const v = FOLL_NAMES[key];
    if (v === undefined) throw new RangeError(`unknown GUP flag ${name}`);
    if (profile.follFlags[key] === undefined) throw new RangeError(`${key} does not exist in Linux ${profile.release}`);
    mask |= v;
  }
  return mask >>> 0;
}

/**
 * Bits of a number that are no FOLL_* flag of the release: the kernel ignores them on the slow path
 * and GUP-fast refuses them (its allowed-flags check), so the model keeps them as this one bit,
 * which no flag uses.
 */
export const FOLL_UNDEFINED_BITS = 1 << 30;

/** A number in the release's FOLL_* values -> the model's mask. */
export function follFromRelease(profile: KernelProfile, value: number): number {
  let rest = value >>> 0;
  let mask = 0;
  for (const [name, v] of Object.entries(profile.follFlags)) {
    if (!(rest & v)) continue;
    mask |= FOLL_NAMES[name]!;
    rest &= ~v;
  }
  if (rest) mask |= FOLL_UNDEFINED_BITS;
  return mask >>> 0;
}

/** The model's mask -> the number the release's headers give for it (flags it lacks are dropped). */
export function follToRelease(profile: KernelProfile, mask: number): number {
  let out = 0;
  for (const [name, v] of Object.entries(profile.follFlags)) if (mask & FOLL_NAMES[name]!) out |= v;
  return out >>> 0;
}

/** Render a mask as 'FOLL_WRITE|FOLL_LONGTERM'. */
export function follFlagsToString(mask: number): string {
  const out: string[] = [];
  for (const [name, v] of Object.entries(FOLL_NAMES)) if (mask & v) out.push(name);
  return out.length ? out.join('|') : '0';
}
