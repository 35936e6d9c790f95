/**
 * Wills waiting out their Will Delay Interval (will_delay.c). A will is published when
 * its delay runs out, at once when the session expires first or the broker stops, and
 * never when the client reconnects in time [MQTT-3.1.3-9]. Kept apart from the session,
 * so a session that ends with its connection (expiry 0) can still have a delayed will,
 * as in Mosquitto.
 */
import type { Clock, TimerHandle } from '../common/clock.ts';
import type { StoredMessage } from './messages/stored-message.ts';

interface DelayedWill {
  readonly message: StoredMessage;
  readonly timer: TimerHandle;
}

export class DelayedWills {
  readonly #clock: Clock;
  readonly #publish: (message: StoredMessage) => void;
  readonly #pending = new Map<string, DelayedWill>();

  constructor(clock: Clock, publish: (message: StoredMessage) => void) {
    this.#clock = clock;
    this.#publish = publish;
  }

  get size(): number {
    return this.#pending.size;
  }

  schedule(clientId: string, message: StoredMessage, delaySeconds: number): void {
    this.cancel(clientId);
    const timer = this.#clock.setTimer(() => {
      if (this.#pending.get(clientId)?.message !== message) return;
      this.#pending.delete(clientId);
      this.#publish(message);
    }, delaySeconds * 1000);
    this.#pending.set(clientId, { message, timer });
  }

  /** The client came back in time: the will is dropped. */
  cancel(clientId: string): void {
    const pending = this.#pending.get(clientId);
    if (pending === undefined) return;
    this.#clock.cancel(pending.timer);
    this.#pending.delete(clientId);
  }

  /** Publishes a waiting will now (its session expired first). */
  publishNow(clientId: string): void {
    const pending = this.#pending.get(clientId);
    if (pending === undefined) return;
    this.cancel(clientId);
    this.#publish(pending.message);
  }

  /** Broker shutdown: every waiting will goes out (Mosquitto's will_delay__send_all). */
  publishAll(): void {
    for (const clientId of [...this.#pending.keys()]) this.publishNow(clientId);
  }
}
