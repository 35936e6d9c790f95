/**
 * One bridge (`connection <name>`), as Mosquitto's bridge.c runs it: a local session
 * named `local_clientid` subscribed to the `out` topics, and a connection we open to the
 * remote broker, where we are the client. Messages for the remote queue in that session
 * under the same limits as a client's while the link is down, and the in-flight ones are
 * resent on reconnection; what the remote publishes on our `in` subscriptions is
 * published here as if the session's client had sent it (trusted: no ACL).
 *
 * Once a second (bridge_check() in loop.c) the bridge checks its keepalive, a lazy
 * bridge's idle time, whether to go back to the primary address, and when to reconnect
 * (`restart_timeout`, constant or with decorrelated jitter).
 */
import type { Duplex } from 'node:stream';
import net from 'node:net';
import type { TimerHandle } from '../../common/clock.ts';
import type { ProtocolVersion, QoS } from '../../protocol/constants.ts';
import { ProtocolVersion as Versions } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import { ReasonCode } from '../../protocol/constants.ts';
import type {
  ConnackPacket,
  ConnectPacket,
  Properties,
  SubackPacket,
  UnsubackPacket,
} from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import { StreamConnection } from '../../transport/tcp.ts';
import { openStream } from '../../client/endpoint.ts';
import type { Broker } from '../broker.ts';
import type { BridgeEndpoint, BridgeLinkState, BridgeSessionPolicy } from '../bridge-hooks.ts';
import { ClientConnection, ConnectionState } from '../client-connection.ts';
import { CloseReason } from '../close-reason.ts';
import type { BrokerListener } from '../listeners.ts';
import type { BridgeConfig } from '../config/types.ts';
import { resumeSession } from '../outgoing.ts';
import { Session, SESSION_NEVER_EXPIRES } from '../session.ts';
import { cancelSessionExpiry } from '../session-expiry.ts';
import { BridgeTopicMap } from './topic-map.ts';
import { bridgeConnectPacket } from './connect-packet.ts';
import { bridgeEndpoint, connectFailureLines, isLookupFailure } from './remote-endpoint.ts';
import { probeTcp } from './probe.ts';
import { RestartSchedule } from './restart-schedule.ts';
import {
  dropForCleanStart,
  notificationTopic,
  publishState,
  queueRetained,
  subscribeLocally,
  syntheticListener,
  versionOf,
} from './local-side.ts';
import {
  PINGREQ_PACKET,
  refusalLine,
  sendToRemote,
  statePacket,
  subscribeLine,
  subscribePacket,
  unsubscribePacket,
} from './remote-packets.ts';

const CHECK_INTERVAL_MS = 1000;

const enum LinkState {
  /** No connection; waiting for the restart time (or, lazy, for the threshold). */
  Down,
  /** Opening the socket, or waiting for CONNACK. */
  Connecting,
  /** CONNACK 0 received. */
  Up,
  /** start_type once after its connection ended, or the broker is stopping. */
  Stopped,
}

export class Bridge implements BridgeEndpoint, BridgeSessionPolicy {
  readonly broker: Broker;
  config: BridgeConfig;
  /** Settings read by a SIGHUP, applied at the next connection (bridge_reload_type lazy). */
  #pendingConfig: BridgeConfig | null = null;
  topics: BridgeTopicMap;
  readonly session: Session;
  #listener: BrokerListener;
  #state: LinkState = LinkState.Down;
  #conn: ClientConnection | null = null;
  #opening: AbortController | null = null;
  #timer: TimerHandle | null = null;

  readonly #schedule: RestartSchedule;
  #probing = false;
  #lazyReconnect = false;
  #attempted = false;
  #initialNotificationDone = false;
  #tryPrivateAccepted = true;
  #protocolVersion: ProtocolVersion;
  #maxQos: QoS = 2;
  retainAvailable: boolean;
  #keepalive: number;
  /** Seconds of the last packet in, and when the next one must go out (keepalive). */
  #lastIn = 0;
  #nextOut = 0;
  #pingOutstanding = false;

  constructor(broker: Broker, config: BridgeConfig) {
    this.broker = broker;
    this.config = config;
    this.topics = new BridgeTopicMap(config.topics);
    this.#schedule = new RestartSchedule(config);
    this.#protocolVersion = versionOf(config);
    this.retainAvailable = config.outgoingRetain;
    this.#keepalive = config.keepaliveInterval;
    this.#listener = syntheticListener(broker, config);
    // A session restored from the store keeps its queue (bridge__new finds the context).
    const restored = broker.sessions.get(config.localClientid);
    this.session = restored ?? new Session(config.localClientid, this.#protocolVersion);
    if (restored === undefined) broker.sessions.set(config.localClientid, this.session);
    this.#configureSession();
  }

  get name(): string {
    return this.config.name;
  }

  // ---- BridgeSessionPolicy -----------------------------------------------------------

  /** The link's state as `/metrics` names it. */
  get linkState(): BridgeLinkState {
    switch (this.#state) {
      case LinkState.Down:
        return 'down';
      case LinkState.Connecting:
        return 'connecting';
      case LinkState.Up:
        return 'up';
      case LinkState.Stopped:
        return 'stopped';
    }
  }

  get connecting(): boolean {
    return this.#state === LinkState.Connecting;
  }

  get cleanStartLocal(): boolean {
    return this.config.localCleansession ?? this.config.cleansession;
  }

  get lazy(): boolean {
    return this.config.startType === 'lazy';
  }

  queuedWhileDown(queued: number): void {
    if (this.lazy && this.#state === LinkState.Down && queued >= this.config.threshold) {
      this.#lazyReconnect = true;
    }
  }

  // ---- Lifecycle ---------------------------------------------------------------------

  start(): void {
    this.#scheduleCheck();
    // Every bridge connects at once, lazy ones too (bridge__new()); a lazy bridge then
    // waits for its threshold after an idle timeout.
    this.#connect();
  }

  /** Shutdown: the local "0" state goes out, the connection closes, nothing restarts. */
  stop(): void {
    const wasDown = this.#state === LinkState.Down || this.#state === LinkState.Stopped;
    this.#state = LinkState.Stopped;
    if (this.#timer !== null) this.broker.clock.cancel(this.#timer);
    this.#timer = null;
    this.#opening?.abort();
    this.#opening = null;
    const conn = this.#conn;
    if (conn !== null) {
      this.#publishLocalState('0');
      conn.close(CloseReason.Shutdown);
    } else if (!wasDown) {
      this.#publishLocalState('0');
    }
  }

  /** SIGHUP with changed settings (bridge_reload_type). */
  reconfigure(config: BridgeConfig): void {
    if (config.reloadType === 'immediate') {
      this.#apply(config);
      if (this.#conn !== null) this.#conn.close(CloseReason.Disconnected);
      else if (this.#state === LinkState.Down) this.#schedule.restartSoon(this.#nowSeconds());
    } else {
      this.#pendingConfig = config;
    }
  }

  #apply(config: BridgeConfig): void {
    this.config = config;
    this.#pendingConfig = null;
    this.topics = new BridgeTopicMap(config.topics);
    this.#schedule.reconfigure(config);
    this.#protocolVersion = versionOf(config);
    this.retainAvailable = config.outgoingRetain;
    this.#keepalive = config.keepaliveInterval;
    this.#listener = syntheticListener(this.broker, config);
    this.#configureSession();
  }

  #configureSession(): void {
    const session = this.session;
    // A restored bridge session never expires (Mosquitto 2.0.15's #2634 expired it).
    cancelSessionExpiry(this.broker, session);
    session.bridge = this;
    session.protocolVersion = this.#protocolVersion;
    session.cleanStart = this.config.cleansession;
    // local_cleansession false: the session (and what it queues) survives restarts.
    session.expiryInterval = this.cleanStartLocal ? 0 : SESSION_NEVER_EXPIRES;
    this.broker.persistence?.noteSession(session);
  }

  // ---- Timers ------------------------------------------------------------------------

  #nowSeconds(): number {
    return Math.floor(this.broker.clock.now() / 1000);
  }

  #scheduleCheck(): void {
    this.#timer = this.broker.clock.setTimer(() => {
      if (this.#state === LinkState.Stopped) return;
      this.#check();
      this.#scheduleCheck();
    }, CHECK_INTERVAL_MS);
  }

  /** bridge_check(): keepalive, idle timeout, the primary address, restarts. */
  #check(): void {
    const now = this.#nowSeconds();
    const conn = this.#conn;
    if (conn !== null) {
      this.#checkKeepalive(conn, now);
      if (this.#conn !== null && this.#schedule.primaryProbeDue(now)) this.#tryPrimary();
      return;
    }
    if (this.#state !== LinkState.Down) return;
    const due = this.#schedule.due(now);
    const type = this.config.startType;
    if ((type === 'lazy' && this.#lazyReconnect) || (type === 'automatic' && due)) {
      this.#connect();
    }
  }

  /** mosquitto__check_keepalive() for a bridge: PINGREQ when quiet, close when unanswered. */
  #checkKeepalive(conn: ClientConnection, now: number): void {
    if (this.lazy && now - this.#lastIn >= this.config.idleTimeout) {
      this.broker.log.notice(
        `Bridge connection ${this.session.clientId} has exceeded idle timeout, disconnecting.`,
      );
      this.#closeQuietly(conn);
      return;
    }
    const keepalive = this.#keepalive;
    if (keepalive === 0) return;
    const lastIn = Math.max(this.#lastIn, Math.floor(conn.lastActivity / 1000));
    if (now < this.#nextOutAt(conn) && now - lastIn < keepalive) return;
    if (this.#state === LinkState.Up && !this.#pingOutstanding) {
      this.#pingOutstanding = true;
      if (this.broker.debugLog) {
        this.broker.log.debug(`Sending PINGREQ to ${this.session.clientId}`);
      }
      sendToRemote(conn, PINGREQ_PACKET);
      this.#lastIn = now;
      this.#nextOut = now + keepalive;
    } else {
      // No PINGRESP within a keepalive (or no CONNACK): the link is dead.
      this.#publishLocalState('0');
      this.#closeQuietly(conn);
    }
  }

  #nextOutAt(conn: ClientConnection): number {
    const sent = Math.floor(conn.lastSent / 1000) + this.#keepalive;
    return Math.max(this.#nextOut, sent);
  }

  /** net__socket_close() without do_disconnect(): no log line, no will. */
  #closeQuietly(conn: ClientConnection): void {
    conn.close(CloseReason.Shutdown);
  }

  /** A bridge on a secondary address goes back to the primary once it answers. */
  #tryPrimary(): void {
    const primary = this.#schedule.primary;
    if (this.#probing || primary === undefined) return;
    this.#probing = true;
    void probeTcp(primary.host, primary.port, this.config.bindAddress).then((reachable) => {
      this.#probing = false;
      if (this.#state === LinkState.Stopped) return;
      if (!reachable) {
        this.#schedule.primaryUnreachable(this.#nowSeconds());
        return;
      }
      this.#schedule.primaryBack();
      const conn = this.#conn;
      if (conn !== null) this.#closeQuietly(conn);
    });
  }

  // ---- Connecting --------------------------------------------------------------------

  /** bridge__connect(): local subscriptions, the state will, then the socket and CONNECT. */
  #connect(): void {
    if (this.#pendingConfig !== null) this.#apply(this.#pendingConfig);
    const broker = this.broker;
    const config = this.config;
    const session = this.session;
    this.#state = LinkState.Connecting;
    this.#lazyReconnect = false;
    this.#pingOutstanding = false;
    this.#keepalive = config.keepaliveInterval;
    const now = this.#nowSeconds();
    this.#lastIn = now;
    this.#nextOut = now + this.#keepalive;
    dropForCleanStart(session, config, this.cleanStartLocal);
    subscribeLocally(broker, session, this.topics.topics, this.#maxQos);
    this.#schedule.attempting(now);
    if (config.notifications && !this.#initialNotificationDone) {
      this.#initialNotificationDone = true;
      this.#publishLocalState('0');
    }
    const address = this.#schedule.address;
    if (address === undefined) return;
    broker.log.notice(`Connecting bridge ${config.name} (${address.host}:${address.port})`);
    const endpoint = bridgeEndpoint(config, address);
    const opening = new AbortController();
    this.#opening = opening;
    const firstAttempt = !this.#attempted;
    this.#attempted = true;
    openStream(endpoint, this.#protocolVersion, opening.signal).then(
      (stream) => {
        if (this.#opening !== opening) {
          stream.destroy();
          return;
        }
        this.#opening = null;
        this.#opened(stream);
      },
      (error: unknown) => {
        if (this.#opening !== opening) return;
        this.#opening = null;
        for (const line of connectFailureLines(session.clientId, error)) {
          if (line.level === 'error') broker.log.error(line.text);
          else if (broker.config.log.connectionMessages) broker.log.notice(line.text);
        }
        // What bridge__start_all() adds when the first attempt fails before any socket.
        if (firstAttempt && error instanceof Error && isLookupFailure(error)) {
          broker.log.warning(`Warning: Unable to connect to bridge ${config.name}.`);
        }
        // The attempt had a socket in Mosquitto, whose close publishes the state will.
        this.#publishLocalState('0');
        this.#linkDown();
      },
    );
  }

  #opened(socket: Duplex): void {
    const broker = this.broker;
    // TCP or TLS (bridgeEndpoint never asks for WebSockets or a proxy).
    if (!(socket instanceof net.Socket)) throw new TypeError('bridge stream is not a socket');
    if (this.config.tcpKeepalive !== null) {
      socket.setKeepAlive(true, this.config.tcpKeepalive.idle * 1000);
    }
    const transport = new StreamConnection(socket, socket.localPort ?? 0, null);
    const conn = new ClientConnection(broker, transport, this.#listener, {
      endpoint: this,
      protocolVersion: this.#protocolVersion,
    });
    conn.clientId = this.session.clientId;
    conn.username = this.config.localUsername;
    if (this.config.maxPacketSize > 0) conn.clientMaximumPacketSize = this.config.maxPacketSize;
    broker.connections.add(conn);
    this.#listener.connectionCount++;
    this.#conn = conn;
    socket.resume();
    if (broker.debugLog) broker.log.debug(`Bridge ${this.config.remoteClientid} sending CONNECT`);
    sendToRemote(conn, this.#connectPacket());
  }

  #connectPacket(): ConnectPacket {
    return bridgeConnectPacket(this.config, {
      protocolVersion: this.#protocolVersion,
      bridgeBit: this.config.tryPrivate && this.#tryPrivateAccepted,
      will:
        this.config.notifications && !this.config.notificationsLocalOnly
          ? {
              topic: notificationTopic(this.config),
              qos: this.#notificationQos(),
              retain: this.retainAvailable,
            }
          : null,
      receiveMaximum: this.broker.config.maxInflightMessages,
    });
  }

  // ---- BridgeEndpoint: packets from the remote ---------------------------------------

  topicIn(topic: string): string {
    return this.topics.remapping ? this.topics.toLocal(topic) : topic;
  }

  topicOut(topic: string): string {
    return this.topics.remapping ? this.topics.toRemote(topic) : topic;
  }

  onConnack(conn: ClientConnection, packet: ConnackPacket): void {
    const broker = this.broker;
    if (conn.state !== ConnectionState.AwaitingConnect) {
      throw new MqttError(ReasonCode.ProtocolError, 'second CONNACK', 'MQTT-3.2.0-1');
    }
    if (broker.debugLog) {
      broker.log.debug(`Received CONNACK on connection ${this.session.clientId}.`);
    }
    const v5 = this.#protocolVersion === Versions.V5;
    let maxQos: QoS | null = null;
    // The window towards the remote: max_inflight_messages, or the remote's Receive Maximum.
    this.session.inflightMaximum = broker.config.maxInflightMessages;
    if (v5) {
      if (packet.reasonCode === 1 && packet.properties === EMPTY_PROPERTIES) {
        // A v3 broker's "unacceptable protocol version": try again with 3.1.1.
        broker.log.notice(
          `Warning: Remote bridge ${this.config.name} does not support MQTT v5.0, reconnecting using MQTT v3.1.1.`,
        );
        this.#protocolVersion = Versions.V311;
        throw new MqttError(ReasonCode.ProtocolError, 'remote is MQTT v3', 'MQTT-3.1.2-2');
      }
      maxQos = this.#readConnackProperties(conn, packet.properties);
    }
    if (packet.reasonCode !== 0) {
      this.#refused(packet.reasonCode, v5, maxQos);
      conn.close(CloseReason.ConnectionLost);
      return;
    }
    conn.state = ConnectionState.Connected;
    conn.wasConnected = true;
    this.#state = LinkState.Up;
    this.#onConnect(conn);
    if (maxQos !== null) this.#maxQos = maxQos;
    // Attached last, so that the retained messages queued above follow what was in flight.
    const session = this.session;
    session.connection = conn;
    conn.session = session;
    resumeSession(broker, session);
  }

  /** The v5 CONNACK's limits: Maximum QoS (returned), packet size, Receive Maximum, ... */
  #readConnackProperties(conn: ClientConnection, properties: Properties): QoS | null {
    const maximumPacketSize = properties.maximumPacketSize;
    if (
      maximumPacketSize !== undefined &&
      (conn.clientMaximumPacketSize === 0 || conn.clientMaximumPacketSize > maximumPacketSize)
    ) {
      conn.clientMaximumPacketSize = maximumPacketSize;
    }
    const receiveMaximum = properties.receiveMaximum;
    if (receiveMaximum !== undefined) this.session.inflightMaximum = receiveMaximum;
    if (properties.retainAvailable !== undefined && this.retainAvailable) {
      this.retainAvailable = properties.retainAvailable === 1;
    }
    if (properties.serverKeepAlive !== undefined) this.#keepalive = properties.serverKeepAlive;
    const maximumQos = properties.maximumQoS;
    return maximumQos === undefined ? null : maximumQos === 0 ? 0 : maximumQos === 1 ? 1 : 2;
  }

  /** A refusing CONNACK: what to change for the next attempt, and the log line. */
  #refused(code: number, v5: boolean, maxQos: QoS | null): void {
    const log = this.broker.log;
    if (v5 && code === ReasonCode.RetainNotSupported) {
      this.retainAvailable = false;
      log.error('Connection Refused: retain not available (will retry)');
    } else if (v5 && code === ReasonCode.QoSNotSupported) {
      if (maxQos !== null) this.#maxQos = maxQos;
      else if (this.#maxQos !== 0) this.#maxQos = this.#maxQos === 2 ? 1 : 0;
      log.error('Connection Refused: QoS not supported (will retry)');
    } else {
      if (!v5 && code === 1) this.#tryPrivateAccepted = false;
      log.error(refusalLine(code, v5));
    }
  }

  /** bridge__on_connect(): the "1" state, the remote subscriptions, the retained messages. */
  #onConnect(conn: ClientConnection): void {
    const broker = this.broker;
    const config = this.config;
    const session = this.session;
    const v5 = this.#protocolVersion === Versions.V5;
    if (config.notifications) {
      if (!config.notificationsLocalOnly) {
        // Numbered like everything the session sends, but never tracked: Mosquitto
        // ignores its acknowledgement too.
        const packetId = session.packetIds.next(session.inflight);
        sendToRemote(
          conn,
          statePacket(
            notificationTopic(this.config),
            this.#notificationQos(),
            this.retainAvailable,
            packetId,
          ),
        );
      }
      this.#publishLocalState('1');
    }
    for (const topic of this.topics.topics) {
      if (topic.direction === 'out' && !config.attemptUnsubscribe) continue;
      const packetId = session.packetIds.next(session.inflight);
      if (topic.direction === 'out') {
        // Undoes an `in` subscription an earlier configuration may have left on the remote.
        if (broker.debugLog) {
          broker.log.debug(
            `Bridge ${session.clientId} sending UNSUBSCRIBE (Mid: ${packetId}, Topic: ${topic.remoteTopic})`,
          );
        }
        sendToRemote(conn, unsubscribePacket(packetId, topic.remoteTopic));
        continue;
      }
      const qos = topic.qos > this.#maxQos ? this.#maxQos : topic.qos;
      if (broker.debugLog) {
        broker.log.debug(subscribeLine(session.clientId, packetId, topic.remoteTopic, qos, v5));
      }
      sendToRemote(conn, subscribePacket(packetId, topic.remoteTopic, qos, v5));
    }
    queueRetained(this.broker, session, this.topics.topics, this.#maxQos);
    this.#schedule.connected();
  }

  onSuback(_conn: ClientConnection, _packet: SubackPacket): void {
    if (this.broker.debugLog) {
      this.broker.log.debug(`Received SUBACK from ${this.session.clientId}`);
    }
  }

  onUnsuback(_conn: ClientConnection, _packet: UnsubackPacket): void {
    if (this.broker.debugLog) {
      this.broker.log.debug(`Received UNSUBACK from ${this.session.clientId}`);
    }
  }

  onPingresp(_conn: ClientConnection): void {
    if (this.broker.debugLog) {
      this.broker.log.debug(`Received PINGRESP from ${this.session.clientId}`);
    }
    this.#pingOutstanding = false;
  }

  onClosed(conn: ClientConnection): void {
    if (conn !== this.#conn) return;
    this.#conn = null;
    this.#listener.connectionCount--;
    // A connection that ends publishes the state will locally (context__send_will).
    if (this.#state === LinkState.Stopped) return;
    if (conn.closeReason !== CloseReason.Shutdown) this.#publishLocalState('0');
    this.#linkDown();
  }

  #linkDown(): void {
    if (this.#state === LinkState.Stopped) return;
    this.#state = this.config.startType === 'once' ? LinkState.Stopped : LinkState.Down;
    this.#schedule.down(this.#nowSeconds());
  }

  // ---- Notifications -----------------------------------------------------------------

  #notificationQos(): QoS {
    return this.#maxQos === 0 ? 0 : 1;
  }

  #publishLocalState(state: '0' | '1'): void {
    if (this.config.notifications) {
      publishState(this.broker, this.session, this.config, this.#notificationQos(), state);
    }
  }
}
