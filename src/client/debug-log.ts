/**
 * libmosquitto's client-side debug lines (MOSQ_LOG_DEBUG), character for character, so
 * `mosquitto_pub -d` and scripts that grep them see the same text. A client without an
 * id prints as `null` (2.0.14+, SAFE_PRINT; 2.0.11 printed glibc's `(null)`).
 */
import type { Packet, PublishPacket } from '../protocol/packets.ts';
import { PacketType } from '../protocol/constants.ts';

const name = (clientId: string | null): string => clientId ?? 'null';

/** "(d0, q1, r0, m1, 'topic', ... (5 bytes))"; an alias-only topic prints as glibc's (null). */
function publishSummary(p: PublishPacket, mid: number): string {
  const topic = p.topic === '' ? '(null)' : p.topic;
  return `(d${p.dup ? 1 : 0}, q${p.qos}, r${p.retain ? 1 : 0}, m${mid}, '${topic}', ... (${p.payload.length} bytes))`;
}

/**
 * The line for a packet we send. `mid` is the message id libmosquitto prints for PUBLISH,
 * which QoS 0 messages also get (but do not carry on the wire). SUBSCRIBE and UNSUBSCRIBE
 * print one line per filter. Returns no lines for packets libmosquitto does not log.
 */
export function sentPacketLines(clientId: string | null, packet: Packet, mid: number): string[] {
  const c = `Client ${name(clientId)}`;
  switch (packet.type) {
    case PacketType.Connect:
      return [`${c} sending CONNECT`];
    case PacketType.Publish:
      return [`${c} sending PUBLISH ${publishSummary(packet, mid)}`];
    case PacketType.Puback:
      return [`${c} sending PUBACK (m${packet.packetId}, rc${packet.reasonCode})`];
    case PacketType.Pubrec:
      return [`${c} sending PUBREC (m${packet.packetId}, rc${packet.reasonCode})`];
    case PacketType.Pubrel:
      return [`${c} sending PUBREL (m${packet.packetId})`];
    case PacketType.Pubcomp:
      return [`${c} sending PUBCOMP (m${packet.packetId})`];
    case PacketType.Subscribe:
      return packet.subscriptions.map((s) => {
        const options =
          (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4);
        return `${c} sending SUBSCRIBE (Mid: ${packet.packetId}, Topic: ${s.topicFilter}, QoS: ${s.qos}, Options: 0x${options.toString(16).padStart(2, '0')})`;
      });
    case PacketType.Unsubscribe:
      return packet.topicFilters.map(
        (f) => `${c} sending UNSUBSCRIBE (Mid: ${packet.packetId}, Topic: ${f})`,
      );
    case PacketType.Pingreq:
      return [`${c} sending PINGREQ`];
    case PacketType.Disconnect:
      return [`${c} sending DISCONNECT`];
    case PacketType.Auth:
      return [`${c} sending AUTH`];
    default:
      return [];
  }
}

/** The line for a packet we received (PUBLISH after topic-alias resolution). */
export function receivedPacketLine(clientId: string | null, packet: Packet): string | null {
  const c = `Client ${name(clientId)}`;
  switch (packet.type) {
    case PacketType.Connack:
      return `${c} received CONNACK (${packet.reasonCode})`;
    case PacketType.Publish:
      return `${c} received PUBLISH ${publishSummary(packet, packet.packetId)}`;
    case PacketType.Puback:
      return `${c} received PUBACK (Mid: ${packet.packetId}, RC:${packet.reasonCode})`;
    case PacketType.Pubrec:
      return `${c} received PUBREC (Mid: ${packet.packetId})`;
    case PacketType.Pubrel:
      return `${c} received PUBREL (Mid: ${packet.packetId})`;
    case PacketType.Pubcomp:
      return `${c} received PUBCOMP (Mid: ${packet.packetId}, RC:${packet.reasonCode})`;
    case PacketType.Suback:
      return `${c} received SUBACK`;
    case PacketType.Unsuback:
      return `${c} received UNSUBACK`;
    case PacketType.Pingresp:
      return `${c} received PINGRESP`;
    case PacketType.Disconnect:
      return `Received DISCONNECT (${packet.reasonCode})`;
    case PacketType.Auth:
      return `${c} received AUTH`;
    default:
      return null;
  }
}
