/**
 * Persistence: the one place where the broker reports each change of durable state, and
 * the policy of when stores write. The broker calls the `note*` methods at the moment a
 * change happens (a message queued for a durable session, acknowledged, a subscription
 * added, a retained message set, ...); they pass it on as Mosquitto 2.1's
 * MOSQ_EVT_PERSIST_* events would, with records (records.ts) built by RecordBuilder.
 * Session, subscription and will changes go to the store at once; message-level changes
 * wait in a WriteBehind buffer and reach it as their net effect at the next commit.
 *
 * Stores:
 * - a snapshot store (mosquitto.db) is written whole at autosave, SIGUSR1 and shutdown;
 *   it needs no events, so with it alone the notes only count changes (for
 *   autosave_on_changes);
 * - an event store (SQLite) applies every event and commits once per flush period, or,
 *   with durable acknowledgements, at the end of every event-loop turn that changed
 *   something, with fsync; acknowledgements held meanwhile (PUBACK, PUBREC, PUBCOMP, and
 *   PUBREL towards subscribers) are sent only after that commit. With mosquitto.db and durable acknowledgements, a SQLite
 *   journal beside the file is the event store: it holds the state in case of a crash,
 *   and is dropped after the clean shutdown's save.
 *
 * A message is added to the event store when a durable session, the retained store or a
 * held incoming QoS 2 message first refers to it, and deleted when the last of those lets
 * go (StoredMessage.storeRefs counts them; only while events are on).
 */
import type { Clock, TimerHandle } from '../../common/clock.ts';
import type { Session } from '../session.ts';
import type { Delivery } from '../messages/delivery.ts';
import type { StoredMessage } from '../messages/stored-message.ts';
import type { SubscriptionOptions } from '../router/subscription-tree.ts';
import type { DurableState, DurableStateSink } from './records.ts';
import { emptyDurableState } from './records.ts';
import type { PersistenceEvents, PersistenceStore } from './store.ts';
import { StoreError } from './store.ts';
import { RecordBuilder } from './record-builder.ts';
import { WriteBehind } from './write-behind.ts';

/** Where a held acknowledgement goes once its message is on disk (a ClientConnection). */
export interface AckTarget {
  /**
   * Sends a held PUBACK/PUBREC/PUBCOMP; `stored` false: the commit failed, so refuse
   * (or drop the connection, in 3.x) instead of acknowledging.
   */
  sendHeldAck(packetType: number, packetId: number, reasonCode: number, stored: boolean): void;
}

export interface PersistenceOptions {
  /** persistence_durable_ack: hold acknowledgements until their messages are on disk. */
  readonly durableAck: boolean;
  /** Seconds (or changes, with autosaveOnChanges) between snapshot saves; 0 never. */
  readonly autosaveInterval: number;
  readonly autosaveOnChanges: boolean;
  /** Milliseconds between commits of the event store without durable acks. */
  readonly flushPeriodMs: number;
}

export interface PersistenceLog {
  error(line: string): void;
  warning(line: string): void;
  notice(line: string): void;
  info(line: string): void;
}

/** Where a store's state goes at start-up, and what load() asks of it afterwards. */
export interface LoadTarget extends DurableStateSink {
  /** No base message, client, retain or subscription came. */
  readonly isEmpty: boolean;
  /** The highest store id met: the store's last one, or a message's above it. */
  readonly highestStoreId: number;
}

/** The broker's side: the full state for a snapshot. */
export type SnapshotSource = (persistence: Persistence) => DurableState;

export class Persistence {
  readonly snapshotStore: PersistenceStore | null;
  readonly eventStore: PersistenceStore | null;
  options: PersistenceOptions;
  /** Events go to the event store; null: only counted. */
  readonly #events: PersistenceEvents | null;
  readonly #clock: Clock;
  readonly #log: PersistenceLog;
  #snapshotSource: SnapshotSource | null = null;
  /** Builds the records (and hands out store ids). */
  readonly records: RecordBuilder;
  /** Changes since the last snapshot (autosave_on_changes). */
  changes = 0;
  /**
   * Writes to disk (snapshot saves and event-store commits), failed ones, and the time
   * they took in seconds: `/metrics`' persistence counters.
   */
  writes = 0;
  writeFailures = 0;
  writeSeconds = 0;
  /** Events told to the event store so far: whether a step changed durable state. */
  eventCount = 0;
  /** Message-level changes waiting for the next commit, reduced to their net effect. */
  readonly #pending = new WriteBehind();
  /** Events not committed yet. */
  #dirty = false;
  #commitScheduled = false;
  #flushTimer: TimerHandle | null = null;
  #autosaveTimer: TimerHandle | null = null;
  /** The last commit failed: the store's content may lag; logged once per streak. */
  #failing = false;
  /** Held acknowledgements, in arrival order (parallel arrays: no object per ack). */
  #ackTargets: AckTarget[] = [];
  #ackTypes: number[] = [];
  #ackIds: number[] = [];
  #ackCodes: number[] = [];
  #closed = false;

  constructor(
    snapshotStore: PersistenceStore | null,
    eventStore: PersistenceStore | null,
    options: PersistenceOptions,
    clock: Clock,
    log: PersistenceLog,
  ) {
    this.snapshotStore = snapshotStore;
    this.eventStore = eventStore;
    this.options = options;
    this.#events = eventStore;
    this.#clock = clock;
    this.#log = log;
    this.records = new RecordBuilder(clock);
  }

  /**
   * Whether an acknowledgement must wait for the disk: durable acks are on and the step
   * it confirms changed durable state (eventCount moved past `eventsBefore`).
   */
  mustHoldAck(eventsBefore: number): boolean {
    return this.holdsAcks && this.eventCount !== eventsBefore;
  }

  /** Whether acknowledgements wait for the disk (see holdAck). */
  get holdsAcks(): boolean {
    return this.options.durableAck && this.#events !== null;
  }

  // ---- Start-up ----------------------------------------------------------------------

  /**
   * Reads the stored state into a target made by `newTarget`: the event store when there
   * is one (with mosquitto.db, a journal left by a crash holds the newer state), else the
   * snapshot. An unreadable store is logged, moved aside and replaced by an empty state
   * (in a fresh target): never a crash loop. Returns the target that holds the state.
   */
  load<T extends LoadTarget>(newTarget: () => T): T {
    const journal = this.snapshotStore !== null ? this.eventStore : null;
    if (journal !== null) {
      const target = this.#loadFrom(journal, newTarget);
      if (!target.isEmpty) {
        this.#log.notice(
          `Restoring from journal ${journal.location} (the broker did not stop cleanly).`,
        );
        return this.#adopt(target);
      }
    }
    const primary = this.snapshotStore ?? this.eventStore;
    if (primary === null) throw new Error('persistence without a store');
    return this.#adopt(this.#loadFrom(primary, newTarget));
  }

  #loadFrom<T extends LoadTarget>(store: PersistenceStore, newTarget: () => T): T {
    const target = newTarget();
    try {
      store.load(target);
      return target;
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      this.#log.error(`Error: Unable to restore persistent database: ${error.message}`);
      const moved = store.quarantine();
      if (moved !== null) {
        this.#log.error(`The unreadable database was moved to ${moved}; starting empty.`);
      }
      const empty = newTarget();
      store.load(empty);
      return empty;
    }
  }

  #adopt<T extends LoadTarget>(target: T): T {
    this.records.lastStoreId = target.highestStoreId;
    return target;
  }

  /**
   * Starts the timers, after the broker restored `state`. With mosquitto.db and a journal,
   * the journal is refilled from the restored state, so it mirrors the broker from now on.
   */
  start(snapshotSource: SnapshotSource): void {
    this.#snapshotSource = snapshotSource;
    if (this.snapshotStore !== null && this.eventStore !== null) {
      this.eventStore.save(snapshotSource(this), false);
      this.#dirty = true;
      this.#commit(true);
    }
    if (this.snapshotStore !== null && this.options.autosaveInterval > 0) {
      this.#armAutosave();
    }
    if (this.eventStore !== null && !this.options.durableAck) this.#armFlush();
  }

  /**
   * SIGHUP: autosave_interval and autosave_on_changes apply from now on, as in Mosquitto.
   * (The stores themselves, and durable acknowledgements, stay as they were started.)
   */
  reconfigure(autosaveInterval: number, autosaveOnChanges: boolean): void {
    const options = this.options;
    if (
      options.autosaveInterval === autosaveInterval &&
      options.autosaveOnChanges === autosaveOnChanges
    ) {
      return;
    }
    this.options = { ...options, autosaveInterval, autosaveOnChanges };
    if (this.#autosaveTimer !== null) this.#clock.cancel(this.#autosaveTimer);
    this.#autosaveTimer = null;
    if (this.snapshotStore !== null && autosaveInterval > 0 && !this.#closed) this.#armAutosave();
  }

  #armAutosave(): void {
    // autosave_on_changes counts changes, checked every second as Mosquitto's loop does.
    const ms = this.options.autosaveOnChanges ? 1000 : this.options.autosaveInterval * 1000;
    this.#autosaveTimer = this.#clock.setTimer(() => {
      this.#autosaveTimer = null;
      if (!this.options.autosaveOnChanges || this.changes >= this.options.autosaveInterval) {
        this.save(false);
      }
      if (!this.#closed) this.#armAutosave();
    }, ms);
  }

  #armFlush(): void {
    this.#flushTimer = this.#clock.setTimer(() => {
      this.#flushTimer = null;
      if (this.#dirty) this.#commit(false);
      if (!this.#closed) this.#armFlush();
    }, this.options.flushPeriodMs);
  }

  // ---- Saving ------------------------------------------------------------------------

  /** A full save of the snapshot store (autosave, SIGUSR1, shutdown). False on failure. */
  save(shutdown: boolean): boolean {
    const store = this.snapshotStore;
    const source = this.#snapshotSource;
    if (store === null || source === null) {
      if (this.#dirty) this.#commit(this.options.durableAck);
      return true;
    }
    this.#log.info(`Saving in-memory database to ${store.location}.`);
    const started = performance.now();
    try {
      store.save(source(this), shutdown);
      this.#countWrite(started);
      this.changes = 0;
      return true;
    } catch (error) {
      this.#countWrite(started);
      this.writeFailures++;
      this.#log.error(`Error saving in-memory database: ${describe(error)}`);
      return false;
    }
  }

  /**
   * Shutdown: commits or saves everything, then closes the stores. With mosquitto.db and
   * a journal, the journal is emptied once the file holds the state.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#flushTimer !== null) this.#clock.cancel(this.#flushTimer);
    if (this.#autosaveTimer !== null) this.#clock.cancel(this.#autosaveTimer);
    this.#flushTimer = null;
    this.#autosaveTimer = null;
    if (this.#dirty || this.#ackTargets.length > 0) this.#commit(true);
    const saved = this.save(true);
    this.#closed = true;
    if (saved && this.snapshotStore !== null && this.eventStore !== null) {
      try {
        this.eventStore.save(emptyDurableState(), true);
        this.eventStore.commit(true);
      } catch (error) {
        this.#log.warning(`Warning: unable to empty the journal: ${describe(error)}`);
      }
    }
    this.eventStore?.close();
    this.snapshotStore?.close();
  }

  // ---- Commit ------------------------------------------------------------------------

  #changed(): void {
    this.eventCount++;
    this.#dirty = true;
    if (this.options.durableAck && !this.#commitScheduled) {
      this.#commitScheduled = true;
      setImmediate(this.#commitTurn);
    }
  }

  /** One commit serves every change and held acknowledgement of this turn. */
  readonly #commitTurn = (): void => {
    this.#commitScheduled = false;
    if (this.#closed) return;
    this.#commit(true);
  };

  #commit(sync: boolean): void {
    const store = this.eventStore;
    let stored = true;
    if (store !== null && this.#dirty) {
      const started = performance.now();
      try {
        this.#pending.flush(store, this.records);
        store.commit(sync);
        this.#countWrite(started);
        this.#dirty = false;
        if (this.#failing) {
          this.#failing = false;
          this.#log.notice(`Persistent database ${store.location} is writable again.`);
        }
      } catch (error) {
        this.#countWrite(started);
        this.writeFailures++;
        stored = false;
        if (!this.#failing) {
          this.#failing = true;
          this.#log.error(
            `Error: Unable to write persistent database ${store.location}: ${describe(error)}${this.options.durableAck ? '; refusing acknowledgements until it succeeds' : '; will retry'}.`,
          );
        }
        // Try again later even when nothing else changes.
        if (!this.#commitScheduled && this.options.durableAck) {
          this.#commitScheduled = true;
          setTimeout(this.#commitTurn, 1000).unref();
        }
      }
    }
    this.#releaseAcks(stored);
  }

  #countWrite(startedMs: number): void {
    this.writes++;
    this.writeSeconds += (performance.now() - startedMs) / 1000;
  }

  #releaseAcks(stored: boolean): void {
    const count = this.#ackTargets.length;
    if (count === 0) return;
    const targets = this.#ackTargets;
    const types = this.#ackTypes;
    const ids = this.#ackIds;
    const codes = this.#ackCodes;
    this.#ackTargets = [];
    this.#ackTypes = [];
    this.#ackIds = [];
    this.#ackCodes = [];
    for (let i = 0; i < count; i++) {
      targets[i]?.sendHeldAck(types[i] ?? 0, ids[i] ?? 0, codes[i] ?? 0, stored);
    }
  }

  /**
   * Holds an acknowledgement until the changes it confirms are committed (durable acks).
   * Must only be called when holdsAcks.
   */
  holdAck(target: AckTarget, packetType: number, packetId: number, reasonCode: number): void {
    this.#ackTargets.push(target);
    this.#ackTypes.push(packetType);
    this.#ackIds.push(packetId);
    this.#ackCodes.push(reasonCode);
    this.#changed();
  }

  #reference(message: StoredMessage): number {
    if (message.storeRefs++ === 0) this.#pending.baseAdded(message);
    return this.records.storeIdOf(message);
  }

  #release(message: StoredMessage): void {
    if (message.storeRefs === 0) return;
    if (--message.storeRefs === 0) this.#pending.baseRemoved(message);
  }

  // ---- Notes from the broker ----------------------------------------------------------

  /**
   * A session's durability may have changed (connect, DISCONNECT with a new expiry):
   * a session that survives its connection (expiry > 0) is kept with everything it
   * holds; one that no longer does is deleted.
   */
  noteSession(session: Session): void {
    const durable = session.expiryInterval > 0 && session.clientId !== '';
    const events = this.#events;
    if (events === null) {
      if (durable) this.changes++;
      session.persisted = durable;
      return;
    }
    if (durable) {
      events.clientAdd(this.records.clientRecord(session));
      if (!session.persisted) {
        session.persisted = true;
        for (const [filter, entry] of session.subscriptions) {
          events.subscriptionAdd(
            this.records.subscriptionRecord(session.clientId, filter, entry.options),
          );
        }
        for (const [packetId, message] of session.incoming) {
          this.#reference(message);
          this.#pending.incomingAdded(session, packetId, message);
        }
        for (const delivery of session.inflight.values()) this.#addDelivery(session, delivery);
        for (const delivery of session.queue) this.#addDelivery(session, delivery);
      }
      const will = session.will;
      if (will !== null) {
        events.willAdd({
          clientId: session.clientId,
          topic: will.message.topic,
          payload: will.message.payload,
          qos: will.message.qos,
          retain: will.message.retain,
          properties: will.message.properties,
        });
      } else {
        events.willDelete(session.clientId);
      }
      this.#changed();
    } else if (session.persisted) {
      this.noteSessionRemoved(session);
    }
  }

  /** Only the session's deadlines changed (it disconnected, or its will went out). */
  noteSessionDeadlines(session: Session): void {
    if (!session.persisted) return;
    const events = this.#events;
    if (events === null) return;
    events.clientUpdate(this.records.clientRecord(session));
    this.#changed();
  }

  noteWillGone(session: Session): void {
    if (!session.persisted) return;
    const events = this.#events;
    if (events === null) return;
    events.willDelete(session.clientId);
    this.#changed();
  }

  /** The session is gone: forget it with its messages (its queues are cleared after). */
  noteSessionRemoved(session: Session): void {
    if (!session.persisted) return;
    session.persisted = false;
    const events = this.#events;
    if (events === null) {
      this.changes++;
      return;
    }
    this.#pending.forget(session);
    for (const message of session.incoming.values()) this.#release(message);
    for (const delivery of session.inflight.values()) this.#release(delivery.message);
    for (const delivery of session.queue) this.#release(delivery.message);
    events.clientDelete(session.clientId);
    this.#changed();
  }

  noteSubscription(session: Session, filter: string, options: SubscriptionOptions): void {
    if (!session.persisted) return;
    this.changes++;
    const events = this.#events;
    if (events === null) return;
    events.subscriptionAdd(this.records.subscriptionRecord(session.clientId, filter, options));
    this.#changed();
  }

  noteUnsubscription(session: Session, filter: string): void {
    if (!session.persisted) return;
    this.changes++;
    const events = this.#events;
    if (events === null) return;
    events.subscriptionDelete(session.clientId, filter);
    this.#changed();
  }

  /** A delivery was queued or put in flight for a session (a new client message). */
  noteDeliveryAdded(session: Session, delivery: Delivery): void {
    if (!session.persisted) return;
    this.changes++;
    if (this.#events === null) return;
    this.#addDelivery(session, delivery);
    this.#changed();
  }

  #addDelivery(session: Session, delivery: Delivery): void {
    this.#reference(delivery.message);
    this.#pending.deliveryAdded(session, delivery);
  }

  /** A delivery moved on (sent, PUBREC received). */
  noteDeliveryUpdated(session: Session, delivery: Delivery): void {
    if (!session.persisted || this.#events === null) return;
    this.#pending.deliveryUpdated(session, delivery);
    this.#changed();
  }

  /** A delivery is done (acknowledged, refused, expired or dropped). */
  noteDeliveryRemoved(session: Session, delivery: Delivery): void {
    if (!session.persisted || this.#events === null) return;
    this.#pending.deliveryRemoved(session, delivery);
    this.#release(delivery.message);
    this.#changed();
  }

  /** An incoming QoS 2 message is held until PUBREL. */
  noteIncomingHeld(session: Session, packetId: number, message: StoredMessage): void {
    if (!session.persisted || this.#events === null) return;
    this.#reference(message);
    this.#pending.incomingAdded(session, packetId, message);
    this.#changed();
  }

  /** A held incoming QoS 2 message was released (PUBREL) or replaced. */
  noteIncomingReleased(session: Session, message: StoredMessage): void {
    if (!session.persisted || this.#events === null) return;
    this.#pending.incomingRemoved(session, message);
    this.#release(message);
    this.#changed();
  }

  /** A retained message was set (`previous` is the one it replaces, if any). */
  noteRetained(topic: string, message: StoredMessage, previous: StoredMessage | undefined): void {
    if (isSysTopic(topic)) return;
    this.changes++;
    if (this.#events === null) return;
    this.#reference(message);
    this.#pending.retainSet(topic, message);
    if (previous !== undefined) this.#release(previous);
    this.#changed();
  }

  noteRetainDeleted(topic: string, previous: StoredMessage): void {
    if (isSysTopic(topic)) return;
    this.changes++;
    if (this.#events === null) return;
    this.#pending.retainDeleted(topic);
    this.#release(previous);
    this.#changed();
  }

  /** Whether a restore counts each message's durable holders (storeRefs): events need them. */
  get countsHolders(): boolean {
    return this.#events !== null;
  }
}

function isSysTopic(topic: string): boolean {
  return topic.startsWith('$SYS');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
