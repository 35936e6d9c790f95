/**
 * MqttClient: the library (libmosquitto's counterpart), promise-first.
 *
 *   const client = await MqttClient.connect({ url: 'mqtt://localhost' });
 *   const sub = await client.subscribe('sensors/#');
 *   await client.publish('sensors/a', '21.5', { qos: 1 });
 *   for await (const m of sub) console.log(m.topic, m.payload.toString());
 *
 * One connection at a time carries a ClientSession (client-session.ts) that outlives it:
 * QoS 1/2 publishes are tracked until their handshake completes and re-sent with DUP after
 * a reconnection, incoming QoS 2 messages are held until PUBREL (delivery on PUBREL, as
 * libmosquitto does, so tools print in the same order). Everything that waits takes an
 * AbortSignal; every failure is an MqttClientError (errors.ts).
 *
 * Packets are handled synchronously as they are decoded: acknowledgements go out, the
 * observer hooks run, then messages are queued for async iterators. Observers therefore
 * see events in wire order, which the command-line tools rely on for their output.
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.ts';
import { PacketType, ProtocolVersion, type QoS } from '../protocol/constants.ts';
import { FrameDecoder } from '../protocol/decoder.ts';
import { encodePacket } from '../protocol/encoder.ts';
import { MqttError } from '../protocol/errors.ts';
import {
  EMPTY_PROPERTIES,
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  type Properties,
  type PublishPacket,
} from '../protocol/packets.ts';
import { ClientSession, FlowState, type PublishOutcome } from './client-session.ts';
import { buildConnectPacket, checkConnectOptions, toBuffer } from './connect-packet.ts';
import { OutgoingPublishes, type PublishOptions } from './outgoing.ts';
import { receivedPacketLine, sentPacketLines } from './debug-log.ts';
import { openStream, resolveEndpoint, type Endpoint } from './endpoint.ts';
import {
  abortError,
  ClientErrorCode,
  closedError,
  connackString,
  ConnectionRefusedError,
  MosqErr,
  MqttClientError,
  reasonString,
  ServerDisconnectError,
} from './errors.ts';
import { KeepaliveTimer } from './keepalive.ts';
import type { ReceivedMessage } from './message.ts';
import type { ClientObserver, ConnectOptions, ReconnectOptions } from './options.ts';
import type { Subscription, UnsubscribeResult } from './subscription.ts';
import { Subscriptions, type FilterRequest, type SubscribeOptions } from './subscriptions.ts';

export interface EndOptions {
  /** DISCONNECT reason code (MQTT 5); 0x04 asks the broker to publish the will. */
  readonly reasonCode?: number;
  readonly properties?: Properties;
}

type State = 'connecting' | 'connected' | 'waiting' | 'closed';

const noop = (): void => undefined;

export class MqttClient {
  readonly protocolVersion: ProtocolVersion;
  readonly #options: ConnectOptions;
  readonly #endpoint: Endpoint;
  readonly #clock: Clock;
  readonly #observer: ClientObserver;
  readonly #reconnect: Required<ReconnectOptions> | null;
  readonly #session = new ClientSession();
  readonly #outgoing: OutgoingPublishes;
  readonly #subscriptions: Subscriptions;
  readonly #pendingSends: (() => void)[] = [];
  readonly #connectPacket: ConnectPacket;
  readonly #closed: Promise<MqttClientError | null>;
  #resolveClosed: (error: MqttClientError | null) => void = () => undefined;

  #state: State = 'connecting';
  #clientId: string | null;
  #stream: Duplex | null = null;
  #keepalive: KeepaliveTimer | null = null;
  #connack: ConnackPacket | null = null;
  #connackWaiter: { resolve(c: ConnackPacket): void; reject(e: unknown): void } | null = null;
  #aliasesIn = new Map<number, string>();
  #reconnectTimer: TimerHandle | null = null;
  /** While waiting to reconnect with the real clock: a timer that keeps the process alive. */
  #reconnectHold: NodeJS.Timeout | null = null;
  #reconnectDelay = 0;
  #everConnected = false;
  #ending: Promise<void> | null = null;

  private constructor(options: ConnectOptions, clientId: string | null) {
    const { endpoint, credentials } = resolveEndpoint(options);
    this.#options = options;
    this.#endpoint = endpoint;
    this.#clock = options.clock ?? systemClock;
    this.#observer = options.observer ?? {};
    this.protocolVersion = options.protocolVersion ?? ProtocolVersion.V5;
    this.#clientId = clientId;
    const reconnect = options.reconnect;
    if (reconnect === undefined || reconnect === false) {
      this.#reconnect = null;
    } else {
      const r = reconnect === true ? {} : reconnect;
      const delayMs = r.delayMs ?? 1000;
      this.#reconnect = {
        delayMs,
        maxDelayMs: r.maxDelayMs ?? delayMs,
        resubscribe: r.resubscribe ?? true,
      };
    }
    this.#connectPacket = buildConnectPacket(options, this.protocolVersion, clientId, credentials);
    this.#outgoing = new OutgoingPublishes(
      this.#session,
      {
        writePublish: (packet, bytes, mid) => this.#write(packet, bytes, mid),
        sendPubrel: (mid) => {
          this.#sendAck(PacketType.Pubrel, mid);
        },
      },
      this.protocolVersion,
      options.maxInflight ?? 65_535,
      options.autoTopicAlias ?? false,
    );
    this.#subscriptions = new Subscriptions(
      this.#session,
      {
        sendWhenConnected: (packet, mid) => {
          if (this.#state === 'connected') this.#send(packet, mid);
          else
            this.#pendingSends.push(() => {
              this.#send(packet, mid);
            });
        },
      },
      this.protocolVersion,
      this.#observer.message?.bind(this.#observer),
    );
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /**
   * Connects and resolves once the broker accepted (CONNACK 0). Rejects with
   * ConnectionRefusedError for a refusal, or an MqttClientError for anything else.
   */
  static async connect(options: ConnectOptions = {}): Promise<MqttClient> {
    const clientId = await checkConnectOptions(options);
    const client = new MqttClient(options, clientId);
    try {
      await client.#attempt(options.signal);
    } catch (error) {
      client.#finish(error instanceof MqttClientError ? error : null);
      throw error;
    }
    return client;
  }

  /** The client identifier: as given, as assigned by the broker (MQTT 5), or '' if unknown. */
  get clientId(): string {
    return this.#clientId ?? '';
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  /** The CONNACK of the current (or last) connection. */
  get connack(): ConnackPacket | null {
    return this.#connack;
  }

  /** Resolves when the client is closed for good: null after end(), else the error. */
  closed(): Promise<MqttClientError | null> {
    return this.#closed;
  }

  // ---------------------------------------------------------------- connection

  async #attempt(signal: AbortSignal | undefined): Promise<ConnackPacket> {
    this.#state = 'connecting';
    if (signal?.aborted === true) throw abortError(signal);
    const stream = await openStream(this.#endpoint, this.protocolVersion, signal);
    if ((this.#state as State) === 'closed') {
      stream.destroy();
      throw closedError();
    }
    return new Promise<ConnackPacket>((resolve, reject) => {
      let timer: TimerHandle | null = null;
      const cleanup = (): void => {
        if (timer !== null) this.#clock.cancel(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#connackWaiter = null;
      };
      const onAbort = (): void => {
        cleanup();
        this.#dropStream();
        reject(abortError(signal as AbortSignal));
      };
      this.#connackWaiter = {
        resolve: (connack) => {
          cleanup();
          resolve(connack);
        },
        reject: (error) => {
          cleanup();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = this.#clock.setTimer(() => {
        cleanup();
        this.#dropStream();
        reject(
          new MqttClientError(
            ClientErrorCode.ConnectTimeout,
            MosqErr.Timeout,
            'no CONNACK from the broker in time',
          ),
        );
      }, this.#options.connectTimeoutMs ?? 30_000);
      this.#attach(stream);
      this.#send(this.#connectPacket, 0);
    });
  }

  #attach(stream: Duplex): void {
    this.#stream = stream;
    const decoder = new FrameDecoder({ protocolVersion: this.protocolVersion });
    const maximum = this.#connectPacket.properties.maximumPacketSize;
    if (maximum !== undefined) decoder.maximumPacketSize = maximum;
    this.#aliasesIn = new Map();
    const onData = (chunk: Buffer): void => {
      if (this.#stream !== stream) return;
      decoder.push(chunk);
      this.#keepalive?.packetReceived();
      try {
        for (;;) {
          if (this.#stream !== stream) return;
          const packet = decoder.next();
          if (packet === null) break;
          this.#onPacket(packet);
        }
      } catch (error) {
        const failure =
          error instanceof MqttClientError
            ? error
            : new MqttClientError(
                ClientErrorCode.Protocol,
                error instanceof MqttError && error.reasonCode === 0x81
                  ? MosqErr.MalformedPacket
                  : MosqErr.Protocol,
                error instanceof Error ? error.message : String(error),
                { cause: error },
              );
        this.#lose(stream, failure);
      }
    };
    let socketError: Error | null = null;
    stream.on('data', onData);
    stream.on('error', (error: Error) => {
      socketError = error;
    });
    stream.once('close', () => {
      const cause = socketError;
      this.#lose(
        stream,
        new MqttClientError(
          ClientErrorCode.ConnectionLost,
          MosqErr.ConnLost,
          'The connection was lost.',
          cause === null ? undefined : { cause },
        ),
      );
    });
    stream.resume();
  }

  /** Closes the current stream without ceremony (its close handler then sees it is stale). */
  #dropStream(): void {
    const stream = this.#stream;
    this.#stream = null;
    this.#outgoing.connected = false;
    this.#keepalive?.stop();
    this.#keepalive = null;
    stream?.destroy();
  }

  /** The connection `stream` is gone (or must go) because of `error`. */
  #lose(stream: Duplex, error: MqttClientError): void {
    if (this.#stream !== stream) return;
    this.#dropStream();
    if (this.#state === 'closed') return;
    const waiter = this.#connackWaiter;
    if (waiter !== null) {
      // A connection attempt failed: its caller (connect() or the reconnect loop) decides.
      waiter.reject(error);
      return;
    }
    const wasConnected = this.#state === 'connected';
    this.#state = 'waiting';
    if (wasConnected) this.#observer.disconnect?.(error);
    if (this.#reconnect === null) {
      this.#finish(error);
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const settings = this.#reconnect;
    if (settings === null || this.#state === 'closed') return;
    const delay = this.#reconnectDelay === 0 ? settings.delayMs : this.#reconnectDelay;
    this.#reconnectDelay = Math.min(delay * 2, settings.maxDelayMs);
    // systemClock's timers do not hold the process open, and between connections nothing
    // else does: a client waiting to reconnect must keep a program such as
    // mosquitto_sub running.
    if (this.#options.clock === undefined) this.#reconnectHold ??= setInterval(noop, 1 << 30);
    this.#reconnectTimer = this.#clock.setTimer(() => {
      this.#reconnectTimer = null;
      this.#releaseHold();
      this.#attempt(undefined).then(
        () => {
          this.#reconnectDelay = 0;
        },
        (error: unknown) => {
          if (this.#state === 'closed') return;
          if (error instanceof ConnectionRefusedError) this.#observer.disconnect?.(error);
          if ((this.#state as State) === 'closed') return;
          this.#state = 'waiting';
          this.#scheduleReconnect();
        },
      );
    }, delay);
  }

  #releaseHold(): void {
    if (this.#reconnectHold !== null) clearInterval(this.#reconnectHold);
    this.#reconnectHold = null;
  }

  /** The client is done: reject what is pending, end iterators, resolve closed(). */
  #finish(error: MqttClientError | null): void {
    if (this.#state === 'closed' && this.#stream === null) return;
    this.#state = 'closed';
    if (this.#reconnectTimer !== null) this.#clock.cancel(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#releaseHold();
    this.#dropStream();
    this.#connackWaiter?.reject(error ?? closedError());
    this.#pendingSends.length = 0;
    this.#session.failAll(error ?? closedError());
    this.#subscriptions.finish(error);
    this.#resolveClosed(error);
  }

  // ---------------------------------------------------------------- sending

  #send(packet: Packet, mid: number): void {
    this.#write(packet, encodePacket(packet, this.protocolVersion), mid);
  }

  /** Logs and writes an encoded packet; false when there is no connection. */
  #write(packet: Packet, bytes: Buffer, mid: number): boolean {
    const stream = this.#stream;
    if (stream === null) return false;
    if (this.#observer.log !== undefined) this.#log(sentPacketLines(this.#clientId, packet, mid));
    stream.write(bytes);
    this.#keepalive?.packetSent();
    return true;
  }

  #log(lines: readonly string[]): void {
    const observer = this.#observer;
    if (observer.log === undefined) return;
    for (const line of lines) observer.log(line);
  }

  #sendAck(type: 4 | 5 | 6 | 7, packetId: number, reasonCode = 0): void {
    this.#send({ type, packetId, reasonCode, properties: EMPTY_PROPERTIES }, packetId);
  }

  // ---------------------------------------------------------------- receiving

  #onPacket(packet: Packet): void {
    // PUBLISH is logged once its topic alias is resolved, CONNACK once the id is known.
    if (
      this.#observer.log !== undefined &&
      packet.type !== PacketType.Publish &&
      packet.type !== PacketType.Connack
    ) {
      const line = receivedPacketLine(this.#clientId, packet);
      if (line !== null) this.#log([line]);
    }
    switch (packet.type) {
      case PacketType.Connack:
        this.#onConnack(packet);
        break;
      case PacketType.Publish:
        this.#onPublish(packet);
        break;
      case PacketType.Puback:
        this.#outgoing.acknowledged(
          packet.packetId,
          FlowState.AwaitPuback,
          packet.reasonCode,
          packet.properties,
        );
        break;
      case PacketType.Pubrec:
        this.#outgoing.received(packet.packetId, packet.reasonCode, packet.properties);
        break;
      case PacketType.Pubcomp:
        this.#outgoing.acknowledged(
          packet.packetId,
          FlowState.AwaitPubcomp,
          packet.reasonCode,
          packet.properties,
        );
        break;
      case PacketType.Pubrel: {
        const held = this.#session.incomingQos2.get(packet.packetId);
        this.#session.incomingQos2.delete(packet.packetId);
        this.#sendAck(PacketType.Pubcomp, packet.packetId);
        if (held !== undefined) this.#subscriptions.deliver(held);
        break;
      }
      case PacketType.Suback: {
        const pending = this.#session.subscribes.get(packet.packetId);
        this.#session.subscribes.delete(packet.packetId);
        pending?.settle.resolve(packet);
        break;
      }
      case PacketType.Unsuback: {
        const pending = this.#session.unsubscribes.get(packet.packetId);
        this.#session.unsubscribes.delete(packet.packetId);
        pending?.settle.resolve(packet);
        break;
      }
      case PacketType.Pingresp:
        this.#keepalive?.pingResponse();
        break;
      case PacketType.Disconnect:
        throw new ServerDisconnectError(packet.reasonCode, packet.properties);
      case PacketType.Auth:
        this.#onAuth(packet);
        break;
      case PacketType.Connect:
      case PacketType.Subscribe:
      case PacketType.Unsubscribe:
      case PacketType.Pingreq:
        throw new MqttClientError(
          ClientErrorCode.Protocol,
          MosqErr.Protocol,
          `the broker sent a ${String(packet.type)} packet, which only clients send`,
        );
    }
    this.#observer.packet?.(packet);
  }

  #onConnack(connack: ConnackPacket): void {
    const waiter = this.#connackWaiter;
    if (this.#state !== 'connecting' || waiter === null) {
      throw new MqttClientError(ClientErrorCode.Protocol, MosqErr.Protocol, 'unexpected CONNACK');
    }
    const assigned = connack.properties.assignedClientIdentifier;
    if (assigned !== undefined && this.#clientId === null) this.#clientId = assigned;
    this.#log([`Client ${this.#clientId ?? 'null'} received CONNACK (${connack.reasonCode})`]);
    if (connack.reasonCode !== 0) {
      const message =
        this.protocolVersion === ProtocolVersion.V5
          ? reasonString(connack.reasonCode)
          : connackString(connack.reasonCode);
      if (this.#options.disconnectOnRefusal === true) {
        this.#send({ type: PacketType.Disconnect, reasonCode: 0, properties: EMPTY_PROPERTIES }, 0);
      }
      this.#dropStream();
      waiter.reject(new ConnectionRefusedError(connack.reasonCode, connack.properties, message));
      return;
    }
    const p = connack.properties;
    this.#connack = connack;
    this.#state = 'connected';
    // Flows in flight on the previous connection are resent after the hook below runs
    // (libmosquitto resets them before its connect callback and retries after it).
    const inflight = this.#outgoing.inflight();
    this.#outgoing.connect({
      receiveMaximum: p.receiveMaximum ?? 65_535,
      maximumQoS: (p.maximumQoS ?? 2) as QoS,
      retainAvailable: p.retainAvailable !== 0,
      maximumPacketSize: p.maximumPacketSize ?? 0,
      topicAliasMaximum: p.topicAliasMaximum ?? 0,
    });
    const reconnected = this.#everConnected;
    this.#everConnected = true;
    const keepalive = p.serverKeepAlive ?? this.#connectPacket.keepalive;
    this.#keepalive = new KeepaliveTimer(
      this.#clock,
      keepalive,
      () => {
        this.#send({ type: PacketType.Pingreq }, 0);
      },
      () => {
        const stream = this.#stream;
        if (stream !== null) {
          this.#lose(
            stream,
            new MqttClientError(
              ClientErrorCode.KeepaliveTimeout,
              MosqErr.Keepalive,
              'Keepalive exceeded',
            ),
          );
        }
      },
    );
    this.#keepalive.start();
    waiter.resolve(connack);
    this.#observer.connect?.(connack, this);
    this.#outgoing.resend(inflight, connack.sessionPresent);
    for (const send of this.#pendingSends.splice(0)) send();
    if (reconnected && !connack.sessionPresent && this.#reconnect?.resubscribe === true) {
      this.#subscriptions.resubscribe();
    }
    this.#outgoing.flush();
  }

  #onPublish(packet: PublishPacket): void {
    let topic = packet.topic;
    const alias = packet.properties.topicAlias;
    if (alias !== undefined) {
      const allowed = this.#connectPacket.properties.topicAliasMaximum ?? 0;
      if (alias > allowed) {
        throw new MqttClientError(
          ClientErrorCode.Protocol,
          MosqErr.TopicAliasInvalid,
          'Topic Alias invalid',
        );
      }
      if (topic === '') {
        const known = this.#aliasesIn.get(alias);
        if (known === undefined) {
          throw new MqttClientError(
            ClientErrorCode.Protocol,
            MosqErr.TopicAliasInvalid,
            'Topic Alias invalid',
          );
        }
        topic = known;
      } else {
        this.#aliasesIn.set(alias, topic);
      }
    } else if (topic === '') {
      throw new MqttClientError(
        ClientErrorCode.Protocol,
        MosqErr.Protocol,
        'PUBLISH without a topic',
      );
    }
    const resolved: PublishPacket = topic === packet.topic ? packet : { ...packet, topic };
    if (this.#observer.log !== undefined) {
      const line = receivedPacketLine(this.#clientId, resolved);
      if (line !== null) this.#log([line]);
    }
    switch (packet.qos) {
      case 0:
        this.#subscriptions.deliver(resolved);
        return;
      case 1:
        this.#sendAck(PacketType.Puback, packet.packetId);
        this.#subscriptions.deliver(resolved);
        return;
      case 2:
        if (!this.#session.incomingQos2.has(packet.packetId)) {
          this.#session.incomingQos2.set(packet.packetId, resolved);
        }
        this.#sendAck(PacketType.Pubrec, packet.packetId);
        return;
    }
  }

  #onAuth(packet: AuthPacket): void {
    const authenticate = this.#options.authenticate;
    if (authenticate === undefined) {
      throw new MqttClientError(
        ClientErrorCode.Protocol,
        MosqErr.Protocol,
        'AUTH without an authenticate() option',
      );
    }
    const stream = this.#stream;
    Promise.resolve(authenticate(packet)).then(
      (properties) => {
        if (this.#stream === stream) {
          this.#send({ type: PacketType.Auth, reasonCode: 0x18, properties }, 0);
        }
      },
      (error: unknown) => {
        if (stream !== null) {
          this.#lose(
            stream,
            new MqttClientError(ClientErrorCode.Protocol, MosqErr.Auth, 'authentication failed', {
              cause: error,
            }),
          );
        }
      },
    );
  }

  // ---------------------------------------------------------------- publish

  /**
   * Publishes a message. Resolves when it is done: written (QoS 0), PUBACK (QoS 1) or
   * PUBCOMP (QoS 2). Rejects with ReasonCodeError when the broker refuses it (MQTT 5
   * reason code >= 0x80), MqttClientError otherwise. While disconnected (reconnecting)
   * publishes wait and go out in order once connected.
   */
  publish(
    topic: string,
    payload?: string | Uint8Array,
    options: PublishOptions = {},
  ): Promise<PublishOutcome> {
    try {
      if (this.#state === 'closed') throw closedError();
      return this.#outgoing.publish(topic, toBuffer(payload), options);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  // ---------------------------------------------------------------- subscribe

  /**
   * Subscribes to one filter or several (one SUBSCRIBE). Resolves after the SUBACK with a
   * Subscription to iterate; check `reasonCodes` (or `granted`) for refusals, which do not
   * reject. Messages matching the filters are buffered from the moment SUBSCRIBE is sent.
   */
  async subscribe(
    filters: string | readonly (string | FilterRequest)[],
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.#state === 'closed') throw closedError();
    return this.#subscriptions.subscribe(filters, options);
  }

  /** Sends UNSUBSCRIBE; resolves with the UNSUBACK's reason codes (MQTT 5). */
  async unsubscribe(
    filters: string | readonly string[],
    options: { properties?: Properties; signal?: AbortSignal } = {},
  ): Promise<UnsubscribeResult> {
    if (this.#state === 'closed') throw closedError();
    return this.#subscriptions.unsubscribe(filters, options);
  }

  /** Every message received from now on, whatever subscription it came through. */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterable<ReceivedMessage> {
    return this.#subscriptions.messages(this.#state === 'closed', options.signal);
  }

  // ---------------------------------------------------------------- closing

  /**
   * Sends DISCONNECT (with `reasonCode`, MQTT 5) and closes. Operations still pending
   * are rejected with ERR_MQTT_CLIENT_CLOSED. Resolves once the socket is closed.
   */
  end(options: EndOptions = {}): Promise<void> {
    if (this.#ending !== null) return this.#ending;
    const stream = this.#stream;
    if (this.#state === 'connected' && stream !== null) {
      const packet: Packet = {
        type: PacketType.Disconnect,
        reasonCode: options.reasonCode ?? 0,
        properties:
          this.protocolVersion === ProtocolVersion.V5
            ? (options.properties ?? EMPTY_PROPERTIES)
            : EMPTY_PROPERTIES,
      };
      this.#send(packet, 0);
      this.#stream = null;
      this.#keepalive?.stop();
      this.#keepalive = null;
      this.#ending = new Promise<void>((resolve) => {
        stream.once('close', () => {
          resolve();
        });
        stream.once('finish', () => stream.destroy());
        stream.end();
      });
      this.#finish(null);
      this.#observer.disconnect?.(null);
    } else {
      this.#finish(null);
      this.#ending = Promise.resolve();
    }
    return this.#ending;
  }

  /** Closes at once without DISCONNECT (the broker then publishes any will). */
  destroy(): void {
    this.#finish(null);
  }
}
