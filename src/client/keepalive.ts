/**
 * Client keepalive, as libmosquitto does it (mosquitto__check_keepalive): when nothing has
 * been sent, or nothing received, for `keepalive` seconds, send PINGREQ; if the next
 * deadline passes with that PINGREQ still unanswered, the connection is dead. One timer,
 * re-armed only when it fires (packets merely record the time), so a busy connection
 * costs nothing per packet but a clock read.
 */
import type { Clock, TimerHandle } from '../common/clock.ts';

export class KeepaliveTimer {
  private lastSent: number;
  private lastReceived: number;
  private awaitingResponse = false;
  private timer: TimerHandle | null = null;
  private readonly intervalMs: number;

  constructor(
    private readonly clock: Clock,
    keepaliveSeconds: number,
    private readonly sendPing: () => void,
    private readonly onTimeout: () => void,
  ) {
    this.intervalMs = keepaliveSeconds * 1000;
    this.lastSent = clock.now();
    this.lastReceived = this.lastSent;
  }

  start(): void {
    if (this.intervalMs <= 0) return;
    this.arm(this.intervalMs);
  }

  stop(): void {
    if (this.timer !== null) this.clock.cancel(this.timer);
    this.timer = null;
  }

  packetSent(): void {
    this.lastSent = this.clock.now();
  }

  packetReceived(): void {
    this.lastReceived = this.clock.now();
  }

  pingResponse(): void {
    this.awaitingResponse = false;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimer(this.fire, Math.max(ms, 1));
  }

  private readonly fire = (): void => {
    this.timer = null;
    const now = this.clock.now();
    const due = Math.min(this.lastSent, this.lastReceived) + this.intervalMs;
    if (now < due && !this.awaitingResponse) {
      this.arm(due - now);
      return;
    }
    if (this.awaitingResponse) {
      this.onTimeout();
      return;
    }
    this.awaitingResponse = true;
    this.sendPing();
    // Give the broker a whole interval to answer.
    this.lastSent = now;
    this.lastReceived = now;
    this.arm(this.intervalMs);
  };
}
