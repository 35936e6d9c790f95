/**
 * Explicit mapping between our Packet union and mqtt-packet 9's objects, so the two
 * codecs can be compared on the same logical packet. mqtt-packet differs in shape:
 * string `cmd`s, `messageId`, `clean`, `protocolId`, `returnCode` (3.x CONNACK),
 * `granted`, `unsubscriptions`, boolean-valued byte properties, singular
 * `subscriptionIdentifier` (number or number[]), `subscriptionIdentifiersAvailable`,
 * and user properties as an object `{k: v | v[]}`, which loses the interleaved order
 * of repeated keys (and JS puts integer-like keys first).
 */
import { Buffer } from 'node:buffer';
import mqttPacket from 'mqtt-packet';
import type {
  Packet as MqttPacket,
  PacketCmd,
  ISubscription,
  UserProperties as MqttUserProperties,
} from 'mqtt-packet';
import { PacketType, ProtocolVersion } from '../../../src/protocol/constants.ts';
import type { QoS } from '../../../src/protocol/constants.ts';
import type { Packet, Properties, UserProperty, Will } from '../../../src/protocol/packets.ts';

export type { MqttPacket };

export const CMD_OF_TYPE: Readonly<Record<PacketType, PacketCmd>> = {
  1: 'connect',
  2: 'connack',
  3: 'publish',
  4: 'puback',
  5: 'pubrec',
  6: 'pubrel',
  7: 'pubcomp',
  8: 'subscribe',
  9: 'suback',
  10: 'unsubscribe',
  11: 'unsuback',
  12: 'pingreq',
  13: 'pingresp',
  14: 'disconnect',
  15: 'auth',
};

/** Properties whose wire type is a 0/1 byte, which mqtt-packet represents as boolean. */
const BOOLEAN_PROPERTIES: ReadonlySet<string> = new Set([
  'payloadFormatIndicator',
  'requestProblemInformation',
  'requestResponseInformation',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifierAvailable',
  'sharedSubscriptionAvailable',
]);

/** Our property name -> mqtt-packet's, where they differ. */
const RENAMED_TO_MQTT: Readonly<Record<string, string>> = {
  subscriptionIdentifiers: 'subscriptionIdentifier',
  subscriptionIdentifierAvailable: 'subscriptionIdentifiersAvailable',
};
const RENAMED_FROM_MQTT: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(RENAMED_TO_MQTT).map(([ours, theirs]) => [theirs, ours]),
);

type MqttProperties = Record<string, unknown>;

// ---------------------------------------------------------------------------------
// User properties

/** Groups pairs by key the way mqtt-packet's generator input expects (lossless). */
export function groupUserProperties(pairs: readonly UserProperty[]): MqttUserProperties {
  // A null prototype so a key such as "__proto__" is an ordinary key.
  const grouped = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of pairs) {
    const current = grouped[key];
    if (current === undefined) grouped[key] = value;
    else if (Array.isArray(current)) current.push(value);
    else grouped[key] = [current, value];
  }
  return grouped;
}

/**
 * What mqtt-packet's parser makes of user properties on the wire. Besides grouping by
 * key, it tests the existing value for truthiness (`if (result[name][key])`), so a
 * repeated key whose first value is "" loses that "": [k,""],[k,"v"] -> {k: "v"}.
 * That is mqtt-packet's bug (MQTT 5 §3.3.2.3.7 allows repeats and empty strings).
 */
export function userPropertiesAsMqttPacketParses(
  pairs: readonly UserProperty[],
): MqttUserProperties {
  const grouped = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of pairs) {
    const current = grouped[key];
    if (current === undefined || current === '') grouped[key] = value;
    else if (Array.isArray(current)) current.push(value);
    else grouped[key] = [current, value];
  }
  return grouped;
}

/** Back to pairs, in the order mqtt-packet's generator writes them (own-key order). */
export function flattenUserProperties(grouped: MqttUserProperties): UserProperty[] {
  const pairs: UserProperty[] = [];
  for (const key of Object.getOwnPropertyNames(grouped)) {
    const value = grouped[key];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) pairs.push([key, v]);
    else pairs.push([key, value]);
  }
  return pairs;
}

/** Applies `map` to the user properties of a packet (and of its will), if any. */
export function mapUserProperties(
  packet: Packet,
  map: (pairs: readonly UserProperty[]) => readonly UserProperty[],
): Packet {
  const mapProps = (props: Properties): Properties =>
    props.userProperties === undefined
      ? props
      : { ...props, userProperties: map(props.userProperties) };
  if (!('properties' in packet)) return packet;
  if (packet.type === PacketType.Connect) {
    const will: Will | null =
      packet.will === null
        ? null
        : { ...packet.will, properties: mapProps(packet.will.properties) };
    return { ...packet, will, properties: mapProps(packet.properties) };
  }
  return { ...packet, properties: mapProps(packet.properties) };
}

// ---------------------------------------------------------------------------------
// Properties

export function toMqttProperties(props: Properties): MqttProperties | undefined {
  const out: MqttProperties = {};
  let any = false;
  for (const [name, value] of Object.entries(props) as [string, unknown][]) {
    if (value === undefined) continue;
    any = true;
    const theirName = RENAMED_TO_MQTT[name] ?? name;
    if (name === 'userProperties') out[theirName] = groupUserProperties(value as UserProperty[]);
    else if (BOOLEAN_PROPERTIES.has(name)) out[theirName] = value === 1;
    else out[theirName] = value;
  }
  return any ? out : undefined;
}

export function fromMqttProperties(props: MqttProperties | undefined): Properties {
  const out: Record<string, unknown> = {};
  if (props === undefined) return out;
  for (const [theirName, value] of Object.entries(props)) {
    const name = RENAMED_FROM_MQTT[theirName] ?? theirName;
    if (name === 'userProperties') out[name] = flattenUserProperties(value as MqttUserProperties);
    else if (name === 'subscriptionIdentifiers')
      out[name] = Array.isArray(value) ? value : [value as number];
    else if (BOOLEAN_PROPERTIES.has(name)) out[name] = value === true ? 1 : 0;
    else out[name] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Packets

/** Our packet as the object mqtt-packet.generate takes. */
export function toMqttPacket(packet: Packet, version: ProtocolVersion): MqttPacket {
  const cmd = CMD_OF_TYPE[packet.type];
  const withProps = <T extends object>(base: T, props: Properties): T => {
    const theirs = toMqttProperties(props);
    return theirs === undefined ? base : { ...base, properties: theirs };
  };
  switch (packet.type) {
    case PacketType.Connect: {
      const base: Record<string, unknown> = {
        cmd,
        protocolId: packet.protocolName,
        protocolVersion: packet.protocolVersion,
        clean: packet.cleanStart,
        keepalive: packet.keepalive,
        clientId: packet.clientId,
      };
      if (packet.isBridge) base.bridgeMode = true;
      if (packet.username !== null) base.username = packet.username;
      if (packet.password !== null) base.password = packet.password;
      if (packet.will !== null) {
        base.will = withProps(
          {
            topic: packet.will.topic,
            payload: packet.will.payload,
            qos: packet.will.qos,
            retain: packet.will.retain,
          },
          packet.will.properties,
        );
      }
      return withProps(base, packet.properties) as unknown as MqttPacket;
    }
    case PacketType.Connack:
      return withProps(
        version === ProtocolVersion.V5
          ? { cmd, sessionPresent: packet.sessionPresent, reasonCode: packet.reasonCode }
          : { cmd, sessionPresent: packet.sessionPresent, returnCode: packet.reasonCode },
        packet.properties,
      ) as MqttPacket;
    case PacketType.Publish:
      return withProps(
        {
          cmd,
          dup: packet.dup,
          qos: packet.qos,
          retain: packet.retain,
          topic: packet.topic,
          payload: packet.payload,
          ...(packet.qos > 0 ? { messageId: packet.packetId } : {}),
        },
        packet.properties,
      ) as MqttPacket;
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return withProps(
        { cmd, messageId: packet.packetId, reasonCode: packet.reasonCode },
        packet.properties,
      ) as MqttPacket;
    case PacketType.Subscribe:
      return withProps(
        {
          cmd,
          messageId: packet.packetId,
          subscriptions: packet.subscriptions.map((s): ISubscription => ({
            topic: s.topicFilter,
            qos: s.qos,
            nl: s.noLocal,
            rap: s.retainAsPublished,
            rh: s.retainHandling,
          })),
        },
        packet.properties,
      ) as MqttPacket;
    case PacketType.Suback:
    case PacketType.Unsuback:
      return withProps(
        { cmd, messageId: packet.packetId, granted: [...packet.reasonCodes] },
        packet.properties,
      ) as MqttPacket;
    case PacketType.Unsubscribe:
      return withProps(
        { cmd, messageId: packet.packetId, unsubscriptions: [...packet.topicFilters] },
        packet.properties,
      ) as MqttPacket;
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return { cmd } as MqttPacket;
    case PacketType.Disconnect:
    case PacketType.Auth:
      return withProps({ cmd, reasonCode: packet.reasonCode }, packet.properties) as MqttPacket;
  }
}

/** The fields of mqtt-packet's parser output, loosely typed (it adds undeclared ones). */
interface LooseMqttPacket {
  readonly cmd: PacketCmd;
  readonly [field: string]: unknown;
}

function asBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  throw new TypeError(`expected a Buffer, got ${typeof value}`);
}

function num(value: unknown, fallback?: number): number {
  if (typeof value === 'number') return value;
  if (value === undefined && fallback !== undefined) return fallback;
  throw new TypeError(`expected a number, got ${String(value)}`);
}

function str(value: unknown): string {
  if (typeof value === 'string') return value;
  throw new TypeError(`expected a string, got ${String(value)}`);
}

function props(value: unknown): Properties {
  return fromMqttProperties(value as MqttProperties | undefined);
}

/** mqtt-packet's parsed object as our packet (`version`: the version it was parsed with). */
export function fromMqttPacket(parsed: MqttPacket, version: ProtocolVersion): Packet {
  const m = parsed as unknown as LooseMqttPacket;
  const v5 = version === ProtocolVersion.V5;
  switch (m.cmd) {
    case 'connect': {
      const will = m.will as LooseMqttPacket | undefined;
      return {
        type: PacketType.Connect,
        protocolName: str(m.protocolId),
        protocolVersion: num(m.protocolVersion) as ProtocolVersion,
        isBridge: m.bridgeMode === true,
        cleanStart: m.clean === true,
        keepalive: num(m.keepalive),
        clientId: str(m.clientId),
        will:
          will === undefined
            ? null
            : {
                topic: str(will.topic),
                payload: asBuffer(will.payload),
                qos: num(will.qos) as QoS,
                retain: will.retain === true,
                properties: props(will.properties),
              },
        username: m.username === undefined ? null : str(m.username),
        password: m.password === undefined ? null : asBuffer(m.password),
        properties: props(m.properties),
      };
    }
    case 'connack':
      return {
        type: PacketType.Connack,
        sessionPresent: m.sessionPresent === true,
        reasonCode: num(v5 ? m.reasonCode : m.returnCode),
        properties: props(m.properties),
      };
    case 'publish': {
      const qos = num(m.qos) as QoS;
      return {
        type: PacketType.Publish,
        dup: m.dup === true,
        qos,
        retain: m.retain === true,
        topic: str(m.topic),
        packetId: qos > 0 ? num(m.messageId) : 0,
        payload: asBuffer(m.payload),
        properties: props(m.properties),
      };
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const type = {
        puback: PacketType.Puback,
        pubrec: PacketType.Pubrec,
        pubrel: PacketType.Pubrel,
        pubcomp: PacketType.Pubcomp,
      }[m.cmd];
      return {
        type,
        packetId: num(m.messageId),
        reasonCode: v5 ? num(m.reasonCode, 0) : 0,
        properties: props(m.properties),
      };
    }
    case 'subscribe':
      return {
        type: PacketType.Subscribe,
        packetId: num(m.messageId),
        subscriptions: (m.subscriptions as ISubscription[]).map((s) => ({
          topicFilter: s.topic,
          qos: s.qos,
          noLocal: s.nl === true,
          retainAsPublished: s.rap === true,
          retainHandling: (s.rh ?? 0) as 0 | 1 | 2,
        })),
        properties: props(m.properties),
      };
    case 'suback':
      return {
        type: PacketType.Suback,
        packetId: num(m.messageId),
        reasonCodes: [...(m.granted as number[])],
        properties: props(m.properties),
      };
    case 'unsubscribe':
      return {
        type: PacketType.Unsubscribe,
        packetId: num(m.messageId),
        topicFilters: [...(m.unsubscriptions as string[])],
        properties: props(m.properties),
      };
    case 'unsuback':
      return {
        type: PacketType.Unsuback,
        packetId: num(m.messageId),
        reasonCodes: v5 ? [...(m.granted as number[])] : [],
        properties: props(m.properties),
      };
    case 'pingreq':
      return { type: PacketType.Pingreq };
    case 'pingresp':
      return { type: PacketType.Pingresp };
    case 'disconnect':
      return {
        type: PacketType.Disconnect,
        reasonCode: v5 ? num(m.reasonCode, 0) : 0,
        properties: props(m.properties),
      };
    case 'auth':
      return {
        type: PacketType.Auth,
        reasonCode: num(m.reasonCode),
        properties: props(m.properties),
      };
  }
}

// ---------------------------------------------------------------------------------
// Running mqtt-packet

export interface MqttPacketParse {
  readonly packets: MqttPacket[];
  readonly error: Error | null;
}

/** Parses `bytes` with a fresh mqtt-packet parser that assumes `version` until a CONNECT. */
export function parseWithMqttPacket(bytes: Buffer, version: ProtocolVersion): MqttPacketParse {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: MqttPacket[] = [];
  let error: Error | null = null;
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (e: unknown) => {
    error ??= e instanceof Error ? e : new Error(String(e));
  });
  parser.parse(bytes);
  return { packets, error };
}

/** mqtt-packet's bytes for `packet` (throws when mqtt-packet refuses to generate it). */
export function generateWithMqttPacket(packet: MqttPacket, version: ProtocolVersion): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}
