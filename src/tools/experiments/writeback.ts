// Experiment 5 (pending): case 5 of pin_user_pages.rst and its writeback TODO. It needs page contents
// (a value per page, device writes through a pin) and writeback with its policies, which arrive with a
// later issue; until then it is listed, with its question and the comparison it will make, and not run.
// The framework's comparisonTable() (report.ts) is the multi-policy table it will fill: one row per
// policy, one column per measure.

import { defineExperiment } from './types.js';

/** The policies the experiment will compare on one workload (the list). */
export const WRITEBACK_POLICIES = [
  'Linux 6.18 as it is (refuses long-term writable pins of dirty-tracked files)',
  'skip writeback of folios folio_maybe_dma_pinned() reports',
  'bounce: write back a copy, keep the folio dirty',
  'wait for the pin to drop (stable pages)',
] as const;

/** The measures, with which way is better, for comparisonTable(). */
export const WRITEBACK_MEASURES = [
  { label: 'device writes lost', better: 'lower' as const },
  { label: 'time the disk stays stale', better: 'lower' as const },
  { label: 'extra copies', better: 'lower' as const },
  { label: 'sync calls blocked', better: 'lower' as const },
  { label: 'bounces from false positives', better: 'lower' as const },
];

export const writeback = defineExperiment<never, never>({
  number: 5,
  name: 'writeback',
  title: 'Case 5 and the writeback TODO',
  question:
    'A file-backed buffer pinned short- and long-term, written by a device at random times, with periodic ' +
    'writeback and reclaim, released right (unpin_user_pages_dirty_lock) or wrong (put_page): what should ' +
    `writeback do with a folio folio_maybe_dma_pinned() reports? Policies: ${WRITEBACK_POLICIES.join('; ')}.`,
  claims: [
    {
      section: 'folio_maybe_dma_pinned(): the whole point of pinning',
      quote:
        'What to do in those cases is the subject of a years-long series of discussions and debates (see the ' +
        "References at the end of this document). It's a TODO item here: fill in the details once that's worked out.",
    },
  ],
  pending:
    'needs page contents (a value per page, device writes through a pin) and writeback with its policies, ' +
    'which a later issue adds to the model',
  shards: () => [],
  runShard: () => {
    throw new Error('gupsim bug: experiment 5 is pending and has no shards');
  },
  report: () => {
    throw new Error('gupsim bug: experiment 5 is pending and has no report');
  },
});
