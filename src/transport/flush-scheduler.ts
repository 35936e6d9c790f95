/**
 * Coalesces writes: anything that produced output during this event-loop turn is
 * flushed once, from a single setImmediate, so a connection receiving many messages in
 * one turn costs one system call instead of one per message.
 */

export interface Flushable {
  /** Set by the scheduler while the flushable waits for the next flush. */
  flushQueued: boolean;
  flush(): void;
}

function runScheduledFlush(scheduler: FlushScheduler): void {
  scheduler.flushNow();
}

export class FlushScheduler {
  #dirty: Flushable[] = [];
  #spare: Flushable[] = [];
  #scheduled = false;

  markDirty(target: Flushable): void {
    if (target.flushQueued) return;
    target.flushQueued = true;
    this.#dirty.push(target);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(runScheduledFlush, this);
    }
  }

  /** Flushes everything marked dirty so far (also used at shutdown). */
  flushNow(): void {
    this.#scheduled = false;
    const batch = this.#dirty;
    this.#dirty = this.#spare;
    for (let i = 0; i < batch.length; i++) {
      const target = batch[i];
      if (target === undefined) continue;
      target.flushQueued = false;
      target.flush();
    }
    batch.length = 0;
    this.#spare = batch;
  }
}
