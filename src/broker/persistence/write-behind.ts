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

/** The op after a removal, or 0 when nothing is left to do. */
function removed(op: number): number {
  if (op === 0 || (op & DELETE) !== 0) return DELETE;
  // Added in this period only: nothing to write. Only updated: the row is deleted instead.
  return (op & ADD) !== 0 ? 0 : DELETE;
}

/**
 * Objects with a change waiting, in the order their first change came. The change itself
 * is marked on the object (`storePending`), so the common path (stored, delivered and
 * acknowledged within one period) costs no hashing; an entry whose change came to nothing
 * stays until the list is compacted or flushed. `owners` runs parallel (the session of a
 * delivery).
 */
class PendingList<T extends { storePending: number }, O> {
  items: T[] = [];
  owners: O[] = [];
  /** Entries whose object still has a change marked (duplicates aside). */
  live = 0;

  /** Marks `op` on `item`, listing it if it had nothing waiting. */
  mark(item: T, owner: O, op: number): void {
    const before = item.storePending;
    if (before === 0 && op !== 0) {
      this.items.push(item);
      this.owners.push(owner);
      this.live++;
    } else if (before !== 0 && op === 0) {
      this.live--;
      this.#compactIfSparse();
    }
    item.storePending = op;
  }

  /** Clears the changes of every entry of `owner` (no compaction meanwhile). */
  dropOwner(owner: O): void {
    const items = this.items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (this.owners[i] !== owner || item === undefined || item.storePending === 0) continue;
      item.storePending = 0;
      this.live--;
    }
  }

  #compactIfSparse(): void {
    const items = this.items;
    if (items.length < 1024 || items.length < this.live * 4) return;
    const keptItems: T[] = [];
    const keptOwners: O[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item === undefined || item.storePending === 0) continue;
      keptItems.push(item);
      keptOwners.push(this.owners[i] as O);
    }
    this.items = keptItems;
    this.owners = keptOwners;
    this.live = keptItems.length;
  }

  clear(): void {
    this.items = [];
    this.owners = [];
    this.live = 0;
  }
}

export class WriteBehind {
  readonly #base = new PendingList<StoredMessage, null>();
  readonly #out = new PendingList<Delivery, Session>();
  readonly #in = new Map<Session, Map<StoredMessage, number>>();
  readonly #retained = new Map<string, StoredMessage | null>();

  baseAdded(message: StoredMessage): void {
    this.#base.mark(message, null, message.storePending | ADD);
  }

  baseRemoved(message: StoredMessage): void {
    this.#base.mark(message, null, removed(message.storePending));
  }

  deliveryAdded(session: Session, delivery: Delivery): void {
    this.#out.mark(delivery, session, delivery.storePending | ADD);
  }

  deliveryUpdated(session: Session, delivery: Delivery): void {
    // A waiting insert is written in the delivery's state at flush time anyway.
    if (delivery.storePending === 0) this.#out.mark(delivery, session, UPDATE);
  }

  deliveryRemoved(session: Session, delivery: Delivery): void {
    this.#out.mark(delivery, session, removed(delivery.storePending));
  }

  #inOf(session: Session): Map<StoredMessage, number> {
    let map = this.#in.get(session);
    if (map === undefined) this.#in.set(session, (map = new Map<StoredMessage, number>()));
    return map;
  }

  incomingAdded(session: Session, packetId: number, message: StoredMessage): void {
    const map = this.#inOf(session);
    const op = map.get(message) ?? 0;
    map.set(message, (op & DELETE) | ADD | (packetId << MID_SHIFT));
  }

  incomingRemoved(session: Session, message: StoredMessage): void {
    const map = this.#inOf(session);
    const op = removed(map.get(message) ?? 0);
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
    this.#out.dropOwner(session);
    this.#in.delete(session);
  }

  get isEmpty(): boolean {
    return (
      this.#base.live === 0 &&
      this.#out.live === 0 &&
      this.#in.size === 0 &&
      this.#retained.size === 0
    );
  }

  /** Writes the net changes to `events`, in the order they first happened per kind. */
  flush(events: PersistenceEvents, source: RecordSource): void {
    const base = this.#base;
    for (const message of base.items) {
      const op = message.storePending;
      if (op === 0) continue;
      message.storePending = 0;
      if ((op & DELETE) !== 0) events.baseMessageDelete(message.storeId);
      if ((op & ADD) !== 0) events.baseMessageAdd(source.baseMessageRecord(message));
    }
    base.clear();
    const out = this.#out;
    for (let i = 0; i < out.items.length; i++) {
      const delivery = out.items[i];
      const session = out.owners[i];
      if (delivery === undefined || session === undefined) continue;
      const op = delivery.storePending;
      if (op === 0) continue;
      delivery.storePending = 0;
      const clientId = session.clientId;
      const storeId = delivery.message.storeId;
      if ((op & DELETE) !== 0) events.clientMessageDelete(clientId, storeId, MessageDirection.Out);
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
    out.clear();
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
