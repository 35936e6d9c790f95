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
import { Buffer } from 'node:buffer';
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
  type Subscription as SubscriptionRequest,
} from '../protocol/packets.ts';
import { isValidTopicFilter, isValidTopicName } from '../protocol/topic.ts';
import { ClientSession, FlowState, OutgoingFlow, type PublishOutcome } from './client-session.ts';
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
  ReasonCodeError,
  reasonString,
  ServerDisconnectError,
} from './errors.ts';
import { KeepaliveTimer } from './keepalive.ts';
import { MessageQueue } from './message-queue.ts';
import type { ReceivedMessage } from './message.ts';
import type { ClientObserver, ConnectOptions, ReconnectOptions } from './options.ts';
import { Subscription, type UnsubscribeResult } from './subscription.ts';

export interface SubscribeOptions {
  readonly qos?: QoS;
  readonly noLocal?: boolean;
  readonly retainAsPublished?: boolean;
  readonly retainHandling?: 0 | 1 | 2;
  /** SUBSCRIBE properties: a subscriptionIdentifiers entry, user properties. */
  readonly properties?: Properties;
  readonly signal?: AbortSignal;
}

/** A filter with its own options, for subscribe([...]). */
export interface FilterRequest {
  readonly topicFilter: string;
  readonly qos?: QoS;
  readonly noLocal?: boolean;
  readonly retainAsPublished?: boolean;
  readonly retainHandling?: 0 | 1 | 2;
}

export interface EndOptions {
  /** DISCONNECT reason code (MQTT 5); 0x04 asks the broker to publish the will. */
  readonly reasonCode?: number;
  readonly properties?: Properties;
}

type State = 'connecting' | 'connected' | 'waiting' | 'closed';

const noop = (): void => undefined;

const ALPHANUMERIC = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

function invalid(message: string): MqttClientError {
  return new MqttClientError(ClientErrorCode.InvalidArgument, MosqErr.Inval, message);
}

function toBuffer(payload: string | Uint8Array | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
}

export class MqttClient {
  readonly protocolVersion: ProtocolVersion;
  readonly #options: ConnectOptions;
  readonly #endpoint: Endpoint;
  readonly #clock: Clock;
  readonly #observer: ClientObserver;
  readonly #reconnect: Required<ReconnectOptions> | null;
  readonly #session = new ClientSession();
  readonly #subscriptions = new Set<Subscription>();
  readonly #messageQueues = new Set<MessageQueue<ReceivedMessage>>();
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
    const username = options.username ?? credentials.username;
    const password = options.password ?? credentials.password;
    const will = options.will;
    this.#connectPacket = {
      type: PacketType.Connect,
      protocolName: this.protocolVersion === ProtocolVersion.V31 ? 'MQIsdp' : 'MQTT',
      protocolVersion: this.protocolVersion,
      isBridge: false,
      cleanStart: options.cleanStart ?? true,
      keepalive: options.keepalive ?? 60,
      clientId: clientId ?? '',
      will:
        will === undefined
          ? null
          : {
              topic: will.topic,
              payload: toBuffer(will.payload),
              qos: will.qos ?? 0,
              retain: will.retain ?? false,
              properties: will.properties ?? EMPTY_PROPERTIES,
            },
      username: username ?? null,
      password: password === undefined ? null : toBuffer(password),
      properties:
        this.protocolVersion === ProtocolVersion.V5
          ? (options.properties ?? EMPTY_PROPERTIES)
          : EMPTY_PROPERTIES,
    };
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /**
   * Connects and resolves once the broker accepted (CONNACK 0). Rejects with
   * ConnectionRefusedError for a refusal, or an MqttClientError for anything else.
   */
  static async connect(options: ConnectOptions = {}): Promise<MqttClient> {
    const version: number = options.protocolVersion ?? ProtocolVersion.V5;
    let clientId =
      options.clientId === undefined || options.clientId === '' ? null : options.clientId;
    if (
      version !== ProtocolVersion.V31 &&
      version !== ProtocolVersion.V311 &&
      version !== ProtocolVersion.V5
    ) {
      throw invalid(`unsupported protocol version ${String(version)}`);
    }
    if (clientId === null && version === ProtocolVersion.V31) {
      // MQTT 3.1 requires an id; libmosquitto makes "mosq-" + 18 random alphanumerics.
      const { randomBytes } = await import('node:crypto');
      const bytes = randomBytes(18);
      clientId = 'mosq-' + Array.from(bytes, (b) => ALPHANUMERIC[(b & 0x7f) % 62]).join('');
    }
    if (options.cleanStart === false && clientId === null && version !== ProtocolVersion.V5) {
      throw invalid('a client id is required for a persistent session');
    }
    const keepalive = options.keepalive ?? 60;
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65_535) {
      throw invalid('keepalive must be 0-65535 seconds');
    }
    if (options.will !== undefined && !isValidTopicName(options.will.topic)) {
      throw invalid(`invalid will topic '${options.will.topic}'`);
    }
    if (
      version !== ProtocolVersion.V5 &&
      options.password !== undefined &&
      options.username === undefined
    ) {
      throw invalid('MQTT 3.1/3.1.1 needs a username to send a password');
    }
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
    for (const sub of [...this.#subscriptions]) sub.finish(error);
    for (const queue of [...this.#messageQueues]) {
      if (error === null) queue.end();
      else queue.fail(error);
    }
    this.#resolveClosed(error);
  }

  // ---------------------------------------------------------------- sending

  #send(packet: Packet, mid: number): void {
    const stream = this.#stream;
    if (stream === null) return;
    if (this.#observer.log !== undefined) this.#log(sentPacketLines(this.#clientId, packet, mid));
    stream.write(encodePacket(packet, this.protocolVersion));
    this.#keepalive?.packetSent();
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
        if (held !== undefined) this.#deliver(held);
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
    this.#server = {
      receiveMaximum: p.receiveMaximum ?? 65_535,
      maximumQoS: (p.maximumQoS ?? 2) as QoS,
      retainAvailable: p.retainAvailable !== 0,
      maximumPacketSize: p.maximumPacketSize ?? 0,
      topicAliasMaximum: p.topicAliasMaximum ?? 0,
    };
    this.#connack = connack;
    this.#state = 'connected';
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
    // Publishes in flight from the previous connection go out again after the hook ran
    // (libmosquitto resets them before its connect callback and retries after it).
    const inflight = [...this.#session.outgoing.values()].filter(
      (f) => f.state !== FlowState.Queued,
    );
    this.#observer.connect?.(connack, this);
    this.#resendInflight(inflight, connack.sessionPresent);
    for (const send of this.#pendingSends.splice(0)) send();
    if (reconnected && !connack.sessionPresent && this.#reconnect?.resubscribe === true) {
      this.#resubscribe();
    }
    this.#flush();
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
        this.#deliver(resolved);
        return;
      case 1:
        this.#sendAck(PacketType.Puback, packet.packetId);
        this.#deliver(resolved);
        return;
      case 2:
        if (!this.#session.incomingQos2.has(packet.packetId)) {
          this.#session.incomingQos2.set(packet.packetId, resolved);
        }
        this.#sendAck(PacketType.Pubrec, packet.packetId);
        return;
    }
  }

  #deliver(packet: PublishPacket): void {
    const message: ReceivedMessage = {
      topic: packet.topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      mid: packet.packetId,
      properties: packet.properties,
    };
    this.#observer.message?.(message);
    for (const queue of this.#messageQueues) queue.push(message);
    for (const sub of this.#subscriptions) if (sub.matches(message.topic)) sub.push(message);
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

  #resubscribe(): void {
    for (const sub of this.#subscriptions) {
      const mid = this.#session.nextMid();
      this.#session.subscribes.set(mid, {
        mid,
        settle: { resolve: () => undefined, reject: () => undefined },
      });
      this.#send(
        {
          type: PacketType.Subscribe,
          packetId: mid,
          subscriptions: sub.requests,
          properties: sub.requestProperties,
        },
        mid,
      );
    }
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
    const list = typeof filters === 'string' ? [filters] : filters;
    if (list.length === 0) throw invalid('no topic filter given');
    const requests: SubscriptionRequest[] = list.map((entry) => {
      const r: FilterRequest = typeof entry === 'string' ? { topicFilter: entry } : entry;
      if (!isValidTopicFilter(r.topicFilter))
        throw invalid(`invalid subscription topic '${r.topicFilter}'`);
      // Subscription options beyond the QoS exist in MQTT 5 only.
      const v5 = this.protocolVersion === ProtocolVersion.V5;
      return {
        topicFilter: r.topicFilter,
        qos: r.qos ?? options.qos ?? 0,
        noLocal: v5 && (r.noLocal ?? options.noLocal ?? false),
        retainAsPublished: v5 && (r.retainAsPublished ?? options.retainAsPublished ?? false),
        retainHandling: v5 ? (r.retainHandling ?? options.retainHandling ?? 0) : 0,
      };
    });
    const properties =
      this.protocolVersion === ProtocolVersion.V5
        ? (options.properties ?? EMPTY_PROPERTIES)
        : EMPTY_PROPERTIES;
    const signal = options.signal;
    if (signal?.aborted === true) throw abortError(signal);
    const mid = this.#session.nextMid();
    const subscription = new Subscription(
      {
        unsubscribe: (f, o) => this.unsubscribe(f, o),
        forget: (s) => this.#subscriptions.delete(s),
      },
      mid,
      requests.map((r) => r.topicFilter),
      requests,
      properties,
    );
    this.#subscriptions.add(subscription);
    const suback = await this.#awaitAck(this.#session.subscribes, mid, signal, () => {
      this.#send(
        { type: PacketType.Subscribe, packetId: mid, subscriptions: requests, properties },
        mid,
      );
    }).catch((error: unknown) => {
      subscription.close();
      throw error;
    });
    subscription.reasonCodes = suback.reasonCodes;
    subscription.properties = suback.properties;
    return subscription;
  }

  /** Sends UNSUBSCRIBE; resolves with the UNSUBACK's reason codes (MQTT 5). */
  async unsubscribe(
    filters: string | readonly string[],
    options: { properties?: Properties; signal?: AbortSignal } = {},
  ): Promise<UnsubscribeResult> {
    if (this.#state === 'closed') throw closedError();
    const list = typeof filters === 'string' ? [filters] : [...filters];
    if (list.length === 0) throw invalid('no topic filter given');
    for (const f of list)
      if (!isValidTopicFilter(f)) throw invalid(`invalid unsubscribe topic '${f}'`);
    const properties =
      this.protocolVersion === ProtocolVersion.V5
        ? (options.properties ?? EMPTY_PROPERTIES)
        : EMPTY_PROPERTIES;
    const mid = this.#session.nextMid();
    const unsuback = await this.#awaitAck(this.#session.unsubscribes, mid, options.signal, () => {
      this.#send(
        { type: PacketType.Unsubscribe, packetId: mid, topicFilters: list, properties },
        mid,
      );
    });
    for (const sub of [...this.#subscriptions]) {
      if (sub.filters.every((f) => list.includes(f))) sub.close();
    }
    return { mid, reasonCodes: unsuback.reasonCodes, properties: unsuback.properties };
  }

  /** Registers a pending ack, sends (now, or once connected), waits. */
  #awaitAck<T>(
    table: Map<number, { mid: number; settle: { resolve(v: T): void; reject(e: unknown): void } }>,
    mid: number,
    signal: AbortSignal | undefined,
    send: () => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        table.delete(mid);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      table.set(mid, {
        mid,
        settle: {
          resolve: (value: T) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(value);
          },
          reject: (error: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        },
      });
      if (this.#state === 'connected') send();
      else this.#pendingSends.push(send);
    });
  }

  readonly #pendingSends: (() => void)[] = [];

  /** Every message received from now on, whatever subscription it came through. */
  messages(options: { signal?: AbortSignal } = {}): AsyncIterable<ReceivedMessage> {
    const queue = new MessageQueue<ReceivedMessage>(() => {
      this.#messageQueues.delete(queue);
    });
    if (this.#state === 'closed') queue.end();
    else this.#messageQueues.add(queue);
    return { [Symbol.asyncIterator]: () => queue.iterate(options.signal) };
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
