/**
 * Time, injected. Everything in the broker that waits (keepalive, will delay, session
 * and message expiry, $SYS) asks a Clock, so tests drive time instead of sleeping.
 */
export interface Clock {
  /** Monotonic milliseconds (immune to wall-clock changes); for deadlines. */
  now(): number;
  /** Wall-clock Unix time in seconds; for $SYS and log timestamps. */
  wallSeconds(): number;
  /** Calls `callback` after `ms` milliseconds; returns a handle for cancel(). */
  setTimer(callback: () => void, ms: number): TimerHandle;
  cancel(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: number;
}

class SystemTimer implements TimerHandle {
  readonly id: number;
  /** The current leg: replaced while a wait longer than MAX_TIMEOUT_MS is chained. */
  timeout: NodeJS.Timeout | undefined;
  constructor(id: number) {
    this.id = id;
  }
}

let nextTimerId = 1;

/**
 * The longest delay setTimeout honours (2^31 - 1 ms, 24.8 days). Node fires a longer one
 * after 1 ms (with a TimeoutOverflowWarning), so a session with a Session Expiry Interval
 * of, say, 999999999 s expired at once and lost its queued messages (paho's
 * test_publication_expiry). Longer waits are chained in legs of at most this.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The real clock: performance.now() and Date.now(), timers from setTimeout (unref'd). */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallSeconds: () => Math.floor(Date.now() / 1000),
  setTimer(callback, ms) {
    const timer = new SystemTimer(nextTimerId++);
    const deadline = performance.now() + ms;
    const arm = (wait: number): void => {
      timer.timeout =
        wait > MAX_TIMEOUT_MS
          ? setTimeout(() => {
              arm(deadline - performance.now());
            }, MAX_TIMEOUT_MS)
          : setTimeout(callback, wait);
      timer.timeout.unref();
    };
    arm(ms);
    return timer;
  },
  cancel(handle) {
    if (handle instanceof SystemTimer) clearTimeout(handle.timeout);
  },
};

/**
 * A clock that moves only when told: `advance(ms)` fires every timer due by then, in
 * deadline order. For tests of keepalive, expiry and will delay.
 */
export class ManualClock implements Clock {
  #now: number;
  #wallOffsetSeconds: number;
  #timers = new Map<number, { due: number; callback: () => void }>();

  constructor(startMs = 0, wallSeconds = 1_700_000_000) {
    this.#now = startMs;
    this.#wallOffsetSeconds = wallSeconds;
  }

  now(): number {
    return this.#now;
  }

  wallSeconds(): number {
    return this.#wallOffsetSeconds + Math.floor(this.#now / 1000);
  }

  setTimer(callback: () => void, ms: number): TimerHandle {
    const id = nextTimerId++;
    this.#timers.set(id, { due: this.#now + ms, callback });
    return { id };
  }

  cancel(handle: TimerHandle): void {
    this.#timers.delete(handle.id);
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextDue = Infinity;
      for (const [id, timer] of this.#timers) {
        if (timer.due <= target && timer.due < nextDue) {
          nextDue = timer.due;
          nextId = id;
        }
      }
      if (nextId === -1) break;
      const timer = this.#timers.get(nextId);
      this.#timers.delete(nextId);
      this.#now = nextDue;
      timer?.callback();
    }
    this.#now = target;
  }
}
