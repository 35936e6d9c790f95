/**
 * Delivery (Mosquitto's client_msg): one recipient's reference to a StoredMessage,
 * with the QoS and RETAIN flag it gets, its subscription identifier, its packet id
 * and where it stands in the QoS 1/2 flow.
 */
import type { QoS } from '../../protocol/constants.ts';
import type { StoredMessage } from './stored-message.ts';

export const DeliveryState = {
  /** Waiting in the session queue (its packet id is not in use yet). */
  Queued: 0,
  /** QoS 1 PUBLISH sent (or to be resent), waiting for PUBACK. */
  AwaitPuback: 1,
  /** QoS 2 PUBLISH sent (or to be resent), waiting for PUBREC. */
  AwaitPubrec: 2,
  /** PUBREL sent (or to be resent), waiting for PUBCOMP. */
  AwaitPubcomp: 3,
} as const;
export type DeliveryState = (typeof DeliveryState)[keyof typeof DeliveryState];

export class Delivery {
  readonly message: StoredMessage;
  readonly qos: QoS;
  readonly retain: boolean;
  /** 0 when the subscription had none. */
  readonly subscriptionId: number;
  /** Given when routed (0 for QoS 0); kept while queued, so the ids follow routing order. */
  packetId: number;
  state: DeliveryState = DeliveryState.Queued;
  /** The PUBLISH went out once already: a resend carries DUP. */
  dup = false;
  /** The change waiting for the next commit (persistence/write-behind.ts); 0 none. */
  storePending = 0;

  constructor(
    message: StoredMessage,
    qos: QoS,
    retain: boolean,
    subscriptionId: number,
    packetId = 0,
  ) {
    // A delivery outlives the turn the message arrived in.
    message.keep();
    this.message = message;
    this.qos = qos;
    this.retain = retain;
    this.subscriptionId = subscriptionId;
    this.packetId = packetId;
  }
}
