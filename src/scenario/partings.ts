// Where holders and their process part, read from a built timeline (timeline.ts): after fork + COW,
// MADV_DONTNEED, munmap or migration, some frames a holder keeps are no longer mapped by its process.
// Its own module, importing no model code, so the playground's page can import compact.ts (which
// uses it) without loading the model.

import type { HolderView, Timeline } from './timeline.js';

/**
 * Where holders and their process part: the steps after which a holder's frames that its process
 * mapped are no longer all mapped by it (fork + COW, MADV_DONTNEED, munmap, migration), with how many.
 */
export function partings(t: Timeline): Array<{ step: number; holder: string; parted: number; op: string }> {
  const out: Array<{ step: number; holder: string; parted: number; op: string }> = [];
  const before = new Map<string, HolderView>();
  for (const s of t.steps) {
    for (const h of s.holders) {
      const prev = before.get(h.name);
      if (prev?.frames && h.frames && h.frames.length === prev.frames.length && h.attached < prev.attached)
        out.push({
          step: s.index,
          holder: h.name,
          parted: prev.attached - h.attached,
          op: t.result.steps[s.index]?.op ?? '',
        });
      before.set(h.name, h);
    }
  }
  return out;
}
