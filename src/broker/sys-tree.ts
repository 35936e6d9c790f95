/**
 * The `$SYS/broker/...` topics (sys_tree.c): retained, QoS 2, published by the broker
 * every sys_interval seconds, each only when its value changed (uptime always). The
 * load averages are exponentially weighted per-minute rates over 1, 5 and 15 minutes.
 */
import type { TimerHandle } from '../common/clock.ts';
import type { Broker } from './broker.ts';
import type { BrokerGauges } from './observability/broker-stats.ts';
import { BROKER_VERSION_TEXT } from './version.ts';

const SYS_QOS = 2;

const LOAD_TOPICS = [
  'messages/received',
  'messages/sent',
  'publish/dropped',
  'publish/received',
  'publish/sent',
  'bytes/received',
  'bytes/sent',
  'sockets',
  'connections',
] as const;
const LOAD_PERIODS: readonly [suffix: string, seconds: number][] = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
];

export class SysTree {
  readonly #broker: Broker;
  #timer: TimerHandle | null = null;
  /** Last published value per topic, to publish only changes. */
  readonly #last = new Map<string, string>();
  /** Counter values at the last update, for the load rates. */
  readonly #lastCounters = new Map<string, number>();
  /** Current load averages, by topic. */
  readonly #loads = new Map<string, number>();
  #lastUpdate = -1;
  #clientsMaximum = 0;

  constructor(broker: Broker) {
    this.#broker = broker;
  }

  start(): void {
    this.#broker.publishInternal(
      '$SYS/broker/version',
      `mosquitto version ${BROKER_VERSION_TEXT}`,
      SYS_QOS,
      true,
    );
    this.update();
    this.#schedule();
  }

  stop(): void {
    if (this.#timer !== null) this.#broker.clock.cancel(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    const interval = this.#broker.config.sysInterval;
    this.#timer = this.#broker.clock.setTimer(() => {
      this.update();
      this.#schedule();
    }, interval * 1000);
  }

  #publish(topic: string, value: string): void {
    this.#broker.publishInternal(topic, value, SYS_QOS, true);
  }

  #publishChanged(topic: string, value: string): void {
    if (this.#last.get(topic) === value) return;
    this.#last.set(topic, value);
    this.#publish(topic, value);
  }

  /** One periodic batch, in Mosquitto's order (the numbers are BrokerStats', as the HTTP API's). */
  update(): void {
    const broker = this.#broker;
    const nowMs = broker.clock.now();
    const gauges = broker.stats.gauges();
    this.#publish('$SYS/broker/uptime', `${gauges.uptimeSeconds} seconds`);
    this.#updateClients(gauges);
    this.#updateLoads(nowMs);

    const metrics = broker.metrics;
    const stored = String(gauges.storedMessages);
    this.#publishChanged('$SYS/broker/messages/stored', stored);
    this.#publishChanged('$SYS/broker/store/messages/count', stored);
    this.#publishChanged('$SYS/broker/store/messages/bytes', String(gauges.storedBytes));
    this.#publishChanged('$SYS/broker/subscriptions/count', String(gauges.subscriptions));
    this.#publishChanged(
      '$SYS/broker/shared_subscriptions/count',
      String(gauges.sharedSubscriptions),
    );
    this.#publishChanged('$SYS/broker/retained messages/count', String(gauges.retainedMessages));
    this.#publishChanged('$SYS/broker/heap/current', String(gauges.heapUsedBytes));
    const heapMax = Math.max(
      Number(this.#last.get('$SYS/broker/heap/maximum') ?? 0),
      gauges.heapUsedBytes,
    );
    this.#publishChanged('$SYS/broker/heap/maximum', String(heapMax));
    this.#publishChanged('$SYS/broker/messages/received', String(metrics.messagesReceived));
    this.#publishChanged('$SYS/broker/messages/sent', String(metrics.messagesSent));
    this.#publishChanged('$SYS/broker/publish/messages/dropped', String(metrics.publishDropped));
    this.#publishChanged('$SYS/broker/publish/messages/received', String(metrics.publishReceived));
    this.#publishChanged('$SYS/broker/publish/messages/sent', String(metrics.publishSent));
    this.#publishChanged('$SYS/broker/bytes/received', String(metrics.bytesReceived));
    this.#publishChanged('$SYS/broker/bytes/sent', String(metrics.bytesSent));
    this.#publishChanged(
      '$SYS/broker/publish/bytes/received',
      String(metrics.publishBytesReceived),
    );
    this.#publishChanged('$SYS/broker/publish/bytes/sent', String(metrics.publishBytesSent));
  }

  #updateClients(gauges: BrokerGauges): void {
    const broker = this.#broker;
    const total = gauges.clientsTotal;
    const totalText = String(total);
    if (this.#last.get('$SYS/broker/clients/total') !== totalText) {
      this.#publishChanged('$SYS/broker/clients/total', totalText);
      if (total > this.#clientsMaximum) {
        this.#clientsMaximum = total;
        this.#publish('$SYS/broker/clients/maximum', totalText);
      }
    }
    const disconnected = String(gauges.clientsDisconnected);
    if (this.#last.get('$SYS/broker/clients/disconnected') !== disconnected) {
      this.#last.set('$SYS/broker/clients/disconnected', disconnected);
      this.#publish('$SYS/broker/clients/inactive', disconnected);
      this.#publish('$SYS/broker/clients/disconnected', disconnected);
    }
    const connectedText = String(gauges.clientsConnected);
    if (this.#last.get('$SYS/broker/clients/connected') !== connectedText) {
      this.#last.set('$SYS/broker/clients/connected', connectedText);
      this.#publish('$SYS/broker/clients/active', connectedText);
      this.#publish('$SYS/broker/clients/connected', connectedText);
    }
    this.#publishChanged('$SYS/broker/clients/expired', String(broker.metrics.clientsExpired));
  }

  #counter(name: (typeof LOAD_TOPICS)[number]): number {
    const metrics = this.#broker.metrics;
    switch (name) {
      case 'messages/received':
        return metrics.messagesReceived;
      case 'messages/sent':
        return metrics.messagesSent;
      case 'publish/dropped':
        return metrics.publishDropped;
      case 'publish/received':
        return metrics.publishReceived;
      case 'publish/sent':
        return metrics.publishSent;
      case 'bytes/received':
        return metrics.bytesReceived;
      case 'bytes/sent':
        return metrics.bytesSent;
      case 'sockets':
        return metrics.socketConnections;
      case 'connections':
        return metrics.connectCount;
    }
  }

  #updateLoads(nowMs: number): void {
    const initial = this.#lastUpdate < 0;
    const elapsedSeconds = initial ? 0 : (nowMs - this.#lastUpdate) / 1000;
    this.#lastUpdate = nowMs;
    const rates = new Map<string, number>();
    for (const name of LOAD_TOPICS) {
      const value = this.#counter(name);
      const previous = this.#lastCounters.get(name) ?? value;
      this.#lastCounters.set(name, value);
      rates.set(name, elapsedSeconds > 0 ? ((value - previous) * 60) / elapsedSeconds : 0);
    }
    for (const [suffix, period] of LOAD_PERIODS) {
      const exponent = Math.exp(-elapsedSeconds / period);
      for (const name of LOAD_TOPICS) {
        const topic = `$SYS/broker/load/${name}/${suffix}`;
        const current = this.#loads.get(topic) ?? 0;
        if (initial) {
          this.#publish(topic, current.toFixed(2));
          this.#loads.set(topic, current);
          continue;
        }
        const rate = rates.get(name) ?? 0;
        const next = rate + exponent * (current - rate);
        if (Math.abs(next - current) >= 0.01) this.#publish(topic, next.toFixed(2));
        this.#loads.set(topic, next);
      }
    }
  }
}
