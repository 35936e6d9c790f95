/** What the client hands to applications for each received PUBLISH. */
import type { Buffer } from 'node:buffer';
import type { QoS } from '../protocol/constants.ts';
import type { Properties } from '../protocol/packets.ts';

export interface ReceivedMessage {
  /** The topic, with any topic alias already resolved. */
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  /** The packet identifier ("mid"); 0 for QoS 0. */
  readonly mid: number;
  readonly properties: Properties;
}
