/**
 * Packet identifiers for outgoing QoS 1/2 messages: counting from 1 per session, wrapping
 * after 65535, and never handing out an id that is still in flight [MQTT-2.2.1-3].
 */

export interface PacketIdsInUse {
  has(packetId: number): boolean;
  readonly size: number;
}

export class PacketIdAllocator {
  /** The last id handed out (0 before the first). */
  last = 0;

  /** The next free id; `inUse` must hold fewer than 65535 ids. */
  next(inUse: PacketIdsInUse): number {
    if (inUse.size >= 65535) throw new RangeError('all packet identifiers are in flight');
    let id = this.last;
    do {
      id = id === 65535 ? 1 : id + 1;
    } while (inUse.has(id));
    this.last = id;
    return id;
  }
}
