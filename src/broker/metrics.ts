/** Counters behind `$SYS` (sys_tree.c's g_* globals), reset at broker start. */
export class BrokerMetrics {
  /** MQTT packets in and out. */
  messagesReceived = 0;
  messagesSent = 0;
  /** PUBLISH packets in and out, and their payload bytes. */
  publishReceived = 0;
  publishSent = 0;
  publishBytesReceived = 0;
  publishBytesSent = 0;
  /** Outgoing messages dropped by max_queued/max_inflight rules. */
  publishDropped = 0;
  /** All bytes on the wire. */
  bytesReceived = 0;
  bytesSent = 0;
  clientsExpired = 0;
  /** New sockets and CONNECT packets since the last $SYS load update. */
  socketConnections = 0;
  connectCount = 0;
}
