/**
 * Outbound packets (Mosquitto's send__*). Every frame is copied into the connection's
 * output buffer, which is written to the socket once per event-loop turn. Small
 * acknowledgements are written in place; PUBLISH bytes come from the message's cached
 * form with only the packet id (and DUP) patched in. Large PUBLISHes are the exception:
 * only their head is copied, their payload is written from the message's own Buffer.
 */
import type { Properties } from '../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../protocol/packets.ts';
import type { QoS } from '../protocol/constants.ts';
import { PacketType, ProtocolVersion } from '../protocol/constants.ts';
import type { PublishForm } from '../protocol/encoder.ts';
import { encodePacket, encodePublishForm } from '../protocol/encoder.ts';
import type { ClientConnection } from './client-connection.ts';
import { countPublishSent } from './metrics.ts';
import type { StoredMessage } from './messages/stored-message.ts';
import { LARGE_FRAME_BYTES } from '../transport/output-buffer.ts';

const FIRST_BYTE_PUBACK = 0x40;
const FIRST_BYTE_PUBREC = 0x50;
const FIRST_BYTE_PUBREL = 0x62;
const FIRST_BYTE_PUBCOMP = 0x70;

/** PUBACK/PUBREC/PUBREL/PUBCOMP: 2 bytes of packet id, plus a reason code (MQTT 5, non-zero). */
function writeAck(
  conn: ClientConnection,
  firstByte: number,
  packetId: number,
  reasonCode: number,
): void {
  const withReason = reasonCode !== 0 && conn.protocolVersion === ProtocolVersion.V5;
  const out = conn.out;
  const at = out.reserve(withReason ? 5 : 4);
  const bytes = out.bytes;
  bytes[at] = firstByte;
  bytes[at + 1] = withReason ? 3 : 2;
  bytes[at + 2] = packetId >> 8;
  bytes[at + 3] = packetId & 0xff;
  if (withReason) bytes[at + 4] = reasonCode;
  conn.packetQueued();
}

function writeEncoded(conn: ClientConnection, bytes: Buffer): void {
  conn.out.append(bytes);
  conn.packetQueued();
}

export function puback(conn: ClientConnection, packetId: number, reasonCode: number): void {
  if (conn.broker.debugLog) {
    conn.broker.log.debug(`Sending PUBACK to ${conn.logId} (m${packetId}, rc${reasonCode})`);
  }
  writeAck(conn, FIRST_BYTE_PUBACK, packetId, reasonCode);
}

export function pubrec(conn: ClientConnection, packetId: number, reasonCode: number): void {
  if (conn.broker.debugLog) {
    conn.broker.log.debug(`Sending PUBREC to ${conn.logId} (m${packetId}, rc${reasonCode})`);
  }
  writeAck(conn, FIRST_BYTE_PUBREC, packetId, reasonCode);
}

export function pubrel(conn: ClientConnection, packetId: number): void {
  if (conn.broker.debugLog) conn.broker.log.debug(`Sending PUBREL to ${conn.logId} (m${packetId})`);
  writeAck(conn, FIRST_BYTE_PUBREL, packetId, 0);
}

export function pubcomp(conn: ClientConnection, packetId: number): void {
  if (conn.broker.debugLog)
    conn.broker.log.debug(`Sending PUBCOMP to ${conn.logId} (m${packetId})`);
  writeAck(conn, FIRST_BYTE_PUBCOMP, packetId, 0);
}

export function pingresp(conn: ClientConnection): void {
  if (conn.broker.debugLog) conn.broker.log.debug(`Sending PINGRESP to ${conn.logId}`);
  const at = conn.out.reserve(2);
  conn.out.bytes[at] = 0xd0;
  conn.out.bytes[at + 1] = 0;
  conn.packetQueued();
}

type MutableProperties = { -readonly [K in keyof Properties]: Properties[K] };

/**
 * CONNACK in the connection's protocol version. For MQTT 5 the server's properties follow
 * the given ones as Mosquitto's send__connack adds them: Retain Available, Maximum Packet
 * Size and Receive Maximum on success only, Maximum QoS always when below 2.
 *
 * Returns false, sending nothing, for a CONNACK larger than the client's Maximum Packet
 * Size [MQTT-3.1.2-24] (an assigned client id can make it so): Mosquitto's
 * send__connack() refuses it the same way (packet__check_oversize).
 */
export function connack(
  conn: ClientConnection,
  sessionPresent: boolean,
  reasonCode: number,
  properties: Properties,
): boolean {
  if (conn.broker.debugLog) {
    conn.broker.log.debug(
      `Sending CONNACK to ${conn.clientId === '' ? conn.transport.remoteAddress : conn.clientId} (${sessionPresent ? 1 : 0}, ${reasonCode})`,
    );
  }
  if (conn.protocolVersion !== ProtocolVersion.V5) {
    // 3.1 / 3.1.1: four fixed bytes, written in place (no encoder, no allocation: every
    // connect passes here).
    const at = conn.out.reserve(4);
    const bytes = conn.out.bytes;
    bytes[at] = 0x20;
    bytes[at + 1] = 2;
    bytes[at + 2] = sessionPresent ? 1 : 0;
    bytes[at + 3] = reasonCode;
    conn.packetQueued();
    return true;
  }
  const config = conn.broker.config;
  const maxQos = conn.listener.config.maxQos;
  const server: MutableProperties = { ...properties };
  if (reasonCode < 0x80) {
    if (!config.retainAvailable) server.retainAvailable = 0;
    if (config.maxPacketSize > 0) server.maximumPacketSize = config.maxPacketSize;
    if (config.maxInflightMessages > 0) server.receiveMaximum = config.maxInflightMessages;
  }
  if (maxQos !== 2) server.maximumQoS = maxQos;
  const bytes = encodePacket(
    { type: PacketType.Connack, sessionPresent, reasonCode, properties: server },
    conn.protocolVersion,
  );
  const limit = conn.clientMaximumPacketSize;
  if (limit !== 0 && bytes.length > limit) return false;
  writeEncoded(conn, bytes);
  return true;
}

/**
 * CONNACK return code 1 in the two-byte 3.1.1 layout: Mosquitto answers an unsupported
 * protocol level this way whatever the client speaks (even an MQTT 5 attempt).
 */
export function connackUnsupportedVersion(conn: ClientConnection): void {
  if (conn.broker.debugLog) {
    conn.broker.log.debug(`Sending CONNACK to ${conn.transport.remoteAddress} (0, 1)`);
  }
  const at = conn.out.reserve(4);
  const bytes = conn.out.bytes;
  bytes[at] = 0x20;
  bytes[at + 1] = 2;
  bytes[at + 2] = 0;
  bytes[at + 3] = 1;
  conn.packetQueued();
}

export function suback(conn: ClientConnection, packetId: number, reasonCodes: number[]): void {
  if (conn.broker.debugLog) conn.broker.log.debug(`Sending SUBACK to ${conn.logId}`);
  writeEncoded(
    conn,
    encodePacket(
      { type: PacketType.Suback, packetId, reasonCodes, properties: EMPTY_PROPERTIES },
      conn.protocolVersion,
    ),
  );
}

export function unsuback(conn: ClientConnection, packetId: number, reasonCodes: number[]): void {
  if (conn.broker.debugLog) conn.broker.log.debug(`Sending UNSUBACK to ${conn.logId}`);
  writeEncoded(
    conn,
    encodePacket(
      {
        type: PacketType.Unsuback,
        packetId,
        reasonCodes: conn.protocolVersion === ProtocolVersion.V5 ? reasonCodes : [],
        properties: EMPTY_PROPERTIES,
      },
      conn.protocolVersion,
    ),
  );
}

/** MQTT 5 only: server-initiated DISCONNECT with a reason code. */
export function disconnect(conn: ClientConnection, reasonCode: number): void {
  if (conn.protocolVersion !== ProtocolVersion.V5) return;
  if (conn.broker.debugLog) {
    conn.broker.log.debug(`Sending DISCONNECT to ${conn.logId} (rc${reasonCode})`);
  }
  writeEncoded(
    conn,
    encodePacket(
      { type: PacketType.Disconnect, reasonCode, properties: EMPTY_PROPERTIES },
      ProtocolVersion.V5,
    ),
  );
}

/**
 * AUTH (MQTT 5 enhanced authentication): continue (0x18) or, ending a re-authentication,
 * success (0x00), with the method and the plugin's data (left out when empty, as Mosquitto).
 */
export function auth(
  conn: ClientConnection,
  reasonCode: number,
  method: string,
  data: Buffer | undefined,
): void {
  if (conn.broker.debugLog)
    conn.broker.log.debug(`Sending AUTH to ${conn.logId} (rc${reasonCode})`);
  writeEncoded(
    conn,
    encodePacket(
      {
        type: PacketType.Auth,
        reasonCode,
        properties: {
          authenticationMethod: method,
          ...(data === undefined || data.length === 0 ? {} : { authenticationData: data }),
        },
      },
      ProtocolVersion.V5,
    ),
  );
}

/**
 * The topic a client sees: without its listener's mount point (null when the topic does
 * not have it: not sent, as Mosquitto), or remapped by a bridge's `out` prefixes.
 */
function outgoingTopic(conn: ClientConnection, topic: string): string | null {
  const bridge = conn.bridge;
  if (bridge !== null) return bridge.topicOut(topic);
  const mountPoint = conn.listener.config.mountPoint;
  if (mountPoint === null) return topic;
  if (topic.length <= mountPoint.length || !topic.startsWith(mountPoint)) return null;
  return topic.slice(mountPoint.length);
}

/**
 * A PUBLISH under another topic than the message's (a mount point, a bridge's remapping).
 * Not cached: both are rare.
 */
function topicForm(
  conn: ClientConnection,
  message: StoredMessage,
  topic: string,
  qos: QoS,
  retain: boolean,
  subscriptionId: number,
  now: number,
): PublishForm {
  const v5 = conn.protocolVersion === ProtocolVersion.V5;
  let properties: Properties = EMPTY_PROPERTIES;
  if (v5) {
    const expiry = message.expiresAt === 0 ? 0 : message.remainingExpirySeconds(now);
    properties = {
      ...(subscriptionId === 0 ? {} : { subscriptionIdentifiers: [subscriptionId] }),
      ...message.properties,
      ...(expiry === 0 ? {} : { messageExpiryInterval: expiry }),
    };
  }
  return encodePublishForm(
    topic,
    message.payload,
    qos,
    retain,
    false,
    properties,
    v5 ? ProtocolVersion.V5 : ProtocolVersion.V311,
  );
}

/** publish() of a message whose received frame is this recipient's form. */
function publishRaw(
  conn: ClientConnection,
  message: StoredMessage,
  raw: Buffer,
  qos: QoS,
  retain: boolean,
  packetId: number,
  dup: boolean,
): boolean {
  const broker = conn.broker;
  const start = message.rawStart;
  const end = message.rawEnd;
  const size = end - start;
  if (conn.clientMaximumPacketSize !== 0 && size > conn.clientMaximumPacketSize) {
    broker.metrics.droppedTooLargeOut++;
    broker.log.notice(`Dropping too large outgoing PUBLISH for ${conn.logId} (${size} bytes)`);
    return false;
  }
  if (broker.debugLog) logPublish(conn, message, message.topic, qos, retain, packetId, dup);
  const byte0 = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
  // A large frame the message owns (not a shared received chunk) goes out from where it
  // is: only its head is copied per recipient (OutputBuffer.appendFrame).
  const byReference = size >= LARGE_FRAME_BYTES && !message.rawShared;
  if (qos === 0 && raw[start] === byte0 && !byReference) conn.out.appendSlice(raw, start, end);
  else {
    conn.out.appendFrame(raw, start, end, byte0, message.rawPacketIdOffset, packetId, byReference);
  }
  countSent(conn, qos, message.payloadLength);
  conn.packetQueued();
  return true;
}

/** The PUBLISH counters: broker-wide, by QoS and for the connection's listener. */
function countSent(conn: ClientConnection, qos: QoS, payloadLength: number): void {
  countPublishSent(conn.broker.metrics, qos, payloadLength);
  const listener = conn.listener;
  listener.publishSent++;
  listener.publishBytesSent += payloadLength;
}

function logPublish(
  conn: ClientConnection,
  message: StoredMessage,
  topic: string,
  qos: QoS,
  retain: boolean,
  packetId: number,
  dup: boolean,
): void {
  conn.broker.log.debug(
    `Sending PUBLISH to ${conn.logId} (d${dup ? 1 : 0}, q${qos}, r${retain ? 1 : 0}, m${packetId}, '${topic}', ... (${message.payloadLength} bytes))`,
  );
}

/**
 * PUBLISH to a client. Returns false when the message was not sent because it expired
 * or is larger than the client's Maximum Packet Size (then it is dropped for this
 * client, as Mosquitto does).
 */
export function publish(
  conn: ClientConnection,
  message: StoredMessage,
  qos: QoS,
  retain: boolean,
  subscriptionId: number,
  packetId: number,
  dup: boolean,
): boolean {
  const broker = conn.broker;
  const now = message.expiresAt === 0 ? 0 : broker.clock.now();
  if (message.expiresAt !== 0 && message.isExpired(now)) {
    broker.metrics.droppedExpired++;
    return false;
  }
  // `bridge_outgoing_retain false`, or a remote without Retain Available.
  if (retain && conn.bridge !== null && !conn.bridge.retainAvailable) retain = false;
  const direct = conn.listener.config.mountPoint === null && conn.bridge === null;
  const topic = direct ? message.topic : outgoingTopic(conn, message.topic);
  if (topic === null) return false;
  const sameTopic = topic === message.topic;
  const raw = message.rawSource;
  if (raw !== null && sameTopic && message.rawFormFits(conn.protocolVersion, qos, subscriptionId)) {
    return publishRaw(conn, message, raw, qos, retain, packetId, dup);
  }
  const form = sameTopic
    ? message.form(conn.protocolVersion, qos, retain, subscriptionId, now)
    : topicForm(conn, message, topic, qos, retain, subscriptionId, now);
  const size = form.bytes.length;
  if (conn.clientMaximumPacketSize !== 0 && size > conn.clientMaximumPacketSize) {
    broker.metrics.droppedTooLargeOut++;
    broker.log.notice(`Dropping too large outgoing PUBLISH for ${conn.logId} (${size} bytes)`);
    return false;
  }
  if (broker.debugLog) logPublish(conn, message, topic, qos, retain, packetId, dup);
  const at = conn.out.appendWithU16(form.bytes, form.packetIdOffset, packetId);
  if (dup) {
    const bytes = conn.out.bytes;
    bytes[at] = (bytes[at] ?? 0) | 0x08;
  }
  countSent(conn, qos, message.payloadLength);
  conn.packetQueued();
  return true;
}
