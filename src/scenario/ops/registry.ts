// Step handlers for the consumers that live in their own modules (process_vm, vmsplice, RDMA, VFIO,
// HMM): each module adds its entries here.

import type { RunContext, Outcome } from '../context.js';
import { moreConsumerOps } from './more_consumers.js';
import { dataOps } from './data.js';

export const extraConsumerOps: Record<string, (ctx: RunContext, s: never) => Outcome> = {
  ...(moreConsumerOps as Record<string, (ctx: RunContext, s: never) => Outcome>),
  ...(dataOps as Record<string, (ctx: RunContext, s: never) => Outcome>),
};
