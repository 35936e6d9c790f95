/**
 * Typed MQTT packets: one interface per packet type, discriminated by the numeric
 * `type`. Every packet of a type has the same fields (fixed shape, so V8 keeps one
 * hidden class); fields that a protocol version lacks hold neutral values
 * (`reasonCode` 0, `properties` EMPTY_PROPERTIES for 3.1/3.1.1).
 */
import type { Buffer } from 'node:buffer';
import type { PacketType, ProtocolVersion, QoS } from './constants.ts';

/** One MQTT 5 user property. Kept as a pair in a list: order and repeats matter. */
export type UserProperty = readonly [key: string, value: string];

/**
 * MQTT 5 properties. A field is present only when its property was on the wire.
 * The encoder writes properties in the order of the object's keys, so a decoded
 * packet re-encodes to the same bytes, and the broker controls wire order (Mosquitto's
 * CONNACK order matters to byte-comparing test suites). All user properties are
 * written together where `userProperties` sits in that order.
 */
export interface Properties {
  readonly payloadFormatIndicator?: number;
  readonly messageExpiryInterval?: number;
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  /** PUBLISH (server to client) may carry several; SUBSCRIBE carries at most one. */
  readonly subscriptionIdentifiers?: readonly number[];
  readonly sessionExpiryInterval?: number;
  readonly assignedClientIdentifier?: string;
  readonly serverKeepAlive?: number;
  readonly authenticationMethod?: string;
  readonly authenticationData?: Buffer;
  readonly requestProblemInformation?: number;
  readonly willDelayInterval?: number;
  readonly requestResponseInformation?: number;
  readonly responseInformation?: string;
  readonly serverReference?: string;
  readonly reasonString?: string;
  readonly receiveMaximum?: number;
  readonly topicAliasMaximum?: number;
  readonly topicAlias?: number;
  readonly maximumQoS?: number;
  readonly retainAvailable?: number;
  readonly userProperties?: readonly UserProperty[];
  readonly maximumPacketSize?: number;
  readonly wildcardSubscriptionAvailable?: number;
  readonly subscriptionIdentifierAvailable?: number;
  readonly sharedSubscriptionAvailable?: number;
}

/** Shared by every packet without properties (all of 3.1/3.1.1); never mutate. */
export const EMPTY_PROPERTIES: Properties = Object.freeze({});

export interface Will {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  /** Will properties (MQTT 5); EMPTY_PROPERTIES otherwise. */
  readonly properties: Properties;
}

export interface ConnectPacket {
  readonly type: typeof PacketType.Connect;
  /** "MQTT" for 3.1.1 and 5.0, "MQIsdp" for 3.1. */
  readonly protocolName: string;
  readonly protocolVersion: ProtocolVersion;
  /**
   * The 0x80 bit of the protocol level byte (3.1/3.1.1 only): a Mosquitto bridge, which
   * gets no-local and retain-as-published subscriptions implicitly.
   */
  readonly isBridge: boolean;
  /** Clean Session (3.1/3.1.1) or Clean Start (5.0). */
  readonly cleanStart: boolean;
  readonly keepalive: number;
  readonly clientId: string;
  readonly will: Will | null;
  readonly username: string | null;
  readonly password: Buffer | null;
  readonly properties: Properties;
}

export interface ConnackPacket {
  readonly type: typeof PacketType.Connack;
  readonly sessionPresent: boolean;
  /** A 3.1/3.1.1 return code or a 5.0 reason code. */
  readonly reasonCode: number;
  readonly properties: Properties;
}

export interface PublishPacket {
  readonly type: typeof PacketType.Publish;
  readonly dup: boolean;
  readonly qos: QoS;
  readonly retain: boolean;
  /** May be "" in MQTT 5 when a topic alias stands in for it. */
  readonly topic: string;
  /** 0 for QoS 0 (no packet identifier on the wire). */
  readonly packetId: number;
  /** A slice of the received bytes where possible, never a copy made for its own sake. */
  readonly payload: Buffer;
  readonly properties: Properties;
}

interface AckFields {
  readonly packetId: number;
  /** 0 (success) for 3.1/3.1.1, which have no reason codes on acknowledgements. */
  readonly reasonCode: number;
  readonly properties: Properties;
}
export interface PubackPacket extends AckFields {
  readonly type: typeof PacketType.Puback;
}
export interface PubrecPacket extends AckFields {
  readonly type: typeof PacketType.Pubrec;
}
export interface PubrelPacket extends AckFields {
  readonly type: typeof PacketType.Pubrel;
}
export interface PubcompPacket extends AckFields {
  readonly type: typeof PacketType.Pubcomp;
}

export interface Subscription {
  readonly topicFilter: string;
  readonly qos: QoS;
  /** MQTT 5 subscription options; false/false/0 for 3.1/3.1.1. */
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  readonly type: typeof PacketType.Subscribe;
  readonly packetId: number;
  readonly subscriptions: readonly Subscription[];
  readonly properties: Properties;
}

export interface SubackPacket {
  readonly type: typeof PacketType.Suback;
  readonly packetId: number;
  /** Granted QoS (0-2), 0x80 failure (3.1.1), or a 5.0 reason code, one per filter. */
  readonly reasonCodes: readonly number[];
  readonly properties: Properties;
}

export interface UnsubscribePacket {
  readonly type: typeof PacketType.Unsubscribe;
  readonly packetId: number;
  readonly topicFilters: readonly string[];
  readonly properties: Properties;
}

export interface UnsubackPacket {
  readonly type: typeof PacketType.Unsuback;
  readonly packetId: number;
  /** One per filter in MQTT 5; empty in 3.1/3.1.1 (no payload). */
  readonly reasonCodes: readonly number[];
  readonly properties: Properties;
}

export interface PingreqPacket {
  readonly type: typeof PacketType.Pingreq;
}

export interface PingrespPacket {
  readonly type: typeof PacketType.Pingresp;
}

export interface DisconnectPacket {
  readonly type: typeof PacketType.Disconnect;
  /** 0 for 3.1/3.1.1 and for a 5.0 DISCONNECT with no variable header. */
  readonly reasonCode: number;
  readonly properties: Properties;
}

export interface AuthPacket {
  readonly type: typeof PacketType.Auth;
  readonly reasonCode: number;
  readonly properties: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The packet interface for a given type number. */
export type PacketOfType<T extends PacketType> = Extract<Packet, { readonly type: T }>;
