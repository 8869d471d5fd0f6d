// The page's end of a Web Worker (worker.ts): requests as promises, progress as callbacks. A request
// that is superseded (a new build while one runs, a cancelled experiment) ends the worker, the only
// way to stop a computation in it, and a fresh one takes the next request.

import type { Reply, Request } from './protocol.js';

/** Why a request's promise was rejected when a newer one replaced it. */
export class Superseded extends Error {
  constructor() {
    super('superseded by a newer request');
  }
}

type Progress = (done: number, total: number, label: string) => void;

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  progress: Progress | undefined;
}

/** Distributes the request ids of every channel (one sequence, so replies are never confused). */
let seq = 0;

/** A request without its id (the channel gives it one). */
type Ask = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export class WorkerChannel {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();

  /** Whether a request is running. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  private start(): Worker {
    const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'gupsim' });
    w.onmessage = (e: MessageEvent<Reply>) => {
      const m = e.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') return p.progress?.(m.done, m.total, m.label);
      this.pending.delete(m.id);
      if (m.type === 'error') p.reject(new Error(m.message));
      else p.resolve(m);
    };
    w.onerror = (e) => {
      e.preventDefault();
      const err = new Error(`gupsim bug: the worker failed: ${e.message}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.stop();
    };
    this.worker = w;
    return w;
  }

  /** End the worker and reject what is running (with Superseded). */
  stop(): void {
    this.worker?.terminate();
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new Superseded());
    this.pending.clear();
  }

  /** Send a request; its reply (or an Error, Superseded when stopped) settles the promise. */
  ask(req: Ask, progress?: Progress): Promise<Reply> {
    const w = this.worker ?? this.start();
    const id = ++seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, progress });
      w.postMessage({ ...req, id } as Request);
    });
  }
}
