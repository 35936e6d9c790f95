/**
 * When and where a bridge connects next (bridge_check() and the backoff of bridge.c),
 * in whole seconds of the broker's clock:
 * - when a connection ends, the restart time is set `restart_timeout` ahead and the next
 *   address chosen; an automatic bridge connects once that time has passed;
 * - `restart_timeout <base> <cap>` draws each delay between the base and three times the
 *   last one, capped ("decorrelated jitter"), and starts from the base again after a
 *   successful connection;
 * - without `round_robin`, a bridge on a secondary address probes the first one every
 *   5 s and goes back to it once it answers.
 */
import type { BridgeAddress, BridgeConfig } from '../config/types.ts';

const PRIMARY_RETRY_SECONDS = 5;

export class RestartSchedule {
  #config: BridgeConfig;
  #addressIndex = 0;
  #restartAt = 0;
  #delay: number;
  #primaryRetryAt = 0;

  constructor(config: BridgeConfig) {
    this.#config = config;
    this.#delay = config.restartTimeout;
  }

  /** New settings (SIGHUP); the address in use is kept when it still exists. */
  reconfigure(config: BridgeConfig): void {
    this.#config = config;
    this.#delay = config.restartTimeout;
    if (this.#addressIndex >= config.addresses.length) this.#addressIndex = 0;
  }

  get address(): BridgeAddress | undefined {
    return this.#config.addresses[this.#addressIndex];
  }

  /** An attempt starts now: the next delay is drawn, the primary probe is planned. */
  attempting(now: number): void {
    const { backoffBase, backoffCap, roundRobin } = this.#config;
    if (backoffCap !== 0) {
      const high = this.#delay * 3;
      const next =
        high > backoffBase
          ? backoffBase + Math.floor(Math.random() * (high - backoffBase))
          : backoffBase;
      this.#delay = Math.min(next, backoffCap);
    }
    this.#primaryRetryAt =
      !roundRobin && this.#addressIndex !== 0 ? now + PRIMARY_RETRY_SECONDS : 0;
  }

  /** CONNACK 0: the back-off starts from its base again. */
  connected(): void {
    const { backoffBase, backoffCap, restartTimeout } = this.#config;
    this.#delay = backoffCap === 0 ? restartTimeout : backoffBase;
  }

  /**
   * The connection ended (or the attempt failed): the restart is due `restart_timeout`
   * from now, on the next address. (Mosquitto's bridge_check() does this on the next pass
   * of its loop, at once in effect.)
   */
  down(now: number): void {
    this.#restartAt = now + this.#delay;
    this.#addressIndex = (this.#addressIndex + 1) % this.#config.addresses.length;
  }

  /** Whether the restart time has passed (checked in whole seconds, as Mosquitto). */
  due(now: number): boolean {
    return now > this.#restartAt;
  }

  /** Ask for a restart at the next check (an immediate reload while down). */
  restartSoon(now: number): void {
    this.#restartAt = now;
  }

  /** Connected to a secondary address and the probe of the first one is due. */
  primaryProbeDue(now: number): boolean {
    return (
      !this.#config.roundRobin &&
      this.#addressIndex !== 0 &&
      this.#primaryRetryAt !== 0 &&
      now > this.#primaryRetryAt
    );
  }

  get primary(): BridgeAddress | undefined {
    return this.#config.addresses[0];
  }

  primaryUnreachable(now: number): void {
    this.#primaryRetryAt = now + PRIMARY_RETRY_SECONDS;
  }

  /** The first address answers: the next restart uses it (the step wraps to it). */
  primaryBack(): void {
    this.#primaryRetryAt = 0;
    this.#addressIndex = this.#config.addresses.length - 1;
  }
}
