/**
 * An unbounded push queue read as an AsyncIterable: the client pushes received messages
 * synchronously as packets are decoded, a `for await` loop pulls them. Ending the queue
 * finishes pending and later reads; failing it makes them throw (after the buffered
 * messages have been read, so nothing received is lost). An AbortSignal ends one reader
 * early without ending the queue for others.
 */

const noop = (): void => undefined;

interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: unknown): void;
}

export class MessageQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private readonly waiters: Waiter<T>[] = [];
  private done = false;
  private failure: unknown = null;
  private readonly onEnd: (() => void) | null;

  /** `onEnd` runs once when the queue ends (by end(), fail() or its reader leaving). */
  constructor(onEnd: (() => void) | null = null) {
    this.onEnd = onEnd;
  }

  get ended(): boolean {
    return this.done;
  }

  /** Messages buffered and not yet read. */
  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.done) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve({ value: item, done: false });
    else this.items.push(item);
  }

  /** No more messages: readers finish once the buffer is drained. */
  end(): void {
    this.finish(null);
  }

  /** Readers get `error` once the buffer is drained. */
  fail(error: unknown): void {
    this.finish(error);
  }

  private finish(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    for (const waiter of this.waiters.splice(0)) {
      if (error === null) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(error);
    }
    this.onEnd?.();
  }

  /** The next item, or a waiter that `cancel` withdraws (so no item goes to a gone reader). */
  private take(): { promise: Promise<IteratorResult<T>>; cancel: () => void } {
    if (this.head < this.items.length) {
      const value = this.items[this.head] as T;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      return { promise: Promise.resolve({ value, done: false }), cancel: noop };
    }
    if (this.done) {
      const promise: Promise<IteratorResult<T>> =
        this.failure === null
          ? Promise.resolve({ value: undefined, done: true })
          : Promise.reject(
              this.failure instanceof Error ? this.failure : new Error('message queue failed'),
            );
      return { promise, cancel: noop };
    }
    let waiter: Waiter<T> | null = null;
    const promise = new Promise<IteratorResult<T>>((resolve, reject) => {
      waiter = { resolve, reject };
      this.waiters.push(waiter);
    });
    const cancel = (): void => {
      const index = waiter === null ? -1 : this.waiters.indexOf(waiter);
      if (index >= 0) this.waiters.splice(index, 1);
      waiter?.resolve({ value: undefined, done: true });
    };
    return { promise, cancel };
  }

  /** An iterator that stops (without ending the queue for other readers) when `signal` aborts. */
  iterate(signal?: AbortSignal): AsyncIterator<T> {
    let stopped = false;
    let cancelPending = noop;
    const onAbort = (): void => {
      stopped = true;
      cancelPending();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const stop = (): void => {
      stopped = true;
      signal?.removeEventListener('abort', onAbort);
    };
    return {
      next: (): Promise<IteratorResult<T>> => {
        if (stopped || signal?.aborted === true) {
          stop();
          return Promise.resolve({ value: undefined, done: true });
        }
        const { promise, cancel } = this.take();
        cancelPending = cancel;
        return promise;
      },
      return: (): Promise<IteratorResult<T>> => {
        stop();
        cancelPending();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.iterate();
  }
}
