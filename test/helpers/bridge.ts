/**
 * For the bridge interoperability tests (test/interop/bridge*.test.ts): bridge config
 * lines, a TCP gate between a bridge and its remote, and small waits on logs and
 * messages.
 *
 * The gate is a proxy in the test process that the bridge's `address` points at. It
 * counts every connection attempt (what the remote would see, TLS or not) and forwards
 * to the remote's current port, or refuses while closed. It lets a test restart the
 * remote on a new port, connect its own subscriber first, and only then let the bridge
 * back in, so that no message can reach the restarted remote before anyone listens.
 */
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { BrokerTarget, RunningBroker } from './process.ts';
import { ourBroker, startBrokerProcess } from './process.ts';
import { referenceProgram } from './real-db.ts';
import { realMosquitto } from './mosquitto.ts';
import type { MqttJsClient, ReceivedMessage } from './broker.ts';

export type BridgeVersion = 'mqttv31' | 'mqttv311' | 'mqttv50';

/** The protocol number Mosquitto (and we) print in "(p2, c1, k60)". */
export const LOGGED_PROTOCOL: Readonly<Record<BridgeVersion, number>> = {
  mqttv31: 1,
  mqttv311: 2,
  mqttv50: 5,
};

export interface BridgeOptions {
  readonly name?: string;
  /** host:port of the remote (or of the gate in front of it). */
  readonly address: string;
  readonly topics: readonly string[];
  readonly version?: BridgeVersion;
  readonly remoteClientid?: string;
  /** Lines appended after the usual ones (TLS files, credentials, cleansession, ...). */
  readonly extra?: readonly string[];
}

/** `connection ...` lines with the quick timings every test wants. */
export function bridgeConfig(options: BridgeOptions): string[] {
  return [
    `connection ${options.name ?? 'b1'}`,
    `address ${options.address}`,
    ...options.topics.map((topic) => `topic ${topic}`),
    `bridge_protocol_version ${options.version ?? 'mqttv311'}`,
    `remote_clientid ${options.remoteClientid ?? 'br-remote'}`,
    'restart_timeout 1',
    'keepalive_interval 5',
    ...(options.extra ?? []),
  ];
}

/** Mosquitto 2.0.22 where this machine has a build (never in CI). */
export function reference2022(): BrokerTarget | null {
  const command = referenceProgram('2.0.22', 'mosquitto');
  if (command === null) return null;
  return {
    kind: 'mosquitto',
    label: 'mosquitto 2.0.22',
    start: (options) =>
      startBrokerProcess(
        {
          kind: 'mosquitto',
          label: 'mosquitto 2.0.22',
          command,
          args: (configPath) => ['-c', configPath],
          preamble: process.getuid?.() === 0 ? ['user root'] : [],
        },
        options,
      ),
  };
}

export function url(broker: RunningBroker): string {
  return `mqtt://127.0.0.1:${broker.port}`;
}

export function targetOf(kind: 'ours' | 'mosquitto'): BrokerTarget {
  return kind === 'ours' ? ourBroker : realMosquitto;
}

/** Polls until `check` returns a value other than undefined; fails with `describe()`. */
export async function eventually<T>(
  check: () => T | undefined,
  describe: () => string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await delay(20);
  }
}

/** Waits for a line matching `pattern` in the broker's output and returns the match. */
export function waitForLog(
  broker: RunningBroker,
  pattern: RegExp,
  timeoutMs = 5000,
): Promise<RegExpExecArray> {
  return eventually(
    () => pattern.exec(broker.output()) ?? undefined,
    () => `no ${String(pattern)} in the output of ${broker.label}:\n${broker.output()}`,
    timeoutMs,
  );
}

/** Waits until `client` has a message that satisfies `predicate`; returns it. */
export function waitForMessage(
  client: MqttJsClient,
  predicate: (message: ReceivedMessage) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<ReceivedMessage> {
  return eventually(
    () => client.received.find(predicate),
    () =>
      `${what}; received: ${JSON.stringify(client.received.map((m) => `${m.topic}=${m.payload}`))}`,
    timeoutMs,
  );
}

/** The payloads received on topics matching `prefix` (string prefix), in order. */
export function payloadsUnder(client: MqttJsClient, prefix: string): string[] {
  return client.received.filter((m) => m.topic.startsWith(prefix)).map((m) => m.payload);
}

/**
 * Publishes `topic` on `from` every 200 ms until `to` receives it (as `arrivesAs`): the
 * bridge is connected and its subscription on the sending side is in place.
 */
export async function probeUntilBridged(
  from: MqttJsClient,
  to: MqttJsClient,
  topic: string,
  arrivesAs = topic,
  // Debian's 2.0.11 backs off 5 to 30 s after a failed first attempt (its one-value
  // restart_timeout is ignored), which a loaded machine can make happen.
  timeoutMs = 35_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  while (!to.received.some((m) => m.topic === arrivesAs)) {
    if (Date.now() > deadline) {
      throw new Error(`${topic} never crossed the bridge (as ${arrivesAs}) in ${timeoutMs} ms`);
    }
    if (n % 10 === 0) await from.client.publishAsync(topic, `probe-${n}`, { qos: 0 });
    n++;
    await delay(20);
  }
}

/** A TCP proxy that counts connection attempts and forwards while it has a target. */
export class Gate {
  readonly #server: net.Server;
  readonly #pairs = new Set<net.Socket>();
  #target: number | null = null;
  /** When each connection attempt arrived (ms since the epoch). */
  readonly attempts: number[] = [];

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async open(): Promise<Gate> {
    const server = net.createServer();
    const gate = new Gate(server);
    server.on('connection', (socket) => {
      gate.#accept(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        resolve();
      });
    });
    return gate;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections attempted since `since` (ms since the epoch). */
  attemptsSince(since: number): number {
    return this.attempts.filter((at) => at >= since).length;
  }

  /** Forwards new connections to this port (null: refuses them). */
  forwardTo(port: number | null): void {
    this.#target = port;
  }

  /**
   * Stops forwarding bytes on the open connections without closing them: a network
   * partition that only keepalive can detect.
   */
  freeze(): void {
    for (const socket of this.#pairs) {
      socket.unpipe();
      socket.pause();
    }
  }

  /** Closes every forwarded connection (both ends). */
  cut(): void {
    for (const socket of this.#pairs) socket.destroy();
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    this.#target = null;
    this.cut();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }

  #accept(socket: net.Socket): void {
    this.attempts.push(Date.now());
    const target = this.#target;
    if (target === null) {
      socket.destroy();
      return;
    }
    const upstream = net.connect({ port: target, host: '127.0.0.1' });
    this.#pairs.add(socket);
    this.#pairs.add(upstream);
    const end = (): void => {
      socket.destroy();
      upstream.destroy();
      this.#pairs.delete(socket);
      this.#pairs.delete(upstream);
    };
    socket.on('error', end);
    upstream.on('error', end);
    socket.on('close', end);
    upstream.on('close', end);
    socket.pipe(upstream);
    upstream.pipe(socket);
  }
}
