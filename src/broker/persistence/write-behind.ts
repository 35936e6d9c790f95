/**
 * WriteBehind: message-level changes waiting for the next commit, reduced to their net
 * effect. Most QoS 1/2 messages are stored, delivered and acknowledged well within one
 * flush period; a message added and deleted before the commit never reaches the store,
 * and a delivery that moved through several states is written once in its last one. The
 * records are built at flush time from the broker's own objects, so nothing is copied
 * while a message is in flight.
 *
 * Only message-level changes wait here (base messages, client messages, retained
 * topics); session, subscription and will changes go to the store at once; they do not
 * depend on the order of message changes (the schema has no foreign keys). A session
 * that is deleted takes its waiting changes with it (the store's client delete removes
 * its stored rows).
 */
import type { Delivery } from '../messages/delivery.ts';
import type { StoredMessage } from '../messages/stored-message.ts';
import type { Session } from '../session.ts';
import type { BaseMessageRecord, ClientMessageRecord } from './records.ts';
import { MessageDirection } from './records.ts';
import type { PersistenceEvents } from './store.ts';

/** Not in the store yet: insert it. */
const ADD = 1;
/** In the store: delete the stored row (before an ADD, if both). */
const DELETE = 2;
/** In the store: write its current state and dup flag. */
const UPDATE = 4;
/** Incoming messages keep their packet id above the flags. */
const MID_SHIFT = 3;

/** What builds a record from the broker's objects when it is written. */
export interface RecordSource {
  baseMessageRecord(message: StoredMessage): BaseMessageRecord;
  outgoingRecord(clientId: string, delivery: Delivery): ClientMessageRecord;
  incomingRecord(clientId: string, packetId: number, message: StoredMessage): ClientMessageRecord;
  deliveryState(delivery: Delivery): ClientMessageRecord['state'];
}

function added(op: number | undefined): number {
  return op === undefined ? ADD : op | ADD;
}

/** The op after a removal, or 0 when nothing is left to do. */
function removed(op: number | undefined): number {
  if (op === undefined || (op & DELETE) !== 0) return DELETE;
  // Added in this period only (or only updated, then the row is deleted instead).
  return (op & ADD) !== 0 ? 0 : DELETE;
}

export class WriteBehind {
  readonly #base = new Map<StoredMessage, number>();
  readonly #out = new Map<Session, Map<Delivery, number>>();
  readonly #in = new Map<Session, Map<StoredMessage, number>>();
  readonly #retained = new Map<string, StoredMessage | null>();

  baseAdded(message: StoredMessage): void {
    this.#base.set(message, added(this.#base.get(message)));
  }

  baseRemoved(message: StoredMessage): void {
    const op = removed(this.#base.get(message));
    if (op === 0) this.#base.delete(message);
    else this.#base.set(message, op);
  }

  #outOf(session: Session): Map<Delivery, number> {
    let map = this.#out.get(session);
    if (map === undefined) this.#out.set(session, (map = new Map<Delivery, number>()));
    return map;
  }

  deliveryAdded(session: Session, delivery: Delivery): void {
    const map = this.#outOf(session);
    map.set(delivery, added(map.get(delivery)));
  }

  deliveryUpdated(session: Session, delivery: Delivery): void {
    const map = this.#outOf(session);
    // A waiting insert is written in the delivery's state at flush time anyway.
    if (!map.has(delivery)) map.set(delivery, UPDATE);
  }

  deliveryRemoved(session: Session, delivery: Delivery): void {
    const map = this.#outOf(session);
    const op = removed(map.get(delivery));
    if (op === 0) map.delete(delivery);
    else map.set(delivery, op);
  }

  incomingAdded(session: Session, packetId: number, message: StoredMessage): void {
    let map = this.#in.get(session);
    if (map === undefined) this.#in.set(session, (map = new Map<StoredMessage, number>()));
    const op = map.get(message);
    map.set(message, (op === undefined ? 0 : op & DELETE) | ADD | (packetId << MID_SHIFT));
  }

  incomingRemoved(session: Session, message: StoredMessage): void {
    let map = this.#in.get(session);
    if (map === undefined) this.#in.set(session, (map = new Map<StoredMessage, number>()));
    const op = removed(map.get(message));
    if (op === 0) map.delete(message);
    else map.set(message, op);
  }

  retainSet(topic: string, message: StoredMessage): void {
    this.#retained.set(topic, message);
  }

  retainDeleted(topic: string): void {
    this.#retained.set(topic, null);
  }

  /** The session's rows are being deleted: its waiting changes are moot. */
  forget(session: Session): void {
    this.#out.delete(session);
    this.#in.delete(session);
  }

  get isEmpty(): boolean {
    return (
      this.#base.size === 0 &&
      this.#out.size === 0 &&
      this.#in.size === 0 &&
      this.#retained.size === 0
    );
  }

  /** Writes the net changes to `events`, in the order they first happened per kind. */
  flush(events: PersistenceEvents, source: RecordSource): void {
    for (const [message, op] of this.#base) {
      if ((op & DELETE) !== 0) events.baseMessageDelete(message.storeId);
      if ((op & ADD) !== 0) events.baseMessageAdd(source.baseMessageRecord(message));
    }
    this.#base.clear();
    for (const [session, map] of this.#out) {
      const clientId = session.clientId;
      for (const [delivery, op] of map) {
        const storeId = delivery.message.storeId;
        if ((op & DELETE) !== 0)
          events.clientMessageDelete(clientId, storeId, MessageDirection.Out);
        if ((op & ADD) !== 0) events.clientMessageAdd(source.outgoingRecord(clientId, delivery));
        else if ((op & UPDATE) !== 0) {
          events.clientMessageUpdate(
            clientId,
            storeId,
            MessageDirection.Out,
            source.deliveryState(delivery),
            delivery.dup,
          );
        }
      }
    }
    this.#out.clear();
    for (const [session, map] of this.#in) {
      const clientId = session.clientId;
      for (const [message, op] of map) {
        if ((op & DELETE) !== 0)
          events.clientMessageDelete(clientId, message.storeId, MessageDirection.In);
        if ((op & ADD) !== 0) {
          events.clientMessageAdd(source.incomingRecord(clientId, op >>> MID_SHIFT, message));
        }
      }
    }
    this.#in.clear();
    for (const [topic, message] of this.#retained) {
      if (message === null) events.retainDelete(topic);
      else events.retainSet({ topic, storeId: message.storeId });
    }
    this.#retained.clear();
  }
}
