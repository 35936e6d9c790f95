/**
 * PUBLISH from a client (handle_publish.c): QoS/retain limits, topic aliases, mount
 * point, message_size_limit, the `$SYS` write rule and the ACL, then route. QoS 2
 * messages are held until PUBREL and routed then, as Mosquitto does; a repeated QoS 2
 * PUBLISH before PUBREL only gets its PUBREC again (exactly once), and a third copy
 * closes the connection.
 */
import { Buffer } from 'node:buffer';
import type { PublishPacket } from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import { PacketType, ProtocolVersion, ReasonCode } from '../../protocol/constants.ts';
import { MqttError } from '../../protocol/errors.ts';
import { LazyPublishPacket } from '../../protocol/packet-decoders.ts';
import { isValidTopicName } from '../../protocol/topic.ts';
import type { ClientConnection } from '../client-connection.ts';
import { mayPublish } from '../access.ts';
import { forwardedProperties, NEVER_EXPIRES, StoredMessage } from '../messages/stored-message.ts';
import * as send from '../send.ts';
import { requireSession } from './require-session.ts';
import { countPublishReceived } from '../metrics.ts';
import type { PluginMessage } from '../plugins/api.ts';
import { pluginClientOf } from '../plugins/client.ts';

function refuse(conn: ClientConnection, packet: PublishPacket, reasonCode: number): void {
  if (packet.qos === 1) send.puback(conn, packet.packetId, reasonCode);
  else if (packet.qos === 2) send.pubrec(conn, packet.packetId, reasonCode);
}

function describe(conn: ClientConnection, packet: PublishPacket, topic: string): string {
  return `${conn.logId} (d${packet.dup ? 1 : 0}, q${packet.qos}, r${packet.retain ? 1 : 0}, m${packet.packetId}, '${topic}', ... (${payloadLength(packet)} bytes))`;
}

/** The payload's length, without making a payload Buffer for a LazyPublishPacket. */
function payloadLength(packet: PublishPacket): number {
  return packet instanceof LazyPublishPacket ? packet.payloadLength : packet.payload.length;
}

function sameMessage(a: StoredMessage, b: StoredMessage): boolean {
  return a.qos === b.qos && a.topic === b.topic && a.payload.equals(b.payload);
}

/**
 * The message refers to the received frame rather than to a payload Buffer (see
 * LazyPublishPacket); the frame can go out again as it came when it holds the message's
 * topic (no alias, no mount point) and no properties (an MQTT 5 form without subscription
 * identifier has none either).
 */
function borrowReceivedFrame(
  conn: ClientConnection,
  packet: PublishPacket,
  message: StoredMessage,
  verbatim: boolean,
): void {
  if (!(packet instanceof LazyPublishPacket)) {
    message.borrowPayload();
    return;
  }
  const decoder = conn.decoder;
  const start = decoder.frameStart;
  const payloadStart = packet.payloadStart;
  const v5 = conn.protocolVersion === ProtocolVersion.V5;
  // The packet identifier precedes the payload (and, in MQTT 5, the empty property block).
  const packetIdOffset = message.qos === 0 ? -1 : payloadStart - (v5 ? 3 : 2) - start;
  message.borrowFrame(
    packet.payloadSource,
    start,
    decoder.frameEnd,
    payloadStart,
    verbatim,
    packetIdOffset,
    v5,
    decoder.frameOwned,
  );
}

/**
 * A message a plugin changed (message-in): published as changed, with its own payload
 * (the received frame no longer matches it), acknowledged at once.
 */
function publishChanged(
  conn: ClientConnection,
  packet: PublishPacket,
  changed: PluginMessage,
): void {
  const broker = conn.broker;
  if (!isValidTopicName(changed.topic)) {
    broker.log.warning(`Plugin changed a message from ${conn.logId} to an invalid topic; dropped.`);
    refuse(conn, packet, ReasonCode.TopicNameInvalid);
    return;
  }
  const expiry = changed.properties.messageExpiryInterval;
  const message = new StoredMessage(
    changed.topic,
    Buffer.from(changed.payload),
    changed.qos,
    changed.retain,
    forwardedProperties(changed.properties),
    expiry === undefined || expiry === 0 ? NEVER_EXPIRES : broker.clock.now() + expiry * 1000,
    conn.clientId,
    conn.username,
  );
  broker.publish(message);
  if (packet.qos === 1) send.puback(conn, packet.packetId, ReasonCode.Success);
  else if (packet.qos === 2) send.pubrec(conn, packet.packetId, ReasonCode.Success);
}

export function handlePublish(conn: ClientConnection, packet: PublishPacket): void {
  const session = requireSession(conn);
  const broker = conn.broker;
  const config = broker.config;
  const listener = conn.listener.config;
  const qos = packet.qos;

  if (qos > listener.maxQos) {
    broker.log.info(`Too high QoS in PUBLISH from ${conn.logId}, disconnecting.`);
    throw new MqttError(ReasonCode.QoSNotSupported, 'QoS above max_qos', 'MQTT-3.2.2-11');
  }
  if (packet.retain && !config.retainAvailable) {
    throw new MqttError(ReasonCode.RetainNotSupported, 'retain not available', 'MQTT-3.2.2-14');
  }

  let topic = packet.topic;
  const properties = packet.properties;
  // Most PUBLISHes carry no properties (always in 3.x): skip their lookups then.
  const plain = properties === EMPTY_PROPERTIES;
  const alias = plain ? undefined : properties.topicAlias;
  if (alias !== undefined) {
    // [MQTT-3.3.2-9] [MQTT-3.3.2-10] aliases live per connection, up to max_topic_alias.
    if (alias === 0 || alias > listener.maxTopicAlias) {
      throw new MqttError(ReasonCode.TopicAliasInvalid, 'topic alias out of range', 'MQTT-3.3.2-9');
    }
    if (topic !== '') {
      (conn.topicAliases ??= [])[alias] = topic;
    } else {
      const known = conn.topicAliases?.[alias];
      if (known === undefined) {
        throw new MqttError(ReasonCode.ProtocolError, 'unknown topic alias', 'MQTT-3.3.4');
      }
      topic = known;
    }
  } else if (topic === '') {
    throw new MqttError(ReasonCode.MalformedPacket, 'empty topic', 'MQTT-4.7.3-1');
  }
  if (
    !plain &&
    properties.responseTopic !== undefined &&
    conn.protocolVersion === ProtocolVersion.V5 &&
    !isValidTopicName(properties.responseTopic)
  ) {
    throw new MqttError(ReasonCode.ProtocolError, 'invalid response topic', 'MQTT-3.3.2-14');
  }
  // A bridge's remote publishes under its `in` prefixes; clients may have a mount point.
  const bridge = conn.bridge;
  if (bridge !== null) topic = bridge.topicIn(topic);
  else if (listener.mountPoint !== null) topic = listener.mountPoint + topic;

  const length = payloadLength(packet);
  const metrics = broker.metrics;
  countPublishReceived(metrics, packet.qos, length);
  const counters = conn.listener;
  counters.publishReceived++;
  counters.publishBytesReceived += length;

  if (config.messageSizeLimit !== 0 && length > config.messageSizeLimit) {
    metrics.droppedTooLargeIn++;
    if (broker.debugLog)
      broker.log.debug(`Dropped too large PUBLISH from ${describe(conn, packet, topic)}`);
    refuse(conn, packet, ReasonCode.PacketTooLarge);
    return;
  }
  // The acl_file write check (v5: PUBACK/PUBREC 0x87; 3.x: acknowledged and dropped).
  // Traffic of a bridge we opened is trusted, `$SYS` included, as in Mosquitto.
  if (bridge === null) {
    const security = broker.security;
    const allowed = !mayPublish(topic)
      ? false
      : security.aclActive
        ? security.mayWrite(session, topic)
        : true;
    if (allowed !== true) {
      if (allowed === false) {
        refuseDenied(conn, packet, topic);
      } else {
        // A plugin answers later: this client's next packets wait (the frame stays put, as
        // the decoder is not advanced meanwhile); everyone else goes on.
        conn.holdInputUntil(allowed, (settled) => {
          if (settled) acceptPublish(conn, packet, topic, length);
          else refuseDenied(conn, packet, topic);
        });
      }
      return;
    }
  }
  acceptPublish(conn, packet, topic, length);
}

function refuseDenied(conn: ClientConnection, packet: PublishPacket, topic: string): void {
  const broker = conn.broker;
  broker.metrics.aclDeniedPublish++;
  if (broker.debugLog) broker.log.debug(`Denied PUBLISH from ${describe(conn, packet, topic)}`);
  refuse(conn, packet, ReasonCode.NotAuthorized);
}

/** The rest of handlePublish, once the PUBLISH may go through: plugins, then route. */
function acceptPublish(
  conn: ClientConnection,
  packet: PublishPacket,
  topic: string,
  length: number,
): void {
  const broker = conn.broker;
  const session = requireSession(conn);
  const listener = conn.listener.config;
  const config = broker.config;
  const security = broker.security;
  const qos = packet.qos;
  const properties = packet.properties;
  const plain = properties === EMPTY_PROPERTIES;
  if (broker.debugLog) broker.log.debug(`Received PUBLISH from ${describe(conn, packet, topic)}`);
  const plugins = security.plugins;
  if (topic.charCodeAt(0) === 0x24 /* $ */ && topic.startsWith('$CONTROL/')) {
    // For the plugin that answers this endpoint; otherwise the message is swallowed. The
    // acknowledgement goes first: Mosquitto queues a plugin's answer for its next loop, so
    // clients (2.1's mosquitto_ctrl shell) see PUBACK before the response.
    refuse(conn, packet, ReasonCode.Success);
    plugins?.control(topic, pluginClientOf(conn), Buffer.from(packet.payload));
    return;
  }
  let changed: PluginMessage | null = null;
  if (plugins !== null && plugins.hasMessageIn) {
    const original: PluginMessage = {
      topic,
      payload: packet.payload,
      qos,
      retain: packet.retain,
      properties,
    };
    const verdict = plugins.messageIn(listener, {
      client: pluginClientOf(conn),
      message: original,
    });
    if (verdict === 'deny') {
      refuse(conn, packet, ReasonCode.NotAuthorized);
      return;
    }
    if (verdict !== undefined) changed = { ...original, ...verdict };
  }
  if (changed !== null) {
    publishChanged(conn, packet, changed);
    return;
  }
  if (packet.retain) security.noteRetained(topic, length === 0, listener);

  const expiry = plain ? undefined : properties.messageExpiryInterval;
  const message = new StoredMessage(
    topic,
    packet instanceof LazyPublishPacket ? StoredMessage.NO_PAYLOAD : packet.payload,
    qos,
    packet.retain,
    forwardedProperties(properties),
    expiry === undefined || expiry === 0 ? NEVER_EXPIRES : broker.clock.now() + expiry * 1000,
    session.clientId,
    conn.username,
  );
  borrowReceivedFrame(conn, packet, message, plain && topic === packet.topic);

  if (qos === 0) {
    broker.publish(message);
    return;
  }
  const packetId = packet.packetId;
  if (qos === 2) {
    const held = session.incoming.get(packetId);
    if (held !== undefined) {
      if (sameMessage(held, message)) {
        // A resend before PUBREL: acknowledge again, deliver once [MQTT-4.3.3-9]. But
        // only once: Mosquitto 2.0.16+ (the CVE-2023-28366 fix, handle_publish.c) counts
        // the copies and closes the connection with a protocol error at the third.
        if (session.incomingResent.has(packetId)) {
          throw new MqttError(
            ReasonCode.ProtocolError,
            `QoS 2 PUBLISH ${packetId} received a third time before PUBREL`,
            'MQTT-4.3.3',
          );
        }
        session.incomingResent.set(packetId, true);
        send.pubrec(conn, packetId, ReasonCode.Success);
        return;
      }
      broker.log.warning(
        `Reused message ID ${packetId} from ${conn.logId} detected. Clearing from storage.`,
      );
      session.incoming.delete(packetId);
      broker.persistence?.noteIncomingReleased(session, held);
    }
  }
  const maximum = config.maxInflightMessages;
  if (maximum > 0 && session.incoming.size >= maximum) {
    // Receive Maximum exceeded: refused with 0x97 rather than a DISCONNECT, as Mosquitto.
    refuse(conn, packet, ReasonCode.QuotaExceeded);
    return;
  }
  const persistence = broker.persistence;
  const eventsBefore = persistence === null ? 0 : persistence.eventCount;
  if (qos === 1) {
    const matched = broker.publish(message);
    const reasonCode =
      matched || conn.protocolVersion !== ProtocolVersion.V5
        ? ReasonCode.Success
        : ReasonCode.NoMatchingSubscribers;
    // Durable acks: a message that reached a durable session or the retained store is
    // acknowledged once stored.
    if (persistence?.mustHoldAck(eventsBefore) === true) {
      persistence.holdAck(conn, PacketType.Puback, packetId, reasonCode);
    } else {
      send.puback(conn, packetId, reasonCode);
    }
    return;
  }
  message.keep();
  session.incoming.set(packetId, message);
  session.incomingResent.delete(packetId);
  if (persistence !== null) {
    persistence.noteIncomingHeld(session, packetId, message);
    if (persistence.mustHoldAck(eventsBefore)) {
      persistence.holdAck(conn, PacketType.Pubrec, packetId, ReasonCode.Success);
      return;
    }
  }
  send.pubrec(conn, packetId, ReasonCode.Success);
}
