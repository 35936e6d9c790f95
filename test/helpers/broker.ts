/**
 * An in-process broker for tests: our broker started through the library API on a free
 * 127.0.0.1 port, with every log line captured and, optionally, a ManualClock so
 * keepalive, expiry and will-delay tests never sleep.
 */
import type { Buffer } from 'node:buffer';
import mqtt from 'mqtt';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { ManualClock } from '../../src/common/clock.ts';
import type { ProtocolVersion } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import type { Packet } from '../../src/protocol/packets.ts';
import type { Broker, EmbeddedPlugin } from '../../src/broker/broker.ts';
import { MemoryLog } from '../../src/broker/broker-log.ts';
import type { BrokerConfig, ListenerConfig } from '../../src/broker/config/types.ts';
import { defaultListener, defaultSecurity } from '../../src/broker/config/types.ts';
import { startBroker } from '../../src/broker/start-broker.ts';
import { RawClient } from './raw-client.ts';
import type { ConnectOptions } from './packet-bytes.ts';
import { connect } from './packet-bytes.ts';

export interface TestBrokerOptions {
  readonly config?: Partial<BrokerConfig>;
  /** Overrides for the single 127.0.0.1 listener. */
  readonly listener?: Partial<ListenerConfig>;
  /** Use a ManualClock (the broker's time only moves with clock.advance()). */
  readonly manualClock?: boolean;
  /** Plugin definitions given directly (startBroker's `plugins`). */
  readonly plugins?: readonly EmbeddedPlugin[];
}

export interface TestBroker {
  readonly broker: Broker;
  readonly port: number;
  /** mqtt://127.0.0.1:<port> */
  readonly url: string;
  readonly log: MemoryLog;
  /** The ManualClock, when asked for. */
  readonly clock: ManualClock;
  /** Opens a raw connection, sends CONNECT and reads the CONNACK. */
  rawConnect(options?: ConnectOptions): Promise<{ client: RawClient; connack: Buffer }>;
  close(): Promise<void>;
}

export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const clock = new ManualClock();
  const log = new MemoryLog();
  const listener: ListenerConfig = {
    ...defaultListener(0, defaultSecurity(true)),
    bindAddress: '127.0.0.1',
    ...options.listener,
  };
  const broker = await startBroker({
    config: { sysInterval: 0, listeners: [listener], ...options.config },
    log,
    ...(options.manualClock === true ? { clock } : {}),
    ...(options.plugins === undefined ? {} : { plugins: options.plugins }),
  });
  const port = broker.ports[0] ?? 0;
  const clients: RawClient[] = [];
  return {
    broker,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    log,
    clock,
    async rawConnect(connectOptions = {}) {
      const client = await RawClient.open(port);
      clients.push(client);
      client.send(connect(connectOptions));
      const connack = await client.expectPacket();
      return { client, connack };
    },
    async close() {
      for (const client of clients) client.destroy();
      await broker.close();
    },
  };
}

/** Lets queued socket I/O happen (a few turns of the event loop). */
export function settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Decodes one packet received from the broker (client side of our codec). */
export function decodeFromBroker(bytes: Buffer, version: ProtocolVersion = 4): Packet {
  const decoder = new FrameDecoder({ protocolVersion: version });
  decoder.push(bytes);
  const packet = decoder.next();
  if (packet === null) throw new Error('incomplete packet');
  return packet;
}

/** Waits until `predicate` holds, polling (for effects on the broker side). */
export async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A message as MQTT.js hands it over. */
export interface ReceivedMessage {
  readonly topic: string;
  readonly payload: string;
  readonly packet: IPublishPacket;
}

/** An MQTT.js client plus the messages it received, in order. */
export interface MqttJsClient {
  readonly client: MqttClient;
  readonly received: ReceivedMessage[];
  /** Resolves once `count` messages in total have arrived. */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  end(): Promise<void>;
}

/** Connects MQTT.js (no reconnects) and records every message. */
export async function mqttConnect(
  url: string,
  options: IClientOptions = {},
): Promise<MqttJsClient> {
  // The listener is in place before the CONNACK: a resumed session's messages follow it
  // at once, and MQTT.js emits QoS 0/1 messages as they arrive.
  const client = mqtt.connect(url, { reconnectPeriod: 0, ...options });
  const received: ReceivedMessage[] = [];
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString(), packet });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      client.end(true);
      reject(error);
    };
    const onClose = (): void => {
      onError(new Error(`connection to ${url} closed before CONNACK`));
    };
    client.once('connect', () => {
      client.off('error', onError);
      client.off('close', onClose);
      resolve();
    });
    client.once('error', onError);
    client.once('close', onClose);
  });
  return {
    client,
    received,
    async waitForMessages(count, timeoutMs = 2000) {
      await waitFor(() => received.length >= count, timeoutMs);
      return received;
    },
    async end() {
      await client.endAsync();
    },
  };
}
