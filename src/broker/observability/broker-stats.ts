/**
 * The broker's state as numbers, computed in one place for every reader: `$SYS`
 * (sys-tree.ts), the HTTP API's `/api/v1/systree` and `/metrics`. Counters come from
 * BrokerMetrics as they are; gauges (clients, queues, subscriptions, memory...) are
 * computed here when asked, by walking the sessions once, so the hot path never keeps
 * them up to date.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { BridgeLinkState } from '../bridge-hooks.ts';
import type { ListenerConfig } from '../config/types.ts';
import type { BrokerMetrics, ListenerCounters } from '../metrics.ts';

/** What the statistics read of a session. */
export interface ObservedSession {
  readonly connection: unknown;
  readonly queue: { readonly length: number; readonly bytes12: number };
  readonly inflight: { readonly size: number };
  readonly incoming: { readonly size: number };
  readonly inflightBytes: number;
}

/** What the statistics read of a connection's output. */
export interface ObservedConnection {
  readonly out: { readonly frames: number; readonly length: number };
}

export interface ObservedListener extends ListenerCounters {
  readonly config: ListenerConfig;
  readonly port: number;
}

export interface ObservedPersistence {
  readonly writes: number;
  readonly writeFailures: number;
  readonly writeSeconds: number;
}

/** The broker as the statistics see it (Broker satisfies it). */
export interface ObservedBroker {
  readonly metrics: BrokerMetrics;
  readonly sessions: ReadonlyMap<string, ObservedSession>;
  readonly connections: ReadonlySet<ObservedConnection>;
  readonly retained: { readonly size: number };
  readonly subscriptions: {
    readonly subscriptionCount: number;
    readonly sharedSubscriptionCount: number;
  };
  readonly listenerSockets: readonly ObservedListener[];
  readonly persistence: ObservedPersistence | null;
  readonly startedAt: number;
  readonly clock: { now(): number };
  bridgeStates(): readonly { readonly name: string; readonly state: BridgeLinkState }[];
}

/** Gauges at one moment. */
export interface BrokerGauges {
  readonly uptimeSeconds: number;
  /** Sessions (connected or not), as `$SYS/broker/clients/total`. */
  readonly clientsTotal: number;
  readonly clientsConnected: number;
  readonly clientsDisconnected: number;
  /** The highest clientsTotal seen by any reader so far. */
  readonly clientsMaximum: number;
  /** Retained messages plus every session's queued, in-flight and held incoming ones. */
  readonly storedMessages: number;
  readonly storedBytes: number;
  readonly queuedMessages: number;
  readonly inflightMessages: number;
  readonly subscriptions: number;
  readonly sharedSubscriptions: number;
  readonly retainedMessages: number;
  /** Packets and bytes waiting in connections' output buffers. */
  readonly outPackets: number;
  readonly outBytes: number;
  readonly heapUsedBytes: number;
  /** The highest heapUsedBytes seen by any reader so far. */
  readonly heapMaximumBytes: number;
  readonly residentBytes: number;
}

/** Event-loop delay (perf_hooks.monitorEventLoopDelay), in seconds. */
export interface EventLoopDelay {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  readonly count: number;
}

/** How often the event-loop delay is sampled (a 20 ms timer costs nothing measurable). */
const LOOP_DELAY_RESOLUTION_MS = 20;

export class BrokerStats {
  readonly #broker: ObservedBroker;
  #clientsMaximum = 0;
  #heapMaximum = 0;
  #loopDelay: IntervalHistogram | null = null;

  constructor(broker: ObservedBroker) {
    this.#broker = broker;
  }

  get metrics(): BrokerMetrics {
    return this.#broker.metrics;
  }

  get listeners(): readonly ObservedListener[] {
    return this.#broker.listenerSockets;
  }

  get persistence(): ObservedPersistence | null {
    return this.#broker.persistence;
  }

  bridgeStates(): readonly { readonly name: string; readonly state: BridgeLinkState }[] {
    return this.#broker.bridgeStates();
  }

  /** Starts sampling the event-loop delay (only while someone can read it: /metrics). */
  watchEventLoop(): void {
    if (this.#loopDelay !== null) return;
    this.#loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    this.#loopDelay.enable();
  }

  stop(): void {
    this.#loopDelay?.disable();
    this.#loopDelay = null;
  }

  /** Since watchEventLoop(); null when not watched. */
  eventLoopDelay(): EventLoopDelay | null {
    const histogram = this.#loopDelay;
    if (histogram === null) return null;
    // The histogram records whole timer intervals: the delay is what exceeds the period.
    const period = LOOP_DELAY_RESOLUTION_MS * 1e6;
    const seconds = (ns: number): number =>
      Number.isFinite(ns) && ns > period ? (ns - period) / 1e9 : 0;
    return {
      p50: seconds(histogram.percentile(50)),
      p90: seconds(histogram.percentile(90)),
      p99: seconds(histogram.percentile(99)),
      max: seconds(histogram.max),
      mean: seconds(histogram.mean),
      count: histogram.count,
    };
  }

  /** The gauges now (one walk over the sessions and connections). */
  gauges(): BrokerGauges {
    const broker = this.#broker;
    let connected = 0;
    let queued = 0;
    let inflight = 0;
    let incoming = 0;
    let storedBytes = 0;
    for (const session of broker.sessions.values()) {
      if (session.connection !== null) connected++;
      queued += session.queue.length;
      inflight += session.inflight.size;
      incoming += session.incoming.size;
      storedBytes += session.queue.bytes12 + session.inflightBytes;
    }
    let outPackets = 0;
    let outBytes = 0;
    for (const conn of broker.connections) {
      outPackets += conn.out.frames;
      outBytes += conn.out.length;
    }
    const total = broker.sessions.size;
    if (total > this.#clientsMaximum) this.#clientsMaximum = total;
    const memory = process.memoryUsage();
    if (memory.heapUsed > this.#heapMaximum) this.#heapMaximum = memory.heapUsed;
    const tree = broker.subscriptions;
    const retained = broker.retained.size;
    return {
      uptimeSeconds: Math.floor((broker.clock.now() - broker.startedAt) / 1000),
      clientsTotal: total,
      clientsConnected: connected,
      clientsDisconnected: total - connected,
      clientsMaximum: this.#clientsMaximum,
      storedMessages: retained + queued + inflight + incoming,
      storedBytes,
      queuedMessages: queued,
      inflightMessages: inflight,
      subscriptions: tree.subscriptionCount - tree.sharedSubscriptionCount,
      sharedSubscriptions: tree.sharedSubscriptionCount,
      retainedMessages: retained,
      outPackets,
      outBytes,
      heapUsedBytes: memory.heapUsed,
      heapMaximumBytes: this.#heapMaximum,
      residentBytes: memory.rss,
    };
  }
}
