/**
 * SqliteStore: a PersistenceStore in a SQLite database laid out as Mosquitto 2.1's
 * persist-sqlite plugin lays it out, so either broker can start from the other's file.
 *
 * As the plugin: WAL journal, one transaction always open, every event applied to it at
 * once, and the transaction committed (and a new one begun) at each commit(); Mosquitto
 * does that every flush_period seconds from its tick. commit(true) also makes the commit
 * durable: with sync=full/extra every commit already is; otherwise the WAL (and, with
 * sync=off, the database file) is fdatasync'ed after the COMMIT, which is what SQLite's
 * FULL level would have done (SQLite refuses to change `synchronous` inside the open
 * transaction).
 *
 * Events never throw: the broker calls them from its packet handlers. Each is also noted in
 * a journal (a flat array of references, emptied at every successful commit). When SQLite
 * fails (disk full, I/O error, read-only file) the error is logged, later events are only
 * journaled, and the next commit() rolls back, replays the journal in a fresh transaction
 * and commits; if that fails too it throws StoreError with SQLite's reason and the events
 * stay pending for the commit after. An event SQLite refuses on its own merits (a
 * constraint) is logged and dropped, as Mosquitto drops it.
 *
 * How records map onto the plugin's columns (all times are absolute Unix seconds on both
 * sides; 32-bit unsigned values are stored as the signed C int Mosquitto binds, so a never
 * expiring session's 0xFFFFFFFF is -1 in the file):
 * - base_msgs: one row per BaseMessageRecord; source_id "" and a null username as NULL
 *   read back as "" and null; payload NULL when empty; properties as in properties-json.ts.
 * - clients: ClientRecord; `connection_time` is the time of clientAdd. There is no column
 *   for `lastMid`: load() derives it as Mosquitto's restore does (the packet id of the
 *   client's last outgoing QoS 1/2 message, else 0).
 * - client_msgs: ClientMessageRecord one to one (cmsg_id, dup, direction 0 in / 1 out,
 *   state as Mosquitto's enum mosquitto_msg_state); restored in rowid (arrival) order.
 * - subscriptions: the MQTT 5 options byte as is; `$share/<group>/<filter>` as written.
 * - retains, wills: one to one. A will's message expiry interval has no column (Mosquitto
 *   keeps it out of the will's properties and loses it too).
 */
import { Buffer } from 'node:buffer';
import { closeSync, existsSync, fdatasyncSync, fsyncSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  BaseMessageRecord,
  ClientMessageRecord,
  ClientRecord,
  DurableState,
  DurableStateSink,
  MessageState,
  RetainRecord,
  SubscriptionRecord,
  WillRecord,
} from '../records.ts';
import type { MessageDirection } from '../records.ts';
import type { PersistenceStore } from '../store.ts';
import { StoreError } from '../store.ts';
import type { ResolvedSqliteOptions } from './options.ts';
import { propertiesToJson } from './properties-json.ts';
import { int, readState } from './load.ts';
import { createTables } from './schema.ts';

export type SqliteLog = (level: 'error' | 'warning' | 'info', line: string) => void;

type Db = Database.Database;
type Statement = Database.Statement;
type BindValue = number | string | Buffer | null;

/** PRAGMA synchronous=FULL: every commit is synced by SQLite itself. */
const SYNC_FULL = 2;

// ---- Text in STRING (NUMERIC affinity) columns --------------------------------------------

/** SQLite's test for "a well-formed integer or real literal" (sqlite3AtoF), roughly wider. */
const NUMERIC_LITERAL = /^[ \t\n\v\f\r]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d*)?[ \t\n\v\f\r]*$/;
/** Integers SQLite stores and prints back unchanged. */
const CANONICAL_INTEGER = /^(?:0|-?[1-9]\d{0,18})$/;

/**
 * The value to bind for text going into a column declared STRING. Text SQLite would turn
 * into a number that does not print back the same ("007", "1.0", " 5", "1e3") is bound as
 * a BLOB of its UTF-8 bytes instead: SQLite leaves blobs alone, and both Mosquitto
 * (sqlite3_column_text) and we (CAST AS TEXT) read it back as the original text. Canonical
 * integers ("42") stay text, so they are stored exactly as Mosquitto stores them.
 */
export function stringValue(text: string): string | Buffer {
  const first = text.charCodeAt(0);
  // Fast path: anything not starting with a digit, sign, point or space is plain text.
  if (
    !(
      (first >= 0x30 && first <= 0x39) ||
      first === 0x2b ||
      first === 0x2d ||
      first === 0x2e ||
      first <= 0x20
    ) ||
    !NUMERIC_LITERAL.test(text)
  ) {
    return text;
  }
  if (CANONICAL_INTEGER.test(text) && fitsInt64(text)) return text;
  return Buffer.from(text, 'utf8');
}

function fitsInt64(digits: string): boolean {
  const negative = digits.charCodeAt(0) === 0x2d;
  const body = negative ? digits.slice(1) : digits;
  if (body.length < 19) return true;
  return body <= (negative ? '9223372036854775808' : '9223372036854775807');
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && code.startsWith('SQLITE_')
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}

/**
 * Errors that concern one statement only (SQLite undid just that statement and the
 * transaction goes on): replaying it would fail the same way.
 */
function isStatementError(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_CONSTRAINT') ||
      code === 'SQLITE_MISMATCH' ||
      code === 'SQLITE_TOOBIG' ||
      code === 'SQLITE_RANGE')
  );
}

// ---- Journal operations ------------------------------------------------------------------

const OP_BASE_ADD = 0;
const OP_BASE_DELETE = 1;
const OP_CLIENT_ADD = 2;
const OP_CLIENT_UPDATE = 3;
const OP_CLIENT_DELETE = 4;
const OP_CMSG_ADD = 5;
const OP_CMSG_UPDATE = 6;
const OP_CMSG_DELETE = 7;
const OP_CMSG_CLEAR = 8;
const OP_SUB_ADD = 9;
const OP_SUB_DELETE = 10;
const OP_RETAIN_SET = 11;
const OP_RETAIN_DELETE = 12;
const OP_WILL_ADD = 13;
const OP_WILL_DELETE = 14;
const OP_SAVE = 15;
/** Journal slots per event: the operation and five arguments. */
const STRIDE = 6;

const OP_NAMES = [
  'base message add',
  'base message delete',
  'client add',
  'client update',
  'client delete',
  'client message add',
  'client message update',
  'client message delete',
  'client messages clear',
  'subscription add',
  'subscription delete',
  'retain set',
  'retain delete',
  'will add',
  'will delete',
  'save',
];

/** The statements of the plugin, prepared once per open database. */
class Statements {
  readonly begin: Statement;
  readonly commit: Statement;
  readonly rollback: Statement;
  readonly baseAdd: Statement;
  readonly baseDelete: Statement;
  readonly baseDeleteForClient: Statement;
  readonly clientAdd: Statement;
  readonly clientUpdate: Statement;
  readonly clientDelete: Statement;
  readonly cmsgAdd: Statement;
  readonly cmsgUpdate: Statement;
  readonly cmsgDelete: Statement;
  readonly cmsgClear: Statement;
  readonly cmsgClearAll: Statement;
  readonly subAdd: Statement;
  readonly subDelete: Statement;
  readonly subClear: Statement;
  readonly retainSet: Statement;
  readonly retainDelete: Statement;
  readonly willAdd: Statement;
  readonly willDelete: Statement;

  constructor(db: Db) {
    this.begin = db.prepare('BEGIN;');
    this.commit = db.prepare('COMMIT;');
    this.rollback = db.prepare('ROLLBACK;');
    this.baseAdd = db.prepare(
      'INSERT INTO base_msgs (store_id, expiry_time, topic, payload, source_id, source_username, ' +
        'payloadlen, source_mid, source_port, qos, retain, properties) ' +
        'VALUES(?,?,?,?,?,?,?,?,?,?,?,?)',
    );
    this.baseDelete = db.prepare('DELETE FROM base_msgs WHERE store_id=?');
    // Messages only this client refers to, and no retain: gone with the client (as 2.1).
    this.baseDeleteForClient = db.prepare(
      'DELETE FROM base_msgs WHERE store_id IN ' +
        '(SELECT cm.store_id FROM client_msgs AS cm ' +
        'LEFT OUTER JOIN client_msgs AS oc ON oc.store_id = cm.store_id AND oc.client_id != cm.client_id ' +
        'LEFT OUTER JOIN retains AS rm ON rm.store_id = cm.store_id ' +
        'WHERE cm.client_id = ? AND oc.store_id IS NULL AND rm.store_id IS NULL)',
    );
    this.clientAdd = db.prepare(
      'INSERT OR REPLACE INTO clients (client_id, username, connection_time, will_delay_time, ' +
        'session_expiry_time, listener_port, max_packet_size, max_qos, retain_available, ' +
        'session_expiry_interval, will_delay_interval) VALUES(?,?,?,?,?,?,?,?,?,?,?)',
    );
    this.clientUpdate = db.prepare(
      'UPDATE clients SET session_expiry_time=?, will_delay_time=? WHERE client_id=?',
    );
    this.clientDelete = db.prepare('DELETE FROM clients WHERE client_id=?');
    this.cmsgAdd = db.prepare(
      'INSERT INTO client_msgs (client_id,cmsg_id,store_id,dup,direction,mid,qos,retain,state,' +
        'subscription_identifier) VALUES(?,?,?,?,?,?,?,?,?,?)',
    );
    // Mosquitto's update ignores the direction; a message can be held both ways at once
    // (a QoS 2 message released to its own publisher), so ours does not.
    this.cmsgUpdate = db.prepare(
      'UPDATE client_msgs SET state=?,dup=? WHERE client_id=? AND store_id=? AND direction=?',
    );
    this.cmsgDelete = db.prepare(
      'DELETE FROM client_msgs WHERE client_id=? AND store_id=? AND direction=?',
    );
    this.cmsgClear = db.prepare('DELETE FROM client_msgs WHERE client_id=? AND direction=?');
    this.cmsgClearAll = db.prepare('DELETE FROM client_msgs WHERE client_id=?');
    this.subAdd = db.prepare(
      'INSERT OR REPLACE INTO subscriptions ' +
        '(client_id, topic, subscription_options, subscription_identifier) VALUES (?,?,?,?)',
    );
    this.subDelete = db.prepare('DELETE FROM subscriptions WHERE client_id=? and topic=?');
    this.subClear = db.prepare('DELETE FROM subscriptions WHERE client_id=?');
    this.retainSet = db.prepare('INSERT OR REPLACE INTO retains (topic, store_id) VALUES(?,?)');
    this.retainDelete = db.prepare('DELETE FROM retains WHERE topic=?');
    this.willAdd = db.prepare(
      'INSERT OR REPLACE INTO wills ' +
        '(client_id, payload, topic, payloadlen, qos, retain, properties) VALUES(?,?,?,?,?,?,?)',
    );
    this.willDelete = db.prepare('DELETE FROM wills WHERE client_id=?');
  }
}

export class SqliteStore implements PersistenceStore {
  readonly incremental = true;
  readonly wantsSnapshots = false;
  /** The database file. */
  readonly location: string;
  /** Seconds between the broker's routine commits (plugin_opt_flush_period). */
  readonly flushPeriod: number;
  /** PRAGMA synchronous of every commit. */
  readonly synchronous: number;
  readonly #pageSize: number;
  readonly #log: SqliteLog;

  #db: Db | null = null;
  /** A database that failed to open, held until quarantine() or close(). */
  #failed: Db | null = null;
  #st: Statements | null = null;
  /** Events since the last successful commit: op and five arguments each. */
  #journal: unknown[] = [];
  /** Events were told since the last commit. */
  #dirty = false;
  /** SQLite failed: the open transaction cannot be trusted; commit() replays the journal. */
  #broken = false;
  /** Committed changes not yet on the disk (commits below synchronous=FULL). */
  #unsynced = false;
  #walFd = -1;
  #dbFd = -1;
  #dirSynced = false;

  constructor(options: ResolvedSqliteOptions, log: SqliteLog) {
    this.location = options.file;
    this.flushPeriod = options.flushPeriod;
    this.synchronous = options.synchronous;
    this.#pageSize = options.pageSize;
    this.#log = log;
  }

  // ---- Opening -------------------------------------------------------------------------

  #open(): Statements {
    if (this.#st !== null) return this.#st;
    this.#closeFailed();
    const file = this.location;
    let db: Db;
    try {
      db = new Database(file, { timeout: 0 });
    } catch (error) {
      throw new StoreError(`Sqlite persistence: Error opening ${file}: ${reasonOf(error)}`, {
        cause: error,
      });
    }
    try {
      if (this.#pageSize > 0) db.pragma(`page_size=${this.#pageSize}`);
      const mode = db.pragma('journal_mode=WAL', { simple: true });
      if (mode !== 'wal') {
        this.#log(
          'warning',
          `Warning: Sqlite persistence: ${file} is in ${String(mode)} mode, not WAL.`,
        );
      }
      db.pragma('foreign_keys = ON');
      db.pragma(`synchronous=${this.synchronous}`);
      db.exec('BEGIN IMMEDIATE;');
      try {
        createTables(db, file);
        db.exec('COMMIT;');
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK;');
        throw error;
      }
      const statements = new Statements(db);
      statements.begin.run();
      this.#db = db;
      this.#st = statements;
      return statements;
    } catch (error) {
      // Kept open until quarantine() has moved the files: closing now would delete the
      // -wal and -shm that belong with it.
      this.#failed = db;
      if (error instanceof StoreError) throw error;
      throw new StoreError(
        `Sqlite persistence: Error opening database ${file}: ${reasonOf(error)}`,
        { cause: error },
      );
    }
  }

  // ---- Loading -------------------------------------------------------------------------

  load(sink: DurableStateSink): void {
    const st = this.#open();
    const db = this.#db as Db;
    try {
      this.#renumberUnsafeIds(db, st);
      readState(db, sink, this.#log);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(
        `Sqlite persistence: Error reading ${this.location}: ${reasonOf(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Store ids above 2^53 (Mosquitto's ids carry a node id in their top bits when a plugin
   * sets one) do not fit a JS number: such messages get new ids after the largest safe one,
   * in base_msgs, client_msgs and retains alike, committed at once.
   */
  #renumberUnsafeIds(db: Db, st: Statements): void {
    // A search of the store_id index finds whether there is any; the list in rowid order
    // below scans the whole table.
    const unsafeOnes = 'FROM base_msgs WHERE store_id > 9007199254740991';
    if (db.prepare(`SELECT 1 ${unsafeOnes} LIMIT 1`).get() === undefined) return;
    const unsafe = db
      .prepare(`SELECT store_id ${unsafeOnes} ORDER BY rowid`)
      .safeIntegers(true)
      .pluck()
      .all() as bigint[];
    let next = int(
      db
        .prepare('SELECT max(store_id) FROM base_msgs WHERE store_id <= 9007199254740991')
        .pluck()
        .get(),
    );
    const statements = [
      db.prepare('UPDATE base_msgs SET store_id=? WHERE store_id=?'),
      db.prepare('UPDATE client_msgs SET store_id=? WHERE store_id=?'),
      db.prepare('UPDATE retains SET store_id=? WHERE store_id=?'),
    ];
    for (const old of unsafe) {
      next++;
      for (const statement of statements) statement.run(next, old);
    }
    this.#commitOpen(st);
    st.begin.run();
    this.#log(
      'warning',
      `Warning: Sqlite persistence: renumbered ${unsafe.length} stored messages whose ids do not fit in 53 bits.`,
    );
  }

  // ---- Events --------------------------------------------------------------------------

  baseMessageAdd(message: BaseMessageRecord): void {
    this.#event(OP_BASE_ADD, message, null, null, null, null);
  }
  baseMessageDelete(storeId: number): void {
    this.#event(OP_BASE_DELETE, storeId, null, null, null, null);
  }
  clientAdd(client: ClientRecord): void {
    this.#event(OP_CLIENT_ADD, client, null, null, null, null);
  }
  clientUpdate(client: ClientRecord): void {
    this.#event(OP_CLIENT_UPDATE, client, null, null, null, null);
  }
  clientDelete(clientId: string): void {
    this.#event(OP_CLIENT_DELETE, clientId, null, null, null, null);
  }
  clientMessageAdd(message: ClientMessageRecord): void {
    this.#event(OP_CMSG_ADD, message, null, null, null, null);
  }
  clientMessageUpdate(
    clientId: string,
    storeId: number,
    direction: MessageDirection,
    state: MessageState,
    dup: boolean,
  ): void {
    this.#event(OP_CMSG_UPDATE, clientId, storeId, direction, state, dup);
  }
  clientMessageDelete(clientId: string, storeId: number, direction: MessageDirection): void {
    this.#event(OP_CMSG_DELETE, clientId, storeId, direction, null, null);
  }
  clientMessagesClear(clientId: string, direction: MessageDirection | null): void {
    this.#event(OP_CMSG_CLEAR, clientId, direction, null, null, null);
  }
  subscriptionAdd(subscription: SubscriptionRecord): void {
    this.#event(OP_SUB_ADD, subscription, null, null, null, null);
  }
  subscriptionDelete(clientId: string, topicFilter: string): void {
    this.#event(OP_SUB_DELETE, clientId, topicFilter, null, null, null);
  }
  retainSet(retain: RetainRecord): void {
    this.#event(OP_RETAIN_SET, retain, null, null, null, null);
  }
  retainDelete(topic: string): void {
    this.#event(OP_RETAIN_DELETE, topic, null, null, null, null);
  }
  willAdd(will: WillRecord): void {
    this.#event(OP_WILL_ADD, will, null, null, null, null);
  }
  willDelete(clientId: string): void {
    this.#event(OP_WILL_DELETE, clientId, null, null, null, null);
  }

  /**
   * Replaces everything stored by `state`, inside the open transaction (the broker uses
   * this to refill or empty a journal store). The store keeps a reference to `state` until
   * the next successful commit, in case it has to be replayed.
   */
  save(state: DurableState, _shutdown: boolean): void {
    // Whatever came before is overwritten: the journal need only hold the save.
    this.#journal.length = 0;
    this.#event(OP_SAVE, state, null, null, null, null);
  }

  #event(op: number, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown): void {
    const journal = this.#journal;
    const at = journal.length;
    journal.push(op, a, b, c, d, e);
    this.#dirty = true;
    if (this.#broken) return;
    const st = this.#st;
    if (st === null) {
      // Not open (load() not called, or it failed): the next commit opens and replays.
      this.#broken = true;
      return;
    }
    try {
      this.#apply(st, op, a, b, c, d, e);
    } catch (error) {
      if (isStatementError(error) && (this.#db as Db).inTransaction) {
        journal.length = at;
        this.#log(
          'error',
          `Error: Sqlite persistence: ${OP_NAMES[op] ?? 'event'} refused by ${this.location}: ${reasonOf(error)}`,
        );
        return;
      }
      this.#broken = true;
      this.#log(
        'error',
        `Error: Sqlite persistence: writing ${this.location} failed: ${reasonOf(error)}; the next commit retries.`,
      );
    }
  }

  #apply(
    st: Statements,
    op: number,
    a: unknown,
    b: unknown,
    c: unknown,
    d: unknown,
    e: unknown,
  ): void {
    switch (op) {
      case OP_BASE_ADD:
        this.#baseAdd(st, a as BaseMessageRecord);
        break;
      case OP_BASE_DELETE:
        st.baseDelete.run(a);
        break;
      case OP_CLIENT_ADD:
        this.#clientAdd(st, a as ClientRecord);
        break;
      case OP_CLIENT_UPDATE: {
        const client = a as ClientRecord;
        st.clientUpdate.run(client.sessionExpiryTime, client.willDelayTime, client.clientId);
        break;
      }
      case OP_CLIENT_DELETE: {
        const clientId = a as string;
        st.subClear.run(clientId);
        // Before the client's messages go: the query looks at them.
        st.baseDeleteForClient.run(clientId);
        st.cmsgClearAll.run(clientId);
        st.clientDelete.run(clientId);
        st.willDelete.run(clientId);
        break;
      }
      case OP_CMSG_ADD:
        this.#cmsgAdd(st, a as ClientMessageRecord);
        break;
      case OP_CMSG_UPDATE:
        st.cmsgUpdate.run(d, e === true ? 1 : 0, a, b, c);
        break;
      case OP_CMSG_DELETE:
        st.cmsgDelete.run(a, b, c);
        break;
      case OP_CMSG_CLEAR:
        if (b === null) st.cmsgClearAll.run(a);
        else st.cmsgClear.run(a, b);
        break;
      case OP_SUB_ADD: {
        const sub = a as SubscriptionRecord;
        st.subAdd.run(sub.clientId, sub.topicFilter, sub.options, sub.identifier | 0);
        break;
      }
      case OP_SUB_DELETE:
        st.subDelete.run(a, b);
        break;
      case OP_RETAIN_SET: {
        const retain = a as RetainRecord;
        st.retainSet.run(stringValue(retain.topic), retain.storeId);
        break;
      }
      case OP_RETAIN_DELETE:
        st.retainDelete.run(stringValue(a as string));
        break;
      case OP_WILL_ADD:
        this.#willAdd(st, a as WillRecord);
        break;
      case OP_WILL_DELETE:
        st.willDelete.run(a);
        break;
      case OP_SAVE:
        this.#replaceAll(st, a as DurableState);
        break;
      default:
        throw new Error(`unknown journal operation ${op}`);
    }
  }

  #baseAdd(st: Statements, m: BaseMessageRecord): void {
    const payload: BindValue = m.payload.length === 0 ? null : m.payload;
    st.baseAdd.run(
      m.storeId,
      m.expiryTime,
      stringValue(m.topic),
      payload,
      stringValue(m.sourceId),
      m.sourceUsername === null ? null : stringValue(m.sourceUsername),
      m.payload.length,
      m.sourceMid,
      m.sourcePort,
      m.qos,
      m.retain ? 1 : 0,
      propertiesToJson(m.properties),
    );
  }

  #clientAdd(st: Statements, c: ClientRecord): void {
    st.clientAdd.run(
      c.clientId,
      c.username,
      Math.floor(Date.now() / 1000),
      c.willDelayTime,
      c.sessionExpiryTime,
      c.listenerPort,
      c.maxPacketSize | 0,
      c.maxQos,
      c.retainAvailable ? 1 : 0,
      c.sessionExpiryInterval | 0,
      c.willDelayInterval | 0,
    );
  }

  #cmsgAdd(st: Statements, m: ClientMessageRecord): void {
    st.cmsgAdd.run(
      m.clientId,
      m.cmsgId,
      m.storeId,
      m.dup ? 1 : 0,
      m.direction,
      m.mid,
      m.qos,
      m.retain ? 1 : 0,
      m.state,
      m.subscriptionId | 0,
    );
  }

  #willAdd(st: Statements, w: WillRecord): void {
    st.willAdd.run(
      w.clientId,
      w.payload.length === 0 ? null : w.payload,
      stringValue(w.topic),
      w.payload.length,
      w.qos,
      w.retain ? 1 : 0,
      propertiesToJson(w.properties),
    );
  }

  #replaceAll(st: Statements, state: DurableState): void {
    const db = this.#db as Db;
    for (const table of [
      'base_msgs',
      'retains',
      'clients',
      'subscriptions',
      'client_msgs',
      'wills',
    ]) {
      db.prepare(`DELETE FROM ${table}`).run();
    }
    for (const message of state.baseMessages) this.#baseAdd(st, message);
    for (const retain of state.retains) st.retainSet.run(stringValue(retain.topic), retain.storeId);
    for (const client of state.clients) this.#clientAdd(st, client);
    for (const sub of state.subscriptions) {
      st.subAdd.run(sub.clientId, sub.topicFilter, sub.options, sub.identifier | 0);
    }
    for (const message of state.clientMessages) this.#cmsgAdd(st, message);
    for (const will of state.wills) this.#willAdd(st, will);
  }

  // ---- Commit --------------------------------------------------------------------------

  commit(sync: boolean): void {
    const st = this.#open();
    if (this.#broken) this.#recover(st);
    if (this.#dirty) {
      this.#commitOpen(st);
      try {
        st.begin.run();
      } catch (error) {
        // Committed, but no transaction for the next events: they wait for a replay.
        this.#broken = true;
        this.#log('error', `Error: Sqlite persistence: BEGIN failed: ${reasonOf(error)}`);
      }
    }
    if (sync && this.#unsynced) this.#syncFiles();
  }

  /** COMMIT of the open transaction; the journal is emptied once it succeeded. */
  #commitOpen(st: Statements): void {
    try {
      st.commit.run();
    } catch (error) {
      this.#broken = true;
      throw new StoreError(
        `Sqlite persistence: Error committing to ${this.location}: ${reasonOf(error)}`,
        { cause: error },
      );
    }
    this.#dirty = false;
    this.#journal.length = 0;
    if (this.synchronous < SYNC_FULL) this.#unsynced = true;
  }

  /** After a failure: a fresh transaction with every journaled event applied again. */
  #recover(st: Statements): void {
    const db = this.#db as Db;
    if (db.inTransaction) {
      try {
        st.rollback.run();
      } catch {
        // The transaction may already be gone; BEGIN below tells.
      }
    }
    try {
      st.begin.run();
    } catch (error) {
      throw new StoreError(
        `Sqlite persistence: Error writing ${this.location}: ${reasonOf(error)}`,
        { cause: error },
      );
    }
    const journal = this.#journal;
    let i = 0;
    while (i < journal.length) {
      const op = journal[i] as number;
      try {
        this.#apply(
          st,
          op,
          journal[i + 1],
          journal[i + 2],
          journal[i + 3],
          journal[i + 4],
          journal[i + 5],
        );
        i += STRIDE;
      } catch (error) {
        if (isStatementError(error) && db.inTransaction) {
          this.#log(
            'error',
            `Error: Sqlite persistence: ${OP_NAMES[op] ?? 'event'} refused by ${this.location}: ${reasonOf(error)}`,
          );
          journal.splice(i, STRIDE);
          continue;
        }
        try {
          if (db.inTransaction) st.rollback.run();
        } catch {
          // Already rolled back by SQLite.
        }
        throw new StoreError(
          `Sqlite persistence: Error writing ${this.location}: ${reasonOf(error)}`,
          { cause: error },
        );
      }
    }
    this.#broken = false;
  }

  /**
   * Puts committed changes on the disk: fdatasync of the WAL, as a FULL commit does (and
   * of the database file with sync=off, whose checkpoints are not synced), plus once the
   * directory, which holds the WAL's name.
   */
  #syncFiles(): void {
    const file = this.location;
    try {
      if (this.#walFd === -1 && existsSync(`${file}-wal`)) {
        this.#walFd = openSync(`${file}-wal`, 'r');
      }
      if (this.#walFd !== -1) fdatasyncSync(this.#walFd);
      if (this.synchronous === 0 || this.#walFd === -1) {
        if (this.#dbFd === -1) this.#dbFd = openSync(file, 'r');
        fdatasyncSync(this.#dbFd);
      }
      if (!this.#dirSynced) {
        const dir = openSync(dirname(file), 'r');
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
        this.#dirSynced = true;
      }
    } catch (error) {
      throw new StoreError(`Sqlite persistence: Error syncing ${file}: ${reasonOf(error)}`, {
        cause: error,
      });
    }
    this.#unsynced = false;
  }

  // ---- Closing and quarantine ------------------------------------------------------------

  #closeFailed(): void {
    const failed = this.#failed;
    this.#failed = null;
    if (failed === null) return;
    try {
      failed.close();
    } catch {
      // A database that never opened properly: nothing more to report.
    }
  }

  #closeFds(): void {
    for (const fd of [this.#walFd, this.#dbFd]) {
      if (fd !== -1) {
        try {
          closeSync(fd);
        } catch {
          // Nothing to do about a descriptor that will not close.
        }
      }
    }
    this.#walFd = -1;
    this.#dbFd = -1;
    this.#dirSynced = false;
  }

  /**
   * Commits what is pending, checkpoints the WAL into the database file (TRUNCATE, as
   * Mosquitto does at shutdown) and closes. A failure is logged: there is no one left to
   * retry.
   */
  close(): void {
    this.#closeFailed();
    const db = this.#db;
    const st = this.#st;
    if (db === null || st === null) return;
    try {
      if (this.#broken) this.#recover(st);
      if (db.inTransaction) this.#commitOpen(st);
    } catch (error) {
      this.#log(
        'error',
        `Error: Sqlite persistence: Closing final transaction: ${reasonOf(error)}`,
      );
    }
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (error) {
      this.#log('warning', `Warning: Sqlite persistence: Final wal_checkpoint: ${reasonOf(error)}`);
    }
    try {
      db.close();
    } catch (error) {
      this.#log(
        'warning',
        `Warning: Sqlite persistence: Error closing database: ${reasonOf(error)}`,
      );
    }
    this.#closeFds();
    this.#db = null;
    this.#st = null;
    this.#journal = [];
    this.#dirty = false;
    this.#broken = false;
    this.#unsynced = false;
  }

  /**
   * Moves the database and its -wal/-shm aside as `<file>.corrupt-<unix time>` (plus
   * `-wal`/`-shm`, so SQLite can still open the copy); the next use starts a new file.
   */
  quarantine(): string | null {
    const file = this.location;
    let target: string | null = null;
    let failure: unknown = null;
    // The files are moved while SQLite still has them open: closing first would fold the
    // WAL into the file or delete it, and the copy would no longer be what was found.
    if (existsSync(file)) {
      const base = `${file}.corrupt-${Math.floor(Date.now() / 1000)}`;
      target = base;
      for (let n = 1; existsSync(target); n++) target = `${base}.${n}`;
      try {
        renameSync(file, target);
        for (const suffix of ['-wal', '-shm']) {
          if (existsSync(file + suffix)) renameSync(file + suffix, target + suffix);
        }
      } catch (error) {
        failure = error;
      }
    }
    this.#closeFailed();
    const db = this.#db;
    if (db !== null) {
      try {
        db.close();
      } catch {
        // Corrupt files may not close cleanly; they have been moved regardless.
      }
    }
    this.#closeFds();
    this.#db = null;
    this.#st = null;
    this.#journal = [];
    this.#dirty = false;
    this.#broken = false;
    this.#unsynced = false;
    if (failure !== null) {
      throw new StoreError(
        `Sqlite persistence: Unable to move ${file} aside: ${reasonOf(failure)}`,
        { cause: failure },
      );
    }
    return target;
  }
}
