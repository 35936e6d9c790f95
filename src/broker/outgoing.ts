/**
 * Outgoing message flow for one session (Mosquitto's database.c): admit a delivery to
 * the in-flight window, queue it, or drop it by max_inflight/max_queued rules; release
 * queued deliveries as acknowledgements arrive; resend in-flight messages with DUP on
 * reconnect. There is no in-session retransmission (MQTT 3.1.1/5 forbid it).
 */
import type { QoS } from '../protocol/constants.ts';
import { PacketType, ReasonCode } from '../protocol/constants.ts';
import { MqttError } from '../protocol/errors.ts';
import type { Broker } from './broker.ts';
import type { ClientConnection } from './client-connection.ts';
import { Delivery, DeliveryState } from './messages/delivery.ts';
import type { StoredMessage } from './messages/stored-message.ts';
import * as send from './send.ts';
import type { Session } from './session.ts';

/** db__ready_for_flight() for QoS 1/2: an in-flight slot (and byte budget) is free. */
function readyForFlight(broker: Broker, session: Session, conn: ClientConnection): boolean {
  // Backpressure: while the socket is full, QoS 1/2 messages wait in the queue.
  if (conn.blocked) return false;
  const maximum = session.inflightMaximum;
  const maxBytes = broker.config.maxInflightBytes;
  if (maximum === 0 && maxBytes === 0) return true;
  const validCount = session.inflight.size < maximum;
  const validBytes = session.inflightBytes < maxBytes;
  if (maximum === 0) return validBytes;
  if (maxBytes === 0) return validCount;
  return validCount && validBytes;
}

/**
 * db__ready_for_flight() for QoS 0: sent at once unless the client's unsent packets
 * already reach max_queued_messages (or bytes). Packets only pile up here while the
 * socket refuses more (otherwise every turn's output is handed to the socket).
 */
function readyForFlightQos0(broker: Broker, session: Session, conn: ClientConnection): boolean {
  const config = broker.config;
  if (session.inflightMaximum === 0 && config.maxInflightBytes === 0) return true;
  if (config.maxQueuedMessages === 0 && config.maxInflightBytes === 0) return true;
  const pendingPackets = conn.blocked ? conn.out.frames : 0;
  const validBytes = session.inflightBytes - config.maxInflightBytes < config.maxQueuedBytes;
  const validCount = pendingPackets < config.maxQueuedMessages;
  if (config.maxQueuedMessages === 0) return validBytes;
  if (config.maxQueuedBytes === 0) return validCount;
  return validBytes && validCount;
}

/** db__ready_for_queue(): room in the queue (online clients also count their window). */
function readyForQueue(broker: Broker, session: Session, qos: QoS, online: boolean): boolean {
  const config = broker.config;
  if (config.maxQueuedMessages === 0 && config.maxQueuedBytes === 0) return true;
  if (qos === 0 && !config.queueQos0Messages) return false;
  const adjustCount = online ? session.inflightMaximum : 0;
  const adjustBytes = online ? config.maxInflightBytes : 0;
  const validBytes = session.queue.bytes12 - adjustBytes < config.maxQueuedBytes;
  const validCount = session.queue.count12 - adjustCount < config.maxQueuedMessages;
  if (config.maxQueuedBytes === 0) return validCount;
  if (config.maxQueuedMessages === 0) return validBytes;
  return validBytes && validCount;
}

function dropOutgoing(broker: Broker, session: Session): void {
  broker.metrics.publishDropped++;
  if (!session.isDropping) {
    session.isDropping = true;
    broker.log.notice(`Outgoing messages are being dropped for client ${session.clientId}.`);
  }
}

/**
 * Puts a QoS 1/2 delivery in flight and sends it, with the packet id it was given when
 * routed (a fresh one only if that id is in flight again after the counter wrapped).
 */
function startFlight(
  broker: Broker,
  session: Session,
  conn: ClientConnection,
  delivery: Delivery,
  fromQueue: boolean,
): void {
  let packetId = delivery.packetId;
  if (packetId === 0 || session.inflight.has(packetId)) {
    packetId = session.packetIds.next(session.inflight);
    delivery.packetId = packetId;
  }
  delivery.state = delivery.qos === 1 ? DeliveryState.AwaitPuback : DeliveryState.AwaitPubrec;
  if (
    send.publish(
      conn,
      delivery.message,
      delivery.qos,
      delivery.retain,
      delivery.subscriptionId,
      packetId,
      false,
    )
  ) {
    delivery.dup = true;
    session.inflight.set(packetId, delivery);
    session.inflightBytes += delivery.message.payloadLength;
    const persistence = broker.persistence;
    if (persistence !== null) {
      if (fromQueue) persistence.noteDeliveryUpdated(session, delivery);
      else persistence.noteDeliveryAdded(session, delivery);
    }
  } else if (fromQueue) {
    broker.persistence?.noteDeliveryRemoved(session, delivery);
  }
}

/** Queues a delivery for a session (and tells persistence). */
function enqueue(broker: Broker, session: Session, delivery: Delivery): void {
  session.queue.push(delivery);
  broker.persistence?.noteDeliveryAdded(session, delivery);
}

/**
 * Hands one matched message to a session: sent now, queued, or dropped (or skipped when
 * the ACL denies it). `qos` is already min(message, subscription) (or upgraded); the
 * listener's max_qos caps it here.
 */
export function deliverToSession(
  broker: Broker,
  session: Session,
  message: StoredMessage,
  requestedQos: QoS,
  retain: boolean,
  subscriptionId: number,
): void {
  // acl_file read check: a denied delivery is skipped silently (subs__send).
  const security = broker.security;
  // (A bridge of ours is trusted: its session is not checked, as Mosquitto.)
  if (security.aclActive && session.bridge === null) {
    // Behind a delivery whose plugin answer is pending: wait in line, in order.
    if (session.aclHeld !== null) {
      holdForAcl(broker, session, message, requestedQos, retain, subscriptionId);
      return;
    }
    const allowed = security.mayRead(session, message.topic);
    if (allowed !== true) {
      if (allowed === false) {
        broker.metrics.droppedAclRead++;
      } else {
        holdForAcl(broker, session, message, requestedQos, retain, subscriptionId);
        void allowed.then(() => {
          releaseHeldForAcl(broker, session);
        });
      }
      return;
    }
  }
  // message-out plugins may refuse or change this client's copy.
  if (security.messageOutActive && session.bridge === null) {
    const changed = security.messageOut(session, message);
    if (changed === null) return;
    message = changed;
  }
  // Mosquitto numbers a QoS 1/2 message when it routes it to the client (subs__send(),
  // mosquitto__mid_generate()), not when it sends it: one that is then dropped (queue
  // full, expired while queued, refused by an ACL reloaded meanwhile, too large for the
  // client) still uses up its id, and the ids the client sees skip it.
  const packetId = requestedQos > 0 ? session.packetIds.next(session.inflight) : 0;
  const qos = requestedQos > session.maxQos ? session.maxQos : requestedQos;
  const conn = session.connection;
  if (conn !== null) {
    if (qos === 0) {
      if (readyForFlightQos0(broker, session, conn)) {
        send.publish(conn, message, 0, retain, subscriptionId, 0, false);
      } else {
        dropOutgoing(broker, session);
      }
      return;
    }
    if (session.queue.length === 0 && readyForFlight(broker, session, conn)) {
      startFlight(
        broker,
        session,
        conn,
        new Delivery(message, qos, retain, subscriptionId, packetId),
        false,
      );
      return;
    }
    if (readyForQueue(broker, session, qos, true)) {
      enqueue(broker, session, new Delivery(message, qos, retain, subscriptionId, packetId));
    } else {
      dropOutgoing(broker, session);
    }
    return;
  }
  // Offline durable session: QoS 0 is dropped silently unless queue_qos0_messages.
  const bridge = session.bridge;
  let queueAs = qos;
  if (bridge !== null) {
    if (bridge.connecting) {
      // Mosquitto holds even QoS 0 for a bridge awaiting CONNACK (it has a socket).
      queueAs = 1;
    } else if (bridge.cleanStartLocal) {
      return;
    } else if (qos === 0 && !bridge.lazy && !broker.config.queueQos0Messages) {
      return;
    }
  } else if (qos === 0 && !broker.config.queueQos0Messages) {
    return;
  }
  if (readyForQueue(broker, session, queueAs, false)) {
    enqueue(broker, session, new Delivery(message, qos, retain, subscriptionId, packetId));
    bridge?.queuedWhileDown(session.queue.length + session.inflight.size);
  } else {
    dropOutgoing(broker, session);
  }
}

/**
 * Deliveries to one session waiting for a plugin's asynchronous read check (the first) and
 * those routed to it meanwhile: at most max_queued_messages (or 1000 without one), the
 * rest dropped as a full queue drops them.
 */
function holdForAcl(
  broker: Broker,
  session: Session,
  message: StoredMessage,
  qos: QoS,
  retain: boolean,
  subscriptionId: number,
): void {
  const held = (session.aclHeld ??= []);
  const limit = broker.config.maxQueuedMessages > 0 ? broker.config.maxQueuedMessages : 1000;
  if (held.length >= limit) {
    dropOutgoing(broker, session);
    return;
  }
  held.push(new Delivery(message, qos, retain, subscriptionId));
}

/**
 * The pending read check settled (its answer is remembered): the held deliveries go
 * through deliverToSession again in order, until one waits for another pending answer.
 */
function releaseHeldForAcl(broker: Broker, session: Session): void {
  const held = session.aclHeld;
  if (held === null) return;
  session.aclHeld = null;
  for (let i = 0; i < held.length; i++) {
    const delivery = held[i] as Delivery;
    const waiting = session.aclHeld as Delivery[] | null;
    if (waiting !== null) {
      waiting.push(delivery);
      continue;
    }
    deliverToSession(
      broker,
      session,
      delivery.message,
      delivery.qos,
      delivery.retain,
      delivery.subscriptionId,
    );
  }
}

/** Moves queued deliveries into flight while the window allows (after an ack, on drain). */
export function releaseQueued(broker: Broker, session: Session): void {
  const conn = session.connection;
  if (conn === null) return;
  for (;;) {
    const next = session.queue.peek();
    if (next === undefined) return;
    if (next.qos === 0) {
      if (!readyForFlightQos0(broker, session, conn)) return;
      session.queue.shift();
      broker.persistence?.noteDeliveryRemoved(session, next);
      send.publish(conn, next.message, 0, next.retain, next.subscriptionId, 0, false);
      continue;
    }
    if (!readyForFlight(broker, session, conn)) return;
    session.queue.shift();
    startFlight(broker, session, conn, next, true);
  }
}

/** Drops expired messages from a session's window and queue (db__expire_all_messages). */
export function expireMessages(broker: Broker, session: Session): void {
  const now = broker.clock.now();
  const persistence = broker.persistence;
  for (const [packetId, delivery] of session.inflight) {
    if (delivery.message.isExpired(now)) {
      broker.metrics.droppedExpired++;
      removeInflight(session, packetId, delivery);
      persistence?.noteDeliveryRemoved(session, delivery);
    }
  }
  session.queue.filter((delivery) => {
    if (!delivery.message.isExpired(now)) return true;
    broker.metrics.droppedExpired++;
    persistence?.noteDeliveryRemoved(session, delivery);
    return false;
  });
}

/**
 * After CONNACK on a resumed session: resend every in-flight message (PUBLISH with DUP
 * if it went out before, PUBREL for those past PUBREC), then release the queue.
 */
export function resumeSession(broker: Broker, session: Session): void {
  const conn = session.connection;
  if (conn === null) return;
  expireMessages(broker, session);
  for (const [packetId, delivery] of session.inflight) {
    if (delivery.state === DeliveryState.AwaitPubcomp) {
      send.pubrel(conn, packetId);
      continue;
    }
    const sent = send.publish(
      conn,
      delivery.message,
      delivery.qos,
      delivery.retain,
      delivery.subscriptionId,
      packetId,
      delivery.dup,
    );
    if (sent) {
      delivery.dup = true;
    } else {
      removeInflight(session, packetId, delivery);
      broker.persistence?.noteDeliveryRemoved(session, delivery);
    }
  }
  releaseQueued(broker, session);
}

function removeInflight(session: Session, packetId: number, delivery: Delivery): void {
  session.inflight.delete(packetId);
  session.inflightBytes -= delivery.message.payloadLength;
}

/**
 * PUBACK (qos 1) or PUBCOMP (qos 2) from the client: the delivery is done. An unknown
 * id is tolerated with Mosquitto's warning; a QoS or state mismatch is a protocol error.
 */
export function completeOutgoing(
  broker: Broker,
  session: Session,
  packetId: number,
  qos: 1 | 2,
  packetName: string,
): void {
  const delivery = session.inflight.get(packetId);
  if (delivery === undefined) {
    // (A bridge's connection notification goes out untracked; its PUBACK lands here.)
    if (session.bridge === null) {
      broker.log.warning(
        `Warning: Received ${packetName} from ${session.clientId} for an unknown packet identifier ${packetId}.`,
      );
    }
    return;
  }
  if (delivery.qos !== qos || (qos === 2 && delivery.state !== DeliveryState.AwaitPubcomp)) {
    throw new MqttError(
      ReasonCode.ProtocolError,
      `${packetName} for a message in another state`,
      'MQTT-4.3.3',
    );
  }
  removeInflight(session, packetId, delivery);
  broker.persistence?.noteDeliveryRemoved(session, delivery);
  releaseQueued(broker, session);
}

/** PUBREC from the client: success moves to PUBREL; a failure code (v5) ends the flow. */
export function receivedPubrec(
  broker: Broker,
  session: Session,
  conn: ClientConnection,
  packetId: number,
  reasonCode: number,
): void {
  const delivery = session.inflight.get(packetId);
  if (reasonCode >= 0x80) {
    if (delivery !== undefined) {
      if (delivery.qos !== 2 || delivery.state !== DeliveryState.AwaitPubrec) {
        throw new MqttError(ReasonCode.ProtocolError, 'PUBREC for a QoS 1 message', 'MQTT-4.3.3');
      }
      removeInflight(session, packetId, delivery);
      broker.persistence?.noteDeliveryRemoved(session, delivery);
      releaseQueued(broker, session);
    }
    return;
  }
  if (delivery === undefined) {
    broker.log.warning(
      `Warning: Received PUBREC from ${session.clientId} for an unknown packet identifier ${packetId}.`,
    );
  } else {
    if (delivery.qos !== 2) {
      throw new MqttError(ReasonCode.ProtocolError, 'PUBREC for a QoS 1 message', 'MQTT-4.3.3');
    }
    delivery.state = DeliveryState.AwaitPubcomp;
    const persistence = broker.persistence;
    if (persistence !== null) {
      const eventsBefore = persistence.eventCount;
      persistence.noteDeliveryUpdated(session, delivery);
      // Durable acks: the PUBREL goes out once the new state is stored.
      if (persistence.mustHoldAck(eventsBefore)) {
        persistence.holdAck(conn, PacketType.Pubrel, packetId, ReasonCode.Success);
        return;
      }
    }
  }
  send.pubrel(conn, packetId);
}

/** Forgets everything a session had queued or in flight (clean start, expiry). */
export function clearOutgoing(session: Session): void {
  session.inflight.clear();
  session.inflightBytes = 0;
  session.queue.clear();
  session.incoming.clear();
  session.incomingResent.clear();
}
