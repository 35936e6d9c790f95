/**
 * PersistenceStore: what the broker asks of a place that keeps its durable state. Shaped
 * like Mosquitto 2.1's persistence events (MOSQ_EVT_PERSIST_*): a store is told of each
 * change as it happens, and hands the whole state back at start-up. Two kinds exist:
 *
 * - incremental stores (SQLite, as Mosquitto 2.1's persist-sqlite plugin) apply each
 *   event and make them durable at commit();
 * - snapshot stores (mosquitto.db, as Mosquitto 2.0) ignore events and write the whole
 *   state at save(); with durable acknowledgements they also journal the events.
 *
 * Every method is synchronous: the broker calls them from its single thread, in the order
 * things happened. A store throws StoreError when it cannot do what it was asked.
 */
import { StateCollector } from './records.ts';
import type {
  BaseMessageRecord,
  ClientMessageRecord,
  ClientRecord,
  DurableState,
  DurableStateSink,
  MessageDirection,
  MessageState,
  RetainRecord,
  SubscriptionRecord,
  WillRecord,
} from './records.ts';

export interface PersistenceEvents {
  baseMessageAdd(message: BaseMessageRecord): void;
  baseMessageDelete(storeId: number): void;
  /** A durable session was created or its settings changed (connect, disconnect). */
  clientAdd(client: ClientRecord): void;
  /** Only the deadlines changed (disconnect: session and will expiry). */
  clientUpdate(client: ClientRecord): void;
  /** The session is gone, with its subscriptions, messages and will. */
  clientDelete(clientId: string): void;
  clientMessageAdd(message: ClientMessageRecord): void;
  clientMessageUpdate(
    clientId: string,
    storeId: number,
    direction: MessageDirection,
    state: MessageState,
    dup: boolean,
  ): void;
  clientMessageDelete(clientId: string, storeId: number, direction: MessageDirection): void;
  /** Every message of one client, in one direction or (null) both. */
  clientMessagesClear(clientId: string, direction: MessageDirection | null): void;
  subscriptionAdd(subscription: SubscriptionRecord): void;
  subscriptionDelete(clientId: string, topicFilter: string): void;
  retainSet(retain: RetainRecord): void;
  retainDelete(topic: string): void;
  willAdd(will: WillRecord): void;
  willDelete(clientId: string): void;
}

export interface PersistenceStore extends PersistenceEvents {
  /** For log lines: what and where, e.g. `/var/lib/mosquitto/mosquitto.db`. */
  readonly location: string;
  /**
   * True when the store applies events; false when it only writes whole snapshots (the
   * broker then skips the events, unless durable acknowledgements need a journal).
   */
  readonly incremental: boolean;
  /**
   * Reads the stored state into `sink`, record by record. A missing store is an empty
   * state; an unreadable one throws StoreError, possibly after some records (the caller
   * drops that sink, moves the store aside and starts empty).
   */
  load(sink: DurableStateSink): void;
  /**
   * Makes every event told so far durable: written, and with `sync` also flushed to the
   * disk (fsync) before returning. Throws StoreError when the write fails; the events are
   * then still pending and the next commit tries again.
   */
  commit(sync: boolean): void;
  /**
   * A full save of `state` (autosave, SIGUSR1, shutdown). Snapshot stores write their
   * file atomically; incremental stores may use it to compact, or ignore it.
   */
  save(state: DurableState, shutdown: boolean): void;
  /** Whether save() has anything to do (an incremental store may not need snapshots). */
  readonly wantsSnapshots: boolean;
  /** Moves an unreadable store aside (to `<file>.corrupt-<time>`); returns the new path. */
  quarantine(): string | null;
  close(): void;
}

/** The whole stored state as records (tests, tools). */
export function loadState(store: PersistenceStore): DurableState {
  const collector = new StateCollector();
  store.load(collector);
  return collector.state;
}

/** A store could not be read or written; `message` says which file and what is wrong. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
}
