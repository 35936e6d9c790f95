/**
 * ClientConnection: one network connection's MQTT state machine (the connection half of
 * Mosquitto's `struct mosquitto`): AwaitingConnect -> (Authenticating ->) Connected ->
 * Closing -> Closed.
 * It owns the frame decoder, the keepalive deadline, the topic alias table and the
 * output buffer; everything that must outlive the socket lives in its Session.
 */
import type { Buffer } from 'node:buffer';
import type { ProtocolVersion } from '../protocol/constants.ts';
import { PacketType, ReasonCode, ProtocolVersion as Versions } from '../protocol/constants.ts';
import { FrameDecoder } from '../protocol/decoder.ts';
import { isMqttError } from '../protocol/errors.ts';
import type { Connection, ConnectionHandler } from '../transport/connection.ts';
import type { Flushable } from '../transport/flush-scheduler.ts';
import { OutputBuffer } from '../transport/output-buffer.ts';
import type { Broker } from './broker.ts';
import type { BrokerListener } from './listeners.ts';
import { CloseReason, closeForSocketError } from './close-reason.ts';
import { dispatchPacket, handleProtocolError } from './dispatch.ts';
import type { DeadlineOwner } from './keepalive.ts';
import { deadlineHeapFor } from './keepalive.ts';
import { releaseQueued } from './outgoing.ts';
import type { Session } from './session.ts';
import type { AckTarget } from './persistence/persistence.ts';
import type { BridgeEndpoint } from './bridge-hooks.ts';
import type { Credentials } from './security/broker-security.ts';
import * as send from './send.ts';

export const ConnectionState = {
  AwaitingConnect: 0,
  /** CONNECT received, password being checked off the event loop; later packets wait. */
  Authenticating: 1,
  Connected: 2,
  Closing: 3,
  Closed: 4,
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/**
 * A new socket must deliver a complete CONNECT within this time (Mosquitto gives new
 * sockets an implicit 60 s keepalive, so 1.5 x 60 s).
 */
export const CONNECT_DEADLINE_MS = 90_000;

export class ClientConnection implements ConnectionHandler, Flushable, DeadlineOwner, AckTarget {
  readonly broker: Broker;
  readonly transport: Connection;
  readonly listener: BrokerListener;
  readonly decoder: FrameDecoder;
  readonly out = new OutputBuffer();
  state: ConnectionState = ConnectionState.AwaitingConnect;
  flushQueued = false;
  /** The socket refused more bytes; nothing is written until it drains. */
  blocked = false;
  protocolVersion: ProtocolVersion = Versions.V311;
  /** "" until CONNECT names the client (logged as "<unknown>"). */
  clientId = '';
  username: string | null = null;
  session: Session | null = null;
  /** Keepalive deadline in ms (1.5 x keepalive), 0 for none. */
  keepaliveMs = 0;
  /** Clock.now() of the last bytes received (while Connected). */
  lastActivity = 0;
  /** Clock.now() of the last write, kept for a bridge's keepalive only. */
  lastSent = 0;
  /** Client-to-broker topic aliases of this connection (MQTT 5), allocated on first use. */
  topicAliases: string[] | null = null;
  /** The client's Maximum Packet Size (MQTT 5), 0 for none. */
  clientMaximumPacketSize = 0;
  /**
   * An enhanced authentication (at CONNECT or a re-authentication) waiting for the client's
   * AUTH 0x18 (see handlers/auth.ts).
   */
  pendingAuth: { readonly method: string; readonly resume: (data: Buffer | null) => void } | null =
    null;
  /**
   * A packet's handling waits for an asynchronous check (a plugin's ACL answer): the
   * packets after it wait too, in order, and the socket is not read meanwhile.
   */
  inputHeld = false;
  /** The CONNECT's Authentication Method once enhanced authentication let the client in. */
  authMethod: string | null = null;
  /**
   * The re-authentication (AUTH 0x19) under way, from the client's AUTH until the plugin's
   * final answer; a plugin answer for an attempt that is no longer this one is dropped.
   */
  reauthentication: { readonly method: string } | null = null;
  /** CONNACK 0 was sent on this connection. */
  wasConnected = false;
  /** A CONNECT was decoded: its protocol version is known (refusals get a CONNACK). */
  connectDecoded = false;
  /** What the client authenticated with (BrokerSecurity.admitted), for re-checks. */
  credentials: Credentials | null = null;
  /** The first bytes received, kept until CONNECT to report a bad protocol level. */
  #firstChunk: Buffer | null = null;
  closeReason: CloseReason = CloseReason.ConnectionLost;
  closeDetail = '';
  /** Wall-clock seconds when the connection was accepted. */
  readonly connectedAt: number;
  /** The CONNECT or keepalive deadline (see keepalive.ts). */
  deadline = 0;
  deadlineOrder = 0;
  deadlineIndex = -1;
  /**
   * Set on the connection a bridge opened to a remote broker: we sent the CONNECT, the
   * remote's CONNACK, SUBACK, UNSUBACK and PINGRESP go to the bridge, and its keepalive
   * is the bridge's (see broker/bridge/). Null on every client's connection.
   */
  readonly bridge: BridgeEndpoint | null;

  constructor(
    broker: Broker,
    transport: Connection,
    listener: BrokerListener,
    bridge: { endpoint: BridgeEndpoint; protocolVersion: ProtocolVersion } | null = null,
  ) {
    this.broker = broker;
    this.transport = transport;
    this.listener = listener;
    this.bridge = bridge === null ? null : bridge.endpoint;
    if (bridge !== null) this.protocolVersion = bridge.protocolVersion;
    this.decoder = new FrameDecoder({
      expectConnect: bridge === null,
      maximumPacketSize: broker.config.maxPacketSize,
      lazyPayloads: true,
      protocolVersion: this.protocolVersion,
      // 0x82 for these whatever their body, as Mosquitto (no extended auth); a bridge's
      // connection is the client side, where they are the answers it waits for.
      refuseServerPackets: bridge === null,
      // AUTH is read only when a plugin does enhanced authentication.
      refuseAuth: bridge !== null || !(broker.security.plugins?.hasExtendedAuth ?? false),
    });
    this.connectedAt = broker.clock.wallSeconds();
    if (bridge === null) deadlineHeapFor(broker.clock).arm(this, CONNECT_DEADLINE_MS);
    transport.setHandler(this);
  }

  /** The id for log lines. */
  get logId(): string {
    return this.clientId === '' ? '<unknown>' : this.clientId;
  }

  // ---- ConnectionHandler -------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.state >= ConnectionState.Closing) return;
    const broker = this.broker;
    broker.metrics.bytesReceived += chunk.length;
    this.listener.bytesReceived += chunk.length;
    if (this.state === ConnectionState.Connected || this.bridge !== null) {
      this.lastActivity = broker.clock.now();
    } else {
      this.#firstChunk ??= chunk;
    }
    this.decoder.push(chunk);
    this.#decodePackets();
  }

  /** Dispatches every whole packet received, except while Authenticating (they wait). */
  #decodePackets(): void {
    const broker = this.broker;
    const decoder = this.decoder;
    try {
      while (
        (this.state === ConnectionState.Connected ||
          this.state === ConnectionState.AwaitingConnect) &&
        !this.inputHeld
      ) {
        const packet = decoder.next();
        if (packet === null) break;
        broker.metrics.messagesReceived++;
        dispatchPacket(this, packet);
      }
    } catch (error) {
      if (!isMqttError(error)) throw error;
      handleProtocolError(this, error);
    }
  }

  /**
   * Carries on with a CONNECT whose password check finished off the event loop: unless the
   * connection closed meanwhile, runs `step` (which accepts or refuses the client), then
   * the packets that arrived in between.
   */
  continueConnect(step: () => void): void {
    if (this.state !== ConnectionState.Authenticating) return;
    this.state = ConnectionState.AwaitingConnect;
    try {
      step();
    } catch (error) {
      if (!isMqttError(error)) throw error;
      handleProtocolError(this, error);
      return;
    }
    this.#decodePackets();
  }

  /**
   * The packet being handled waits for `pending`: the packets behind it wait and the socket
   * is not read until `then` has run with its value (skipped if the connection closed
   * meanwhile). `pending` must not reject.
   */
  holdInputUntil<T>(pending: Promise<T>, then: (value: T) => void): void {
    this.inputHeld = true;
    this.transport.pauseReading();
    void pending.then((value) => {
      if (this.state >= ConnectionState.Closing) return;
      this.inputHeld = false;
      this.transport.resumeReading();
      try {
        then(value);
      } catch (error) {
        if (!isMqttError(error)) throw error;
        handleProtocolError(this, error);
        return;
      }
      this.#decodePackets();
    });
  }

  /**
   * Runs `step` for a connected client outside packet dispatch (a plugin answering a
   * re-authentication later): a refusal it throws closes the connection as a protocol
   * error found while reading would.
   */
  continueConnected(step: () => void): void {
    if (this.state !== ConnectionState.Connected) return;
    try {
      step();
    } catch (error) {
      if (!isMqttError(error)) throw error;
      handleProtocolError(this, error);
    }
  }

  onDrain(): void {
    if (!this.blocked || this.state >= ConnectionState.Closing) return;
    this.blocked = false;
    if (this.out.length > 0) this.broker.flusher.markDirty(this);
    const session = this.session;
    if (session !== null && this.state === ConnectionState.Connected) {
      releaseQueued(this.broker, session);
    }
  }

  onClose(error: Error | null): void {
    if (this.state < ConnectionState.Closing) {
      if (error === null) {
        this.close(CloseReason.ConnectionLost);
      } else {
        const [reason, detail] = closeForSocketError(error);
        this.close(reason, detail);
      }
    }
    this.state = ConnectionState.Closed;
    this.broker.connectionGone(this);
  }

  // ---- Output ------------------------------------------------------------------------

  /** A frame was appended to `out`: count it and make sure it is flushed this turn. */
  packetQueued(): void {
    this.broker.metrics.messagesSent++;
    // Marked even while blocked: the flush copies forwarded frames out of the received
    // chunks they reference, so that a slow client never keeps a chunk alive.
    if (!this.flushQueued) this.broker.flusher.markDirty(this);
  }

  flush(): void {
    const out = this.out;
    if (out.length === 0 || this.state === ConnectionState.Closed) return;
    if (this.blocked) out.materialize();
    else this.#write();
  }

  #write(): void {
    const out = this.out;
    const length = out.length;
    const transport = this.transport;
    const accepted = out.hasParts ? transport.writeParts(out.parts()) : transport.write(out.view());
    this.broker.metrics.bytesSent += length;
    this.listener.bytesSent += length;
    if (this.bridge !== null) this.lastSent = this.broker.clock.now();
    // The socket keeps a reference to bytes it could not write at once.
    if (transport.writableLength === 0) out.reset();
    else out.detach();
    if (!accepted) this.blocked = true;
  }

  // ---- Lifecycle ---------------------------------------------------------------------

  /** The protocol level byte of the CONNECT being refused, for the log line. */
  requestedProtocolLevel(): number {
    const bytes = this.#firstChunk;
    if (bytes === null) return 0;
    let at = 1;
    while (at < 5 && ((bytes[at] ?? 0) & 0x80) !== 0) at++;
    at++;
    const nameLength = ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
    return bytes[at + 2 + nameLength] ?? 0;
  }

  /** CONNECT accepted: switch from the CONNECT deadline to the keepalive deadline. */
  startKeepalive(keepaliveSeconds: number): void {
    const clock = this.broker.clock;
    const deadlines = deadlineHeapFor(clock);
    const now = clock.now();
    this.lastActivity = now;
    this.#firstChunk = null;
    // [MQTT-3.1.2-24] one and a half times the keepalive, to the millisecond.
    this.keepaliveMs = keepaliveSeconds * 1500;
    // armAt() moves the CONNECT deadline's heap slot to the keepalive one.
    if (this.keepaliveMs > 0) deadlines.armAt(this, now + this.keepaliveMs);
    else deadlines.cancel(this);
  }

  /** The CONNECT deadline passed, or the keepalive one may have (DeadlineOwner). */
  onDeadline(): void {
    if (
      this.state === ConnectionState.AwaitingConnect ||
      this.state === ConnectionState.Authenticating
    ) {
      this.close(CloseReason.ProtocolError);
      return;
    }
    if (this.state !== ConnectionState.Connected || this.keepaliveMs === 0) return;
    const clock = this.broker.clock;
    const idle = clock.now() - this.lastActivity;
    if (idle >= this.keepaliveMs) {
      this.close(CloseReason.KeepaliveTimeout);
    } else {
      deadlineHeapFor(clock).armAt(this, this.lastActivity + this.keepaliveMs);
    }
  }

  /**
   * An acknowledgement held until its message was stored (persistence_durable_ack). When
   * the store failed, an MQTT 5 PUBLISH is refused with 0x80 (the client may try again);
   * otherwise the connection is closed unacknowledged, so the client resends after
   * reconnecting rather than believing the message is safe.
   */
  sendHeldAck(packetType: number, packetId: number, reasonCode: number, stored: boolean): void {
    if (this.state !== ConnectionState.Connected) return;
    if (!stored) {
      const v5 = this.protocolVersion === Versions.V5;
      if (v5 && packetType === PacketType.Puback) {
        send.puback(this, packetId, ReasonCode.UnspecifiedError);
      } else if (v5 && packetType === PacketType.Pubrec && this.session !== null) {
        const held = this.session.incoming.get(packetId);
        if (held !== undefined) {
          this.session.incoming.delete(packetId);
          this.broker.persistence?.noteIncomingReleased(this.session, held);
        }
        send.pubrec(this, packetId, ReasonCode.UnspecifiedError);
      } else {
        if (v5) send.disconnect(this, ReasonCode.UnspecifiedError);
        this.close(CloseReason.Other, 'persistent storage failed');
      }
      return;
    }
    switch (packetType) {
      case PacketType.Puback:
        send.puback(this, packetId, reasonCode);
        break;
      case PacketType.Pubrec:
        send.pubrec(this, packetId, reasonCode);
        break;
      case PacketType.Pubrel:
        send.pubrel(this, packetId);
        break;
      default:
        send.pubcomp(this, packetId);
        break;
    }
  }

  /**
   * Ends the connection: flushes what is queued (a CONNACK or DISCONNECT explaining the
   * close), closes the socket and lets the broker log it and settle the session.
   */
  close(reason: CloseReason, detail = ''): void {
    if (this.state >= ConnectionState.Closing) return;
    this.state = ConnectionState.Closing;
    this.closeReason = reason;
    this.closeDetail = detail;
    deadlineHeapFor(this.broker.clock).cancel(this);
    if (this.out.length > 0) this.#write();
    this.transport.end();
    this.broker.connectionClosed(this);
  }
}
