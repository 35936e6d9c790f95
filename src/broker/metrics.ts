/**
 * The broker's counters: what `$SYS` (sys_tree.c's g_* globals), the HTTP API's
 * `/api/v1/systree` and `/metrics` all read. They count from broker start and are never
 * reset, not even by SIGHUP.
 *
 * The hot path only ever does `metrics.field++` on these (per QoS: a branch picks the
 * field): no maps, no closures, nothing allocated per message. Per-listener counters live on the listener (ListenerCounters),
 * which each connection already holds.
 */
export class BrokerMetrics {
  /** MQTT packets in and out. */
  messagesReceived = 0;
  messagesSent = 0;
  /** PUBLISH packets in and out, and their payload bytes. */
  publishReceived = 0;
  publishSent = 0;
  publishBytesReceived = 0;
  publishBytesSent = 0;
  /** The same, by QoS. */
  publishReceivedQos0 = 0;
  publishReceivedQos1 = 0;
  publishReceivedQos2 = 0;
  publishSentQos0 = 0;
  publishSentQos1 = 0;
  publishSentQos2 = 0;
  publishBytesReceivedQos0 = 0;
  publishBytesReceivedQos1 = 0;
  publishBytesReceivedQos2 = 0;
  publishBytesSentQos0 = 0;
  publishBytesSentQos1 = 0;
  publishBytesSentQos2 = 0;
  /** Outgoing messages dropped by max_queued/max_inflight rules (`$SYS` publish/messages/dropped). */
  publishDropped = 0;
  /** Outgoing messages that expired (Message Expiry Interval) before they could be sent. */
  droppedExpired = 0;
  /** Outgoing messages larger than the client's Maximum Packet Size. */
  droppedTooLargeOut = 0;
  /** Incoming PUBLISH larger than message_size_limit. */
  droppedTooLargeIn = 0;
  /** Deliveries the subscriber's read ACL refused. */
  droppedAclRead = 0;
  /** All bytes on the wire. */
  bytesReceived = 0;
  bytesSent = 0;
  clientsExpired = 0;
  /** New sockets and CONNECT packets since the last $SYS load update. */
  socketConnections = 0;
  connectCount = 0;
  /** CONNECTs (and MQTT 5 re-authentications) refused for their credentials. */
  authFailures = 0;
  /** PUBLISH refused by the write ACL; SUBSCRIBE filters refused by a plugin's ACL. */
  aclDeniedPublish = 0;
  aclDeniedSubscribe = 0;
  /** Wills that were published (allowed by the ACL). */
  willsPublished = 0;
}

/** Counters of one listener (fields of BrokerListener, read by `/metrics`). */
export interface ListenerCounters {
  /** Sockets accepted. */
  socketsAccepted: number;
  /** Open connections (also what max_connections limits). */
  connectionCount: number;
  bytesReceived: number;
  bytesSent: number;
  publishReceived: number;
  publishSent: number;
  publishBytesReceived: number;
  publishBytesSent: number;
}

/** A PUBLISH received: the broker-wide and per-QoS counters. */
export function countPublishReceived(metrics: BrokerMetrics, qos: number, bytes: number): void {
  metrics.publishReceived++;
  metrics.publishBytesReceived += bytes;
  if (qos === 0) {
    metrics.publishReceivedQos0++;
    metrics.publishBytesReceivedQos0 += bytes;
  } else if (qos === 1) {
    metrics.publishReceivedQos1++;
    metrics.publishBytesReceivedQos1 += bytes;
  } else {
    metrics.publishReceivedQos2++;
    metrics.publishBytesReceivedQos2 += bytes;
  }
}

/** A PUBLISH sent: the broker-wide and per-QoS counters. */
export function countPublishSent(metrics: BrokerMetrics, qos: number, bytes: number): void {
  metrics.publishSent++;
  metrics.publishBytesSent += bytes;
  if (qos === 0) {
    metrics.publishSentQos0++;
    metrics.publishBytesSentQos0 += bytes;
  } else if (qos === 1) {
    metrics.publishSentQos1++;
    metrics.publishBytesSentQos1 += bytes;
  } else {
    metrics.publishSentQos2++;
    metrics.publishBytesSentQos2 += bytes;
  }
}

export function newListenerCounters(): ListenerCounters {
  return {
    socketsAccepted: 0,
    connectionCount: 0,
    bytesReceived: 0,
    bytesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    publishBytesReceived: 0,
    publishBytesSent: 0,
  };
}
