/**
 * Outgoing PUBLISH flows: validation against the broker's CONNACK limits (maximum QoS,
 * retain, packet size), the in-flight window (the broker's Receive Maximum and our own
 * maxInflight; later publishes wait in order), automatic topic aliases, the QoS 1/2
 * acknowledgements, and the resend after a reconnection ([MQTT-4.4.0-1]: same packet id,
 * DUP set; PUBREL again for a flow that had its PUBREC).
 */
import type { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion, type QoS } from '../protocol/constants.ts';
import { encodePacket } from '../protocol/encoder.ts';
import { EMPTY_PROPERTIES, type Properties, type PublishPacket } from '../protocol/packets.ts';
import { isValidTopicName } from '../protocol/topic.ts';
import type { ClientSession } from './client-session.ts';
import { FlowState, OutgoingFlow, type PublishOutcome } from './client-session.ts';
import {
  abortError,
  ClientErrorCode,
  MosqErr,
  MqttClientError,
  ReasonCodeError,
  reasonString,
} from './errors.ts';

export interface PublishOptions {
  readonly qos?: QoS;
  readonly retain?: boolean;
  /** PUBLISH properties (MQTT 5). A `topicAlias` with topic '' sends the alias alone. */
  readonly properties?: Properties;
  readonly signal?: AbortSignal;
}

/** What the broker's CONNACK allows (MQTT 5 properties; defaults for 3.1.x). */
export interface ServerLimits {
  readonly receiveMaximum: number;
  readonly maximumQoS: QoS;
  readonly retainAvailable: boolean;
  readonly maximumPacketSize: number;
  readonly topicAliasMaximum: number;
}

export const NO_LIMITS: ServerLimits = {
  receiveMaximum: 65_535,
  maximumQoS: 2,
  retainAvailable: true,
  maximumPacketSize: 0,
  topicAliasMaximum: 0,
};

/** How flows reach the wire: the client's connection, when it has one. */
export interface PublishLink {
  /** Writes an encoded PUBLISH (`mid` for the debug line); false without a connection. */
  writePublish(packet: PublishPacket, bytes: Buffer, mid: number): boolean;
  /** Sends PUBREL for `mid`. */
  sendPubrel(mid: number): void;
}

function invalid(message: string): MqttClientError {
  return new MqttClientError(ClientErrorCode.InvalidArgument, MosqErr.Inval, message);
}

function rejection(mid: number, reasonCode: number, properties: Properties): ReasonCodeError {
  return new ReasonCodeError(
    mid,
    reasonCode,
    properties,
    `Publish ${mid} failed: ${reasonString(reasonCode)}.`,
  );
}

export class OutgoingPublishes {
  /** The current connection's limits; NO_LIMITS until a CONNACK says otherwise. */
  limits: ServerLimits = NO_LIMITS;
  /** Flows go out only while connected; otherwise they wait in the queue. */
  connected = false;
  private aliases = new Map<string, number>();

  constructor(
    private readonly session: ClientSession,
    private readonly link: PublishLink,
    private readonly version: ProtocolVersion,
    private readonly maxInflight: number,
    private readonly autoTopicAlias: boolean,
  ) {}

  /** A new connection: new limits, and topic aliases start over [MQTT-3.3.2-7]. */
  connect(limits: ServerLimits): void {
    this.limits = limits;
    this.aliases = new Map();
    this.connected = true;
  }

  /** Validates and queues a publish (throws for invalid arguments), then sends what fits. */
  publish(topic: string, payload: Buffer, options: PublishOptions): Promise<PublishOutcome> {
    const qos: number = options.qos ?? 0;
    const retain = options.retain ?? false;
    const properties =
      this.version === ProtocolVersion.V5
        ? (options.properties ?? EMPTY_PROPERTIES)
        : EMPTY_PROPERTIES;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`invalid QoS ${qos}`);
    if (topic === '' ? properties.topicAlias === undefined : !isValidTopicName(topic)) {
      throw invalid(`invalid publish topic '${topic}'`);
    }
    if (qos > this.limits.maximumQoS) {
      throw new MqttClientError(
        ClientErrorCode.NotSupported,
        MosqErr.QosNotSupported,
        'Requested QoS not supported on server.',
      );
    }
    if (retain && !this.limits.retainAvailable) {
      throw new MqttClientError(
        ClientErrorCode.NotSupported,
        MosqErr.RetainNotSupported,
        'Retain not supported',
      );
    }
    const signal = options.signal;
    if (signal?.aborted === true) throw abortError(signal);
    const session = this.session;
    const mid = session.nextMid();
    return new Promise<PublishOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        const index = session.queue.indexOf(flow);
        if (index >= 0) session.queue.splice(index, 1);
        if (flow.state === FlowState.Queued) session.outgoing.delete(mid);
        reject(abortError(signal as AbortSignal));
      };
      const packet: PublishPacket = {
        type: PacketType.Publish,
        dup: false,
        qos,
        retain,
        topic,
        packetId: qos > 0 ? mid : 0,
        payload,
        properties,
      };
      const flow = new OutgoingFlow(mid, packet, {
        resolve: (outcome) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (qos > 0) session.outgoing.set(mid, flow);
      session.queue.push(flow);
      this.flush();
    });
  }

  /** Sends queued publishes while connected and the in-flight window has room. */
  flush(): void {
    const queue = this.session.queue;
    if (!this.connected) return;
    const window = Math.min(this.limits.receiveMaximum, this.maxInflight);
    let inflight = this.session.inflightCount();
    while (queue.length > 0) {
      const flow = queue[0] as OutgoingFlow;
      if (flow.qos > 0 && inflight >= window) break;
      queue.shift();
      if (flow.qos > 0) inflight++;
      this.send(flow);
    }
  }

  /** PUBACK (expected AwaitPuback) or PUBCOMP (AwaitPubcomp) for `mid`. */
  acknowledged(mid: number, expected: FlowState, reasonCode: number, properties: Properties): void {
    const flow = this.session.outgoing.get(mid);
    if (flow?.state !== expected) return;
    this.session.outgoing.delete(mid);
    if (reasonCode >= 0x80) flow.settle.reject(rejection(mid, reasonCode, properties));
    else flow.settle.resolve({ mid, reasonCode, properties });
    this.flush();
  }

  /** PUBREC: on to PUBREL, or (MQTT 5, reason >= 0x80) the end of the flow. */
  received(mid: number, reasonCode: number, properties: Properties): void {
    const flow = this.session.outgoing.get(mid);
    if (reasonCode >= 0x80 && this.version === ProtocolVersion.V5) {
      if (flow?.state === FlowState.AwaitPubrec) {
        this.session.outgoing.delete(mid);
        flow.settle.reject(rejection(mid, reasonCode, properties));
        this.flush();
      }
      return;
    }
    if (flow?.state === FlowState.AwaitPubrec) flow.state = FlowState.AwaitPubcomp;
    // Unknown ids get their PUBREL too, as libmosquitto sends it (after a warning).
    this.link.sendPubrel(mid);
  }

  /** The flows that were on the wire when the previous connection ended. */
  inflight(): OutgoingFlow[] {
    return [...this.session.outgoing.values()].filter((f) => f.state !== FlowState.Queued);
  }

  /** After a reconnection: PUBLISH again with DUP, or PUBREL again. */
  resend(inflight: readonly OutgoingFlow[], sessionPresent: boolean): void {
    for (const flow of inflight) {
      if (flow.state === FlowState.AwaitPubcomp) {
        if (sessionPresent || this.version !== ProtocolVersion.V5) {
          this.link.sendPubrel(flow.mid);
        } else {
          // The broker acknowledged (PUBREC) and then lost the session: it owned the message.
          this.session.outgoing.delete(flow.mid);
          flow.settle.resolve({ mid: flow.mid, reasonCode: 0, properties: EMPTY_PROPERTIES });
        }
      } else {
        this.send(flow);
      }
    }
  }

  private send(flow: OutgoingFlow): void {
    let packet = flow.packet;
    if (flow.sent && packet.qos > 0) packet = { ...packet, dup: true };
    packet = this.applyTopicAlias(packet);
    if (!this.limits.retainAvailable && packet.retain) packet = { ...packet, retain: false };
    const bytes = encodePacket(packet, this.version);
    const limit = this.limits.maximumPacketSize;
    if (limit > 0 && bytes.length > limit) {
      this.session.outgoing.delete(flow.mid);
      flow.settle.reject(
        new MqttClientError(
          ClientErrorCode.PacketTooLarge,
          MosqErr.OversizePacket,
          'Packet larger than supported by the server.',
        ),
      );
      return;
    }
    if (!this.link.writePublish(packet, bytes, flow.mid)) return;
    flow.sent = true;
    if (packet.qos === 0) {
      flow.settle.resolve({ mid: flow.mid, reasonCode: 0, properties: EMPTY_PROPERTIES });
    } else if (flow.state === FlowState.Queued) {
      flow.state = packet.qos === 1 ? FlowState.AwaitPuback : FlowState.AwaitPubrec;
    }
  }

  /** With autoTopicAlias, replaces a known topic by its alias, or claims a free alias. */
  private applyTopicAlias(packet: PublishPacket): PublishPacket {
    if (
      !this.autoTopicAlias ||
      this.version !== ProtocolVersion.V5 ||
      packet.properties.topicAlias !== undefined ||
      packet.topic === ''
    ) {
      return packet;
    }
    const known = this.aliases.get(packet.topic);
    if (known !== undefined) {
      return { ...packet, topic: '', properties: { ...packet.properties, topicAlias: known } };
    }
    if (this.aliases.size >= this.limits.topicAliasMaximum) return packet;
    const alias = this.aliases.size + 1;
    this.aliases.set(packet.topic, alias);
    return { ...packet, properties: { ...packet.properties, topicAlias: alias } };
  }
}
